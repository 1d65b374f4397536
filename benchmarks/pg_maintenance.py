"""Planned maintenance (runbook.ops.pg_maintenance) against a blanket VACUUM ANALYZE plus
REINDEX DATABASE CONCURRENTLY, on ten tables of which two are bloated, with pgbench running
against another database of the same server during each, and pgbench alone as baseline.

    .venv/bin/python benchmarks/pg_maintenance.py [--rows 200000]

The last line printed is the wall-time ratio blanket / planned.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT / "collection", ROOT / "tests"):
    sys.path.insert(0, str(entry))

from sandbox.services import Postgres  # noqa: E402
from utils.run import run_module  # noqa: E402

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
TABLES = ["t%02d" % i for i in range(10)]
BLOATED = ["t03", "t07"]


def build(pg, db, rows):
    pg.psql('CREATE DATABASE "%s"' % db)
    for name in TABLES:
        pg.psql("CREATE TABLE %s (id int PRIMARY KEY, payload text, n int) WITH (autovacuum_enabled = false); "
                "INSERT INTO %s SELECT g, md5(g::text), g %% 100 FROM generate_series(1, %d) g; "
                "CREATE INDEX %s_payload ON %s (payload)" % (name, name, rows, name, name), database=db)
        pg.psql("VACUUM ANALYZE %s" % name, database=db)
    for name in BLOATED:
        for _i in range(3):
            pg.psql("UPDATE %s SET payload = md5(payload), n = n + 1" % name, database=db)
        pg.psql("DELETE FROM %s WHERE id %% 3 = 0" % name, database=db)
    time.sleep(1)


def sizes(pg, db):
    out = {}
    for name in BLOATED:
        out[name] = int(pg.psql("SELECT pg_total_relation_size('%s')" % name, database=db).strip())
    return out


def dead(pg, db, name):
    return pg.psql("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = '%s'" % name, database=db).strip()


def pgbench(pg, seconds, logdir):
    dsn = pg.dsn()
    env = dict(os.environ, PGPASSWORD=dsn["login_password"])
    args = [PGBENCH, "-h", dsn["login_host"], "-p", str(dsn["port"]), "-U", dsn["login_user"], "-n", "-c", "4",
            "-j", "2", "-T", str(seconds), "-l", "--log-prefix", str(logdir / "pgbench"), "-R", "200", "pgb"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def p99(logdir):
    latencies = []
    for path in glob.glob(str(logdir / "pgbench*")):
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 3:
                    latencies.append(int(parts[2]) / 1000.0)
    latencies.sort()
    return latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"), len(latencies)


def measured(pg, work, label, base):
    logdir = base / label
    logdir.mkdir()
    bench = pgbench(pg, 12, logdir)
    time.sleep(2)
    start = time.monotonic()
    work()
    elapsed = time.monotonic() - start
    out, err = bench.communicate(timeout=120)
    failed = [line for line in out.splitlines() if "failed" in line]
    latency, count = p99(logdir)
    note = failed[0].strip() if failed else err.strip()
    print("%-9s wall %.2fs  pgbench p99 %.1f ms over %d tx  %s" % (label, elapsed, latency, count, note))
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200000)
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-pg-bench-"))
    os.chmod(base, 0o755)
    pg = Postgres(base / "pg").start()
    try:
        pg.psql("CREATE DATABASE pgb")
        dsn = pg.dsn()
        subprocess.run([PGBENCH, "-i", "-s", "5", "-q", "-h", dsn["login_host"], "-p", str(dsn["port"]), "-U",
                        dsn["login_user"], "pgb"], env=dict(os.environ, PGPASSWORD=dsn["login_password"]),
                       check=True, capture_output=True)
        build(pg, "planned", opts.rows)
        build(pg, "blanket", opts.rows)
        before = sizes(pg, "planned"), sizes(pg, "blanket")
        measured(pg, lambda: time.sleep(0), "alone", base)
        runs = []

        def planned_run():
            runs.append(run_module("pg_maintenance", dict(
                pg.dsn(database="planned"), operations=["vacuum", "analyze", "reindex", "drop_invalid_indexes"])))

        planned = measured(pg, planned_run, "planned", base)

        def blanket():
            pg.psql("VACUUM ANALYZE", database="blanket")
            pg.psql("REINDEX DATABASE CONCURRENTLY blanket", database="blanket")

        whole = measured(pg, blanket, "blanket", base)
        after = sizes(pg, "planned"), sizes(pg, "blanket")
        # Where the planned run spent its time: each statement, and the rest (module start-up,
        # connection, catalog reads and planning, size probes).
        statements = 0.0
        for item in runs[0]["actions"]:
            statements += item["duration_seconds"]
            print("  planned %-48s %.2fs" % (item["sql"], item["duration_seconds"]))
        print("  planned overhead (start-up, connect, catalog, plan, sizes) %.2fs" % (planned - statements))
        for name in BLOATED:
            print("%s: planned %d -> %d bytes, %s dead tuples; blanket %d -> %d bytes, %s dead tuples" % (
                name, before[0][name], after[0][name], dead(pg, "planned", name), before[1][name], after[1][name],
                dead(pg, "blanket", name)))
        print("ratio: %.1fx" % (whole / planned))
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
