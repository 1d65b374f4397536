"""Backup and restore of a ~1 GB filings database: runbook.ops against the raw pipelines,
community.postgresql's postgresql_db and boto3, in one run.

    .venv/bin/python benchmarks/backup.py [--filings 660000] [--keep]

The dataset looks like SEC filings data (sentences from a finance vocabulary with Zipf-like
word frequencies, company names, CIKs, amounts, dates; numeric facts per filing), so it
compresses like real text rather than like pgbench's blank filler. It is built once into
the database ``filings_<N>`` of a cluster kept under /var/tmp/rbbak-bench (the template of
later runs, which start in seconds); --rebuild drops it.

Comparisons (each prints its ratio; the last line is our backup against the raw pipeline):

- backup: ``runbook.ops.pg_backup`` (zstd, SHA-256 while streaming, exact row counts, manifest)
  against ``pg_dump -Fc -Z0 | zstd -T2 > file`` and against community.postgresql's
  ``postgresql_db state=dump`` (target ``.pgc``: custom format, pg_dump's own compression);
- restore: ``runbook.ops.pg_restore`` (checksum verified first, decompressed, ``pg_restore -j 2``,
  row counts compared) against ``zstd -d > file; pg_restore -j 2`` of the same archive and against
  ``postgresql_db state=restore`` of its own dump; our restore of a ``format: directory`` backup
  (pg_dump -Fd -j 2, each data file compressed with zstd) against the same;
- S3: ``runbook.ops.s3_backup`` upload against boto3's ``upload_file`` to the same moto server;
- peak RSS of the module processes (polled VmHWM of the module itself, and ru_maxrss including
  pg_dump and zstd).

Against the raw pipelines our modules run as Ansible runs them on the host (a child python with
an args file). Against postgresql_db both run as tasks of ansible-playbook (our restore once more,
the same way) and only each task's duration (json callback) is counted: both pay Ansible's
start-up of the module. postgresql_db runs from an environment of its own, made once under
/var/tmp/rbbak-bench/peer-venv: the ``ansible`` package from PyPI (its bundle holds
community.postgresql) and psycopg2.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT / "collection", ROOT / "tests"):
    sys.path.insert(0, str(entry))

from sandbox.services import Moto, Postgres  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PYTHON = Path(sys.executable)
ANSIBLE_PLAYBOOK = PYTHON.parent / "ansible-playbook"
BASE = Path(os.environ.get("RBBAK_BENCH_DIR", "/var/tmp/rbbak-bench"))
MODULES = ROOT / "plugins" / "modules"
PEER_VENV = BASE / "peer-venv"

WORDS = """the of and to in a is that for on with as by be this are from or at which an its not
have has were been our we may will any such other these under if more than all into their
company revenue income net operating results fiscal year quarter period ended compared increase
decrease primarily due million billion percent share shares stock common preferred dividend
cash flow flows investing financing activities capital expenditures debt credit facility notes
senior interest rate expense expenses cost costs sales gross margin segment segments customers
products services market markets risk risks factors uncertainties forward looking statements
management discussion analysis financial condition liquidity resources accounting policies
estimates goodwill intangible assets impairment tax taxes deferred effective litigation legal
proceedings regulatory compliance securities exchange commission filing annual report quarterly
form pursuant section act amended registrant subsidiaries consolidated balance sheet statements
equity stockholders board directors officers executive compensation plan plans agreement
agreements acquisition acquisitions merger divestiture restructuring charges inventory
receivable payable lease leases pension obligations contingencies commitments fair value
derivative instruments hedging foreign currency exchange exposure inflation supply chain
demand pricing competition competitive technology research development employees operations
international domestic economic conditions pandemic growth outlook guidance adjusted ebitda
reconciliation non-gaap measures repurchase program authorized outstanding weighted average
diluted basic earnings per""".split()
FORMS = ["10-K", "10-Q", "8-K", "S-1", "DEF 14A", "20-F", "6-K", "10-K/A"]
CONCEPTS = ["Revenues", "NetIncomeLoss", "Assets", "Liabilities", "StockholdersEquity", "EarningsPerShareDiluted",
            "CashAndCashEquivalents", "OperatingIncomeLoss", "LongTermDebt", "ResearchAndDevelopmentExpense"]
SYLLABLES = ["ap", "ex", "lo", "mar", "tech", "gen", "sys", "vi", "cor", "tra", "nex", "bio", "fin", "pro",
             "am", "del", "ta", "qu", "an", "tum", "ra", "zen", "or", "ion"]
SUFFIXES = ["Inc.", "Corp.", "Holdings, Inc.", "Group plc", "Technologies Inc.", "Bancorp", "Therapeutics, Inc.",
            "Energy Partners LP", "Capital Corp.", "Industries Ltd."]


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------

class LineReader(io.RawIOBase):
    """A file-like object over a generator of text lines, for COPY ... FROM STDIN."""

    def __init__(self, lines):
        self.lines = lines
        self.buf = b""

    def readable(self):
        return True

    def read(self, size=-1):
        while size < 0 or len(self.buf) < size:
            chunk = "".join(line for _i, line in zip(range(2000), self.lines))
            if not chunk:
                break
            self.buf += chunk.encode()
        if size < 0:
            size = len(self.buf)
        out, self.buf = self.buf[:size], self.buf[size:]
        return out


def companies(count: int, rng: random.Random) -> List[Tuple[int, str]]:
    out = []
    for index in range(count):
        name = "".join(rng.choice(SYLLABLES) for _syl in range(rng.randint(2, 3))).capitalize()
        out.append((1000000 + index * 37, "%s %s" % (name, rng.choice(SUFFIXES))))
    return out


def filing_lines(count: int, firms, rng: random.Random):
    weights = [1.0 / (rank + 1) for rank in range(len(WORDS))]
    cum = []
    total = 0.0
    for weight in weights:
        total += weight
        cum.append(total)
    start = datetime.date(2005, 1, 1)
    for fid in range(1, count + 1):
        cik, name = firms[rng.randrange(len(firms))]
        filed = start + datetime.timedelta(days=rng.randrange(7000))
        period = filed - datetime.timedelta(days=rng.choice((30, 45, 60, 90)))
        sentences = []
        for _s in range(rng.randint(5, 9)):
            if rng.random() < 0.4:
                sentences.append("%s reported %s of $%s million for the %s ended %s, compared with $%s million "
                                 "in the prior year." % (
                                     name, rng.choice(("revenue", "net income", "operating income", "free cash flow")),
                                     "{:,.1f}".format(rng.uniform(1, 90000)), rng.choice(("quarter", "fiscal year")),
                                     period.strftime("%B %d, %Y"), "{:,.1f}".format(rng.uniform(1, 90000))))
            else:
                words = rng.choices(WORDS, cum_weights=cum, k=rng.randint(12, 28))
                sentences.append(" ".join(words).capitalize() + ".")
        body = " ".join(sentences)
        yield "%d\t%d\t%s\t%s\t%s\t%010d-%02d-%06d\t%s annual report\t%s\n" % (
            fid, cik, rng.choice(FORMS), filed.isoformat(), period.isoformat(), cik, filed.year % 100, fid,
            name, body)


def fact_lines(count: int, rng: random.Random):
    start = datetime.date(2005, 1, 1)
    for fid in range(1, count + 1):
        period = start + datetime.timedelta(days=rng.randrange(7000))
        for concept in rng.sample(CONCEPTS, 5):
            yield "%d\t%s\t%.2f\t%s\t%s\n" % (fid, concept, rng.uniform(-5e9, 5e10),
                                              "USD/shares" if concept.startswith("Earnings") else "USD",
                                              period.isoformat())


def build_dataset(pg: Postgres, name: str, filings: int) -> None:
    import psycopg2

    print("building %s (%d filings), once; later runs reuse it" % (name, filings), flush=True)
    started = time.monotonic()
    pg.psql('DROP DATABASE IF EXISTS "%s"' % name)
    pg.psql('CREATE DATABASE "%s"' % name)
    rng = random.Random(20261122)
    firms = companies(20000, rng)
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.superuser, password=pg.password, dbname=name)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE companies (cik bigint PRIMARY KEY, name text NOT NULL)")
        cur.copy_expert("COPY companies FROM STDIN", LineReader("%d\t%s\n" % f for f in firms))
        cur.execute("CREATE TABLE filings (id bigint PRIMARY KEY, cik bigint NOT NULL, form text, filed date, "
                    "period date, accession text, title text, body text)")
        cur.copy_expert("COPY filings FROM STDIN", LineReader(filing_lines(filings, firms, rng)))
        cur.execute("CREATE TABLE facts (filing_id bigint NOT NULL, concept text, value numeric(20, 2), unit text, "
                    "period_end date)")
        cur.copy_expert("COPY facts FROM STDIN", LineReader(fact_lines(filings, rng)))
        cur.execute("CREATE INDEX filings_cik_filed ON filings (cik, filed)")
        cur.execute("CREATE INDEX facts_filing ON facts (filing_id)")
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT pg_database_size(current_database())")
        size = cur.fetchone()[0]
    conn.close()
    print("built in %.0fs: %.0f MB" % (time.monotonic() - started, size / 1e6), flush=True)


# --------------------------------------------------------------------------------------------
# Running things
# --------------------------------------------------------------------------------------------

def _vmhwm(pid: int) -> int:
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_module(name: str, args: Dict, workdir: Path) -> Tuple[Dict, float, int, int]:
    """Run a module as Ansible does (child python, args file); result, seconds, own peak RSS, tree peak RSS."""
    argfile = workdir / ("%s-args.json" % name)
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH="%s:%s" % (ROOT / "collection", os.environ.get("PYTHONPATH", "")))
    started = time.monotonic()
    proc = subprocess.Popen([str(PYTHON), str(MODULES / ("%s.py" % name)), str(argfile)],  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = [0]

    def poll():
        while proc.poll() is None:
            peak[0] = max(peak[0], _vmhwm(proc.pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    seconds = time.monotonic() - started
    watcher.join()
    try:
        result = json.loads(out)
    except ValueError:
        raise SystemExit("%s printed no JSON: %s %s" % (name, out[-2000:], err[-2000:]))
    if result.get("failed"):
        raise SystemExit("%s failed: %s" % (name, result.get("msg")))
    return result, seconds, peak[0], usage.ru_maxrss * 1024


def timed(argv_list: List[List[str]], env: Dict[str, str], out_path: Optional[Path] = None) -> float:
    """Run a pipeline of argv lists (stdout of each into the next, the last into out_path)."""
    started = time.monotonic()
    procs = []
    sink = open(out_path, "wb") if out_path else subprocess.DEVNULL
    try:
        prev = None
        for index, argv in enumerate(argv_list):
            last = index == len(argv_list) - 1
            proc = subprocess.Popen(argv, stdin=prev.stdout if prev else subprocess.DEVNULL,  # noqa: S603
                                    stdout=sink if last else subprocess.PIPE, env=env)
            if prev:
                prev.stdout.close()
            procs.append(proc)
            prev = proc
        codes = [p.wait() for p in procs]
    finally:
        if out_path:
            sink.close()
    if any(codes):
        raise SystemExit("%s failed: %s" % (" | ".join(a[0] for a in argv_list), codes))
    return time.monotonic() - started


def _stamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.rstrip("Z"))


def peer_environment() -> Path:
    """A virtualenv of its own for the peer: the ``ansible`` package (community.postgresql comes in
    its bundle, at the version the project's environment has) and psycopg2. Made once, then reused."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("ansible")
    except importlib.metadata.PackageNotFoundError:
        version = "12.3.0"
    wanted = ["ansible==%s" % version, "psycopg2-binary>=2.9"]
    python = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / "requirements.txt"
    if not (python.exists() and marker.exists() and marker.read_text().split() == wanted):
        print("making the peer's environment %s (%s), once" % (PEER_VENV, " ".join(wanted)), flush=True)
        shutil.rmtree(PEER_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)  # noqa: S603
        subprocess.run([str(python), "-m", "pip", "install", "-q"] + wanted, check=True)  # noqa: S603
        marker.write_text("\n".join(wanted) + "\n")
    return PEER_VENV


def playbook_tasks(tasks: List[Dict], workdir: Path, venv: Optional[Path] = None) -> Dict[str, float]:
    """Run tasks through ansible-playbook, of the project's environment (ours) or of ``venv`` (the
    peer's); seconds per task name."""
    python = venv / "bin" / "python" if venv else PYTHON
    ansible_playbook = venv / "bin" / "ansible-playbook" if venv else ANSIBLE_PLAYBOOK
    playbook = workdir / "tasks.yml"
    playbook.write_text(json.dumps([{"name": "benchmark", "hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               RUNBOOK_OPS_REPORT_DIR=str(workdir / "reports"),
               ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"))
    proc = subprocess.run([str(ansible_playbook), "-i", "localhost,", "-c", "local",  # noqa: S603
                           "-e", "ansible_python_interpreter=%s" % python, str(playbook)],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit("ansible-playbook failed with exit code %d" % proc.returncode)
    out = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    return {t["task"]["name"]: (_stamp(t["task"]["duration"]["end"]) - _stamp(t["task"]["duration"]["start"]))
            .total_seconds() for t in out["plays"][0]["tasks"]}


def remove_backup(done: Dict) -> None:
    for path in (done["manifest_path"], done["path"]):
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)


def mb(size: int) -> str:
    return "%.0f MB" % (size / 1e6)


def report(best: Dict[str, float], rounds: int, archive_size: Optional[int]) -> None:
    """The summary lines of what ran (archive_size is None when the S3 comparison did not run)."""
    print("best of %d round(s):" % rounds)
    if "rss_backup" in best:
        print("peak RSS: pg_backup %s, pg_restore %s (target < 256 MB)" % (
            mb(best["rss_backup"]), mb(best["rss_restore"])))
    if archive_size is not None:
        boto_s, up_s = best["boto_upload"], best["ours_upload"]
        print("peak RSS: s3_backup %s (target < 256 MB)" % mb(best["rss_upload"]))
        print("upload ours %.1f MB/s / boto3 upload_file %.1f MB/s: %.2fx (target >= 0.8x)" % (
            archive_size / 1e6 / up_s, archive_size / 1e6 / boto_s, boto_s / up_s))
    if "raw_dump" not in best:
        return
    raw, ours_s, comm_dump = best["raw_dump"], best["ours_dump"], best["peer_dump"]
    raw_restore, ours_restore, comm_restore = best["raw_restore"], best["ours_restore"], best["peer_restore"]
    print("restore ours %.1fs / raw pg_restore -j 2 %.1fs: %.2fx (target <= 1.15x)" % (
        ours_restore, raw_restore, ours_restore / raw_restore))
    ours_restore_play = best["ours_restore_play"]
    print("restore postgresql_db %.1fs / ours %.1fs, both tasks of ansible-playbook: %.2fx (target >= 1x)" % (
        comm_restore, ours_restore_play, comm_restore / ours_restore_play))
    ours_dir_play = best["ours_dir_restore_play"]
    print("restore postgresql_db %.1fs / ours from a format=directory backup %.1fs, both tasks of "
          "ansible-playbook: %.2fx (target >= 1x)" % (comm_restore, ours_dir_play, comm_restore / ours_dir_play))
    print("backup format=directory ours %.1fs / raw pg_dump | zstd %.1fs: %.2fx" % (
        best["ours_dir_dump"], raw, best["ours_dir_dump"] / raw))
    print("backup postgresql_db %.1fs / ours %.1fs: %.2fx faster (target >= 1.5x)" % (
        comm_dump, ours_s, comm_dump / ours_s))
    print("backup ours %.1fs / raw pg_dump | zstd %.1fs: %.2fx (target <= 1.15x)" % (ours_s, raw, ours_s / raw))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--filings", type=int, default=660000, help="rows of the filings table (~1 GB at 660000)")
    parser.add_argument("--rebuild", action="store_true", help="drop and build the dataset again")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the best time of each is compared")
    parser.add_argument("--keep", action="store_true", help="keep the dumps under %s/work" % BASE)
    parser.add_argument("--only", choices=("all", "database", "s3"), default="all",
                        help="run only the backup and restore comparisons (database) or only the S3 upload one "
                             "(s3: one pg_backup makes the archive it uploads)")
    opts = parser.parse_args()
    BASE.mkdir(parents=True, exist_ok=True)
    os.chmod(BASE, 0o755)
    peer = peer_environment() if opts.only != "s3" else None
    pg = Postgres(BASE / "pg", database="postgres").start()
    work = BASE / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    os.chmod(work, 0o777)
    moto = None
    dsn = {k: v for k, v in pg.dsn().items() if k != "database"}
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(pg.port), PGUSER=pg.superuser, PGPASSWORD=pg.password)
    name = "filings_%d" % opts.filings
    try:
        exists = pg.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % name).strip()
        if opts.rebuild or not exists:
            build_dataset(pg, name, opts.filings)
        for stale in pg.psql("SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'").split():
            pg.psql('DROP DATABASE "%s"' % stale)
        size = int(pg.psql("SELECT pg_database_size('%s')" % name))
        pg.psql("SELECT count(*) FROM filings; SELECT count(*) FROM facts", database=name)  # warm the cache
        print("dataset %s: %s on disk" % (name, mb(size)), flush=True)

        login = {"login_host": "127.0.0.1", "port": pg.port, "login_user": pg.superuser,
                 "login_password": pg.password}
        raw_file = work / "raw.dump.zst"
        comm_file = work / "community.pgc"
        best: Dict[str, float] = {}

        def keep(label: str, seconds: float) -> float:
            best[label] = min(best.get(label, seconds), seconds)
            return seconds

        def settle() -> None:
            """Flush what the previous step left dirty, so each step starts from the same state."""
            pg.psql("CHECKPOINT")
            os.sync()
            time.sleep(1)

        ours = ours_dir = None
        for round_no in range(1, opts.rounds + 1 if opts.only != "s3" else 1):
            # ---- backup ---------------------------------------------------------------------
            settle()
            raw = keep("raw_dump", timed([[str(PG_BIN / "pg_dump"), "-Fc", "-Z0", "-d", name],
                                          ["zstd", "-T2", "-q", "-c"]], env, raw_file))
            print("[%d] raw   pg_dump -Fc -Z0 | zstd -T2:        %6.1fs  %s" % (
                round_no, raw, mb(raw_file.stat().st_size)), flush=True)
            settle()
            if ours is not None:
                remove_backup(ours)
            backup_args = dict(dsn, database=name, backup_dir=str(work / "ours"), kind="manual")
            ours, seconds, rss, tree = run_module("pg_backup", backup_args, work)
            keep("ours_dump", seconds)
            best["rss_backup"] = max(best.get("rss_backup", 0), rss)
            print("[%d] ours  pg_backup (zstd, sha256, counts):  %6.1fs  %s  peak RSS %s (with pg_dump and zstd %s)"
                  % (round_no, seconds, mb(ours["manifest"]["size"]), mb(rss), mb(tree)), flush=True)
            settle()
            if ours_dir is not None:
                remove_backup(ours_dir)
            ours_dir, seconds, rss, tree = run_module("pg_backup", dict(backup_args, format="directory"), work)
            keep("ours_dir_dump", seconds)
            best["rss_backup"] = max(best.get("rss_backup", 0), rss)
            print("[%d] ours  pg_backup format=directory (zstd):  %6.1fs  %s  peak RSS %s" % (
                round_no, seconds, mb(ours_dir["manifest"]["size"]), mb(rss)), flush=True)
            settle()
            durations = playbook_tasks([{"name": "dump", "community.postgresql.postgresql_db": dict(
                login, name=name, state="dump", target=str(comm_file))}], work, peer)
            keep("peer_dump", durations["dump"])
            print("[%d] peer  postgresql_db state=dump (.pgc):   %6.1fs  %s" % (
                round_no, durations["dump"], mb(comm_file.stat().st_size)), flush=True)

            # ---- restore --------------------------------------------------------------------
            settle()
            raw_tmp = work / "raw-restore.dump"
            started = time.monotonic()
            timed([["zstd", "-d", "-q", "-c", str(raw_file)]], env, raw_tmp)
            pg.psql("CREATE DATABASE bench_raw TEMPLATE template0")
            timed([[str(PG_BIN / "pg_restore"), "-j", "2", "-d", "bench_raw", str(raw_tmp)]], env)
            raw_tmp.unlink()  # the raw pipeline cleans up its temp file too, as ours does
            seconds = keep("raw_restore", time.monotonic() - started)
            pg.psql("DROP DATABASE bench_raw")
            print("[%d] raw   zstd -d; pg_restore -j 2:          %6.1fs" % (round_no, seconds), flush=True)
            settle()
            restored, seconds, rss, _tree = run_module("pg_restore", dict(
                dsn, database="postgres", backup=ours["path"], target="bench_ours", swap=False, jobs=2), work)
            if restored["status"] != "ok":
                raise SystemExit("our restore is not ok: %s" % restored["summary"])
            keep("ours_restore", seconds)
            best["rss_restore"] = max(best.get("rss_restore", 0), rss)
            pg.psql("DROP DATABASE bench_ours")
            print("[%d] ours  pg_restore (sha256, -j 2, counts): %6.1fs  peak RSS %s" % (round_no, seconds, mb(rss)),
                  flush=True)
            settle()
            durations = playbook_tasks([{"name": "restore", "runbook.ops.pg_restore": dict(
                dsn, database="postgres", backup=ours["path"], target="bench_ours", swap=False, jobs=2)}], work)
            keep("ours_restore_play", durations["restore"])
            pg.psql("DROP DATABASE bench_ours")
            print("[%d] ours  the same through ansible-playbook:  %6.1fs" % (round_no, durations["restore"]), flush=True)
            settle()
            durations = playbook_tasks([{"name": "restore", "runbook.ops.pg_restore": dict(
                dsn, database="postgres", backup=ours_dir["path"], target="bench_ours", swap=False, jobs=2)}], work)
            keep("ours_dir_restore_play", durations["restore"])
            pg.psql("DROP DATABASE bench_ours")
            print("[%d] ours  directory backup, ansible-playbook: %6.1fs" % (round_no, durations["restore"]),
                  flush=True)
            settle()
            durations = playbook_tasks([
                {"name": "create", "community.postgresql.postgresql_db": dict(login, name="bench_peer", state="present")},
                {"name": "restore", "community.postgresql.postgresql_db": dict(
                    login, name="bench_peer", state="restore", target=str(comm_file))}], work, peer)
            keep("peer_restore", durations["restore"])
            pg.psql("DROP DATABASE bench_peer")
            print("[%d] peer  postgresql_db state=restore:       %6.1fs" % (round_no, durations["restore"]),
                  flush=True)

        if opts.only == "database":
            report(best, opts.rounds, None)
            return 0
        if ours is None:
            ours, seconds, rss, _tree = run_module("pg_backup", dict(
                dsn, database=name, backup_dir=str(work / "ours"), kind="manual"), work)
            print("ours  pg_backup to upload: %.1fs  %s" % (seconds, mb(ours["manifest"]["size"])), flush=True)

        # ---- S3 -------------------------------------------------------------------------------
        import boto3

        moto = Moto(BASE / "moto").start()
        s3args = dict(endpoint_url=moto.endpoint_url, access_key=moto.access_key, secret_key=moto.secret_key,
                      bucket="rbbak-bench")
        client = boto3.client("s3", endpoint_url=moto.endpoint_url, aws_access_key_id=moto.access_key,
                              aws_secret_access_key=moto.secret_key, region_name="us-east-1")
        client.create_bucket(Bucket="rbbak-bench")
        archive_size = ours["manifest"]["size"]

        def peer_upload(round_no: int) -> None:
            started = time.monotonic()
            client.upload_file(ours["path"], "rbbak-bench", "boto3/%d" % round_no)
            seconds = keep("boto_upload", time.monotonic() - started)
            print("[%d] peer  boto3 upload_file:                 %6.1fs  %.1f MB/s" % (
                round_no, seconds, archive_size / 1e6 / seconds), flush=True)

        def our_upload(round_no: int) -> None:
            upload, seconds, rss, _tree = run_module("s3_backup", dict(
                s3args, mode="upload", backup=ours["path"], prefix="ours%d" % round_no), work)
            transfer = upload["metrics"]['s3_transfer_seconds{mode="upload"}']
            keep("ours_upload", transfer)
            best["rss_upload"] = max(best.get("rss_upload", 0), rss)
            print("[%d] ours  s3_backup upload (sha256 parts):   %6.1fs  %.1f MB/s (whole task %.1fs, with the "
                  "checksum verification before it)  peak RSS %s" % (
                      round_no, transfer, archive_size / 1e6 / transfer, seconds, mb(rss)), flush=True)

        def empty_bucket() -> None:
            """moto keeps every object in memory: each upload starts from the same, empty bucket."""
            for page in client.get_paginator("list_objects_v2").paginate(Bucket="rbbak-bench"):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket="rbbak-bench", Delete={"Objects": keys})

        for round_no in range(1, opts.rounds + 1):
            # Each side goes first in every other round: neither always meets the other's leftovers.
            for upload in ((peer_upload, our_upload) if round_no % 2 else (our_upload, peer_upload)):
                upload(round_no)
                empty_bucket()
                settle()

        report(best, opts.rounds, archive_size)
    finally:
        if moto is not None:
            moto.stop()
        for stale in pg.psql("SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'").split():
            pg.psql('DROP DATABASE "%s" WITH (FORCE)' % stale)
        pg.stop()
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
