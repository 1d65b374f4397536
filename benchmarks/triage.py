"""Incident triage (playbooks/triage.yml: the health check afresh, then runbook.ops.incident_triage)
against the seeds' manual collection commands run one after another as a shell script, on the
sandbox's services with a crash-looping container whose logs hold about 1 GB.

    .venv/bin/python benchmarks/triage.py [--logs-mb 1024] [--keep]

Set-up (not timed): PostgreSQL and Redis (sandbox.services, free ports, a temporary directory),
a Celery queue of 1500 tasks, a session holding a lock that two others wait for, and a container
on the real Docker engine (runbook-ops/debian12-python:1) whose first instance writes --logs-mb
of log lines (json-file driver) and exits 3, and whose later instances log an ERROR with a
seeded secret and exit 3 again (restart policy always: a crash loop).

Timed, one after the other on a quiet engine:

- ours: ``ansible-playbook -i inventories/local playbooks/triage.yml`` pointed at these services,
  the container selected by its label; redaction, the SHA-256 manifest, the zstd bundle and its
  verification included.
- the shell: seed 002's commands (Initial triage, Investigation & Diagnosis, Quick Diagnostics):
  ``docker ps -a``, ``docker logs <c> --tail 100``, ``docker logs <c> --since 1h | grep -ci error``
  (the seed's error count of the last hour), ``docker inspect``, ``docker stats --no-stream``,
  ``psql`` (pg_stat_activity, counts by state, blocked sessions), ``redis-cli INFO`` and ``LLEN
  celery``, ``top -b -n1``, ``df -h``, ``free -h``, ``ps aux --sort=-%mem``; their output into one
  file, nothing redacted.

Printed: each wall time, the bundle's size, the proposed severity, whether the seeded secret is in
the bundle (ours) and in the shell's output, and last the ratio shell / ours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT / "collection", ROOT / "tests"):
    sys.path.insert(0, str(entry))

IMAGE = "runbook-ops/debian12-python:1"
REDIS_PASSWORD = "bench-redis-secret"
SECRET = "benchsecret%s" % uuid.uuid4().hex[:8]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs-mb", type=int, default=1024, help="megabytes of container logs (default 1024)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (bundle, shell output)")
    return parser.parse_args()


def crash_loop(client, name, label, marker_dir, megabytes):
    """The container: a first instance that writes the logs, then a crash loop."""
    line = ("2026-12-02T07:00:00Z INFO request path=/api/v1/query status=200 took=12ms user=alice " + "x" * 400)[:480]
    script = (
        "if [ ! -e /m/done ]; then yes '%s' | head -c %d; touch /m/done; fi; "
        "echo \"$(date -u +%%FT%%TZ) INFO worker starting\"; "
        "echo \"$(date -u +%%FT%%TZ) ERROR cannot reach the broker: password=%s\" >&2; exit 3"
        % (line, megabytes * 1024 * 1024, SECRET))
    return client.containers.run(IMAGE, ["sh", "-c", script], name=name, detach=True, labels={label: "1", "runbook.ops.test": "1"},
                                 restart_policy={"Name": "always"}, volumes={str(marker_dir): {"bind": "/m", "mode": "rw"}},
                                 environment={"API_TOKEN": SECRET, "LOG_LEVEL": "info"},
                                 # The engine's default here rotates at 10 MB x 3 files: keep the whole GB.
                                 log_config={"Type": "json-file", "Config": {"max-size": "4g", "max-file": "1"}})


def wait(predicate, what, timeout=900.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise SystemExit("timed out waiting for %s" % what)


SHELL = r"""#!/bin/bash
# Seed 002's manual collection, one command after another.
C="$1"; PGPORT="$2"; RPORT="$3"
export PGPASSWORD=monitor-secret
echo "=== docker ps"; docker ps -a --filter "name=$C"
echo "=== docker logs --tail 100"; docker logs "$C" --tail 100 2>&1
echo "=== errors in the last hour"; docker logs "$C" --since 1h 2>&1 | grep -ci error
echo "=== docker inspect"; docker inspect "$C"
echo "=== docker stats"; docker stats --no-stream "$C"
echo "=== pg_stat_activity"; psql -h 127.0.0.1 -p "$PGPORT" -U monitor -d app -c "SELECT * FROM pg_stat_activity"
psql -h 127.0.0.1 -p "$PGPORT" -U monitor -d app -c "SELECT state, count(*) FROM pg_stat_activity GROUP BY 1"
psql -h 127.0.0.1 -p "$PGPORT" -U monitor -d app \
  -c "SELECT pid, pg_blocking_pids(pid), query FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0"
echo "=== redis"; redis-cli -p "$RPORT" -a "$REDIS_PASSWORD" --no-auth-warning INFO
redis-cli -p "$RPORT" -a "$REDIS_PASSWORD" --no-auth-warning LLEN celery
echo "=== host"; top -b -n1 | head -20; df -h; free -h; ps aux --sort=-%mem | head -10
"""


def main():
    args = parse_args()
    import docker  # noqa: E402
    import psycopg2  # noqa: E402

    from ansible_collections.runbook.ops.plugins.module_utils.redis.client import RespClient  # noqa: E402
    from ansible_collections.runbook.ops.plugins.module_utils.triage import bundle_runner  # noqa: E402
    from sandbox.services import Postgres, Redis  # noqa: E402

    base = Path(tempfile.mkdtemp(prefix="runbook-ops-bench-triage-"))
    os.chmod(base, 0o755)
    client = docker.from_env(timeout=300)
    run = uuid.uuid4().hex[:8]
    name, label = "bench-triage-%s" % run, "runbook.ops.bench-triage-%s" % run
    pg = redis = None
    holders = []
    try:
        pg = Postgres(base / "postgres").start()
        redis = Redis(base / "redis", password=REDIS_PASSWORD).start()
        with RespClient("127.0.0.1", redis.port, password=REDIS_PASSWORD) as rc:
            for start in range(0, 1500, 500):
                rc.execute("RPUSH", "celery", *["task-%d" % i for i in range(start, start + 500)])
        dsn = dict(host="127.0.0.1", port=pg.port, user=pg.superuser, password=pg.password, dbname="app")
        setup = psycopg2.connect(**dsn)
        setup.autocommit = True
        setup.cursor().execute("CREATE TABLE orders (id int PRIMARY KEY, v text); INSERT INTO orders VALUES (1, 'a')")
        holder = psycopg2.connect(**dsn)
        holder.cursor().execute("UPDATE orders SET v = 'held' WHERE id = 1")
        holders.append(holder)

        def blocked():
            conn = psycopg2.connect(**dsn)
            holders.append(conn)
            try:
                conn.cursor().execute("UPDATE orders SET v = 'waiting' WHERE id = 1")
            except psycopg2.Error:
                pass

        for _waiter in range(2):
            threading.Thread(target=blocked, daemon=True).start()
        marker = base / "marker"
        marker.mkdir()
        print("set-up: writing %d MB of container logs ..." % args.logs_mb, flush=True)
        started = time.monotonic()
        crash_loop(client, name, label, marker, args.logs_mb)
        wait(lambda: client.containers.get(name).attrs["RestartCount"] >= 3, "3 restarts")
        log_path = client.containers.get(name).attrs["LogPath"]
        size = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        print("set-up: %.0f MB of json logs in %.1f s, %d restarts" % (
            size / 1e6, time.monotonic() - started, client.containers.get(name).attrs["RestartCount"]), flush=True)

        extra = {"sandbox_postgres_port": pg.port, "sandbox_redis_port": redis.port,
                 "sandbox_redis_password": REDIS_PASSWORD, "sandbox_dir": str(base),
                 "triage_docker": {"labels": [label]}, "triage_output_dir": str(base / "incidents"),
                 "triage_reports_dir": str(base / "reports"), "triage_rules": {"blocking_seconds": 1}}
        (base / "extra.json").write_text(json.dumps(extra))
        env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(base / "reports"), ANSIBLE_NOCOLOR="1",
                   PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        env.pop("ANSIBLE_CONFIG", None)

        def playbook(*more):
            started = time.monotonic()
            done = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", "inventories/local",
                                   "playbooks/triage.yml", "-e", "@%s" % (base / "extra.json"), *more], cwd=str(ROOT),
                                  env=env, capture_output=True, text=True, check=False)
            seconds = time.monotonic() - started
            if done.returncode:
                print(done.stdout[-3000:])
                raise SystemExit("the triage playbook failed")
            return seconds, tasks(base / "reports")

        fast_seconds, fast_tasks = playbook("-e", "triage_health_check=false")
        ours_seconds, ours_tasks = playbook()
        bundle = sorted((base / "incidents").glob("INC-*.tar.zst"))[-1]
        report = json.loads(bundle.with_name(bundle.name.replace(".tar.zst", ".json")).read_text())
        files = bundle_runner.read_bundle(str(bundle))
        leaked = any(SECRET.encode() in data for data in files.values())

        script = base / "manual.sh"
        script.write_text(SHELL)
        t0 = time.monotonic()
        with open(base / "manual.out", "wb") as out:
            shell = subprocess.run(["bash", str(script), name, str(pg.port), str(redis.port)], stdout=out,
                                   stderr=subprocess.STDOUT, env=dict(os.environ, REDIS_PASSWORD=REDIS_PASSWORD), check=False)
        shell_seconds = time.monotonic() - t0
        shell_leaked = SECRET.encode() in (base / "manual.out").read_bytes()

        health = sum(v for k, v in ours_tasks.items() if "health_check" in k)
        triage_task = sum(v for k, v in ours_tasks.items() if "Collect, classify" in k)
        print("ours (ansible-playbook playbooks/triage.yml): %.2f s; tasks: health check %.2f s (%d tasks), "
              "triage %.2f s, of which the module's own work %.2f s" % (
                  ours_seconds, health, sum(1 for k in ours_tasks if "health_check" in k), triage_task, report_module(base)))
        print("ours without the health check (-e triage_health_check=false): %.2f s (triage task %.2f s)" % (
            fast_seconds, sum(v for k, v in fast_tasks.items() if "Collect, classify" in k)))
        print("ours: bundle %s: %d bytes, %d files, verified %s" % (
            bundle.name, bundle.stat().st_size, len(files), bundle_runner.verify_bundle(str(bundle)) == []))
        print("ours: proposed %s; evidence: %s" % (report["severity"], ", ".join(e["name"] for e in report["evidence"])))
        print("ours: collectors %s" % ", ".join("%s %s %.2fs" % (c["name"], c["status"], c["seconds"]) for c in report["collectors"]))
        print("ours: seeded secret in the bundle: %s" % ("YES" if leaked else "no"))
        print("shell (seed 002's commands, one after another): %.2f s (exit %d), output %d bytes, seeded secret in it: %s"
              % (shell_seconds, shell.returncode, (base / "manual.out").stat().st_size, "yes" if shell_leaked else "no"))
        print("target: ours < 60 s: %s; not slower than the shell: %s" % (
            "met" if ours_seconds < 60 else "MISSED", "met" if ours_seconds <= shell_seconds else "MISSED"))
        print("ratio shell / ours: %.2fx" % (shell_seconds / ours_seconds))
    finally:
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for conn in holders:
            try:
                conn.close()
            except Exception:  # pylint: disable=broad-exception-caught
                pass
        if redis:
            redis.stop()
        if pg:
            pg.stop()
        if args.keep:
            print("kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)


def _latest(reports):
    try:
        return json.loads((reports / "latest" / "report.json").read_text())
    except (OSError, ValueError):
        return {}


def tasks(reports):
    """Each task's duration in the run report of runbook.ops.report."""
    out = {}
    for host in _latest(reports).get("hosts", {}).values():
        for item in host.get("results", []):
            out[item.get("task", "?")] = float(item.get("duration_seconds") or 0)
    return out


def report_module(base):
    """The incident_triage module's own time (its triage_duration_seconds metric)."""
    for host in _latest(base / "reports").get("hosts", {}).values():
        for item in host.get("results", []):
            if "triage_duration_seconds" in (item.get("metrics") or {}):
                return float(item["metrics"]["triage_duration_seconds"])
    return float("nan")


if __name__ == "__main__":
    main()
