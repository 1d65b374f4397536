"""runbook.ops.incident_triage against real services broken the way an incident breaks them.

Four incidents, each on real services started by the tests: Redis stopped, the Celery queue
filled past critical, a container crash-looping on the real Docker engine, a PostgreSQL lock
blocking other sessions. For each: the proposed severity and the named evidence, the timeline's
events in order, the bundle verified against its manifest (by the module, and again here with
the system's tar and sha256), and seeded secrets (a container's environment, a log line, a
query's text, the connection passwords) hunted through every byte of the unpacked bundle, the
Markdown and JSON reports and the module's result.

Containers carry runbook.ops.test=1 and a per-run label and are removed in teardown.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path

import docker
import psycopg2
import pytest

from ansible_collections.runbook.ops.plugins.module_utils.redis.client import RespClient
from ansible_collections.runbook.ops.plugins.module_utils.triage import bundle_runner
from sandbox.services import Redis
from utils.run import ModuleFailed, run_module

IMAGE = "runbook-ops/debian12-python:1"
RUN = uuid.uuid4().hex[:8]
SEED_ENV = "SEEDENV%sQZ" % RUN
SEED_LOG = "SEEDLOG%sQZ" % RUN
SEED_SQL = "SEEDSQL%sQZ" % RUN
SEED_BEARER = "SEEDBEARER%sQZ" % RUN


def _wait(predicate, what, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s" % what)


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + "Z"


def _extract_and_verify(bundle_path, tmp_path):
    """Unpack with the system's tar and check every file against the manifest with hashlib."""
    out = tmp_path / "unpacked"
    out.mkdir()
    subprocess.run(["tar", "--zstd", "-xf", bundle_path, "-C", str(out)], check=True)
    roots = list(out.iterdir())
    assert len(roots) == 1
    manifest = json.loads((roots[0] / "manifest.json").read_text())
    listed = set()
    for entry in manifest["files"]:
        data = (roots[0] / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        assert len(data) == entry["size"]
        listed.add(entry["path"])
    on_disk = {str(p.relative_to(roots[0])) for p in roots[0].rglob("*") if p.is_file()} - {"manifest.json"}
    assert on_disk == listed
    return roots[0], manifest


def _hunt(secrets, result, tmp_path):
    """No seeded secret anywhere: the unpacked bundle, the reports next to it, the result."""
    root, manifest = _extract_and_verify(result["bundle"]["path"], tmp_path)
    haystacks = {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for key in ("markdown", "json"):
        haystacks[key] = Path(result["report_paths"][key]).read_bytes()
    haystacks["result"] = json.dumps(result).encode()
    raw = Path(result["bundle"]["path"]).read_bytes()
    haystacks["bundle-decompressed"] = subprocess.run(["zstd", "-dc"], input=raw, capture_output=True, check=True).stdout
    for secret in secrets:
        for where, data in haystacks.items():
            assert secret.encode() not in data, "%s leaked into %s" % (secret, where)
    return root, manifest


def _kinds(result):
    return [e["kind"] for e in result["timeline"]]


def _assert_ordered(result, *kinds):
    """The first event of each kind comes in this order, and the triage is last."""
    found = _kinds(result)
    positions = [found.index(kind) for kind in kinds]
    assert positions == sorted(positions), found
    assert found[-1] == "triage"
    times = [e["at"] for e in result["timeline"]]
    assert times == sorted(times)


def _evidence(result, name):
    matches = [e for e in result["incident"]["evidence"] if e["name"] == name]
    assert matches, result["incident"]["evidence"]
    return matches[0]


# --------------------------------------------------------------------------- #
# Redis stopped
# --------------------------------------------------------------------------- #

def test_redis_stopped_is_p0_with_the_refused_ping(tmp_path):
    redis = Redis(tmp_path / "redis", password="stop-me-secret-%s" % RUN).start()
    port = redis.port
    redis.stop()
    start = time.time()
    log = tmp_path / "app.log"
    log.write_text("%s INFO api started\n%s ERROR celery broker unreachable, Authorization: Bearer %s\n"
                   % (_iso(start - 120), _iso(start - 60), SEED_BEARER))
    result = run_module("incident_triage", {
        "output_dir": str(tmp_path / "out"),
        "platform": "sandbox",
        "redis": {"login_host": "127.0.0.1", "port": port, "login_password": "stop-me-secret-%s" % RUN,
                  "connect_timeout": 2, "queues": [{"name": "celery", "warning": 100, "critical": 1000}]},
        "logs": [{"name": "finchat_api", "path": str(log)}],
        "alerts": [{"time": _iso(start - 30), "summary": "RedisDown", "source": "alertmanager"}],
    })
    assert result["changed"] is True
    assert result["incident"]["severity"] == "P0"
    assert result["severity"] == "P0" and result["status"] == "critical"
    assert "refused" in _evidence(result, "redis.ping")["message"]
    _assert_ordered(result, "log.error", "alert")
    assert result["incident"]["id"] == "INC-%s-001" % time.strftime("%Y-%m-%d", time.gmtime())
    assert result["bundle"]["verified"] is True
    _hunt([SEED_BEARER, "stop-me-secret-%s" % RUN], result, tmp_path)
    markdown = Path(result["report_paths"]["markdown"]).read_text()
    assert markdown.startswith("# Incident Report: INC-")
    for heading in ("## Summary", "## Timeline", "## Root Cause", "## Impact", "## Resolution",
                    "## Lessons Learned", "## Action Items"):
        assert heading in markdown


# --------------------------------------------------------------------------- #
# The Celery queue past critical
# --------------------------------------------------------------------------- #

def test_queue_past_critical_is_p1_high_task_queue_depth(redis_server, tmp_path):
    with RespClient("127.0.0.1", redis_server.port, password=redis_server.password) as client:
        client.execute("DEL", "celery")
        for start in range(0, 1500, 500):
            client.execute("RPUSH", "celery", *["task-%d" % i for i in range(start, start + 500)])
    reports = tmp_path / "reports"
    earlier = time.time() - 600
    run_dir = reports / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(earlier))
    run_dir.mkdir(parents=True)
    (run_dir / "report.json").write_text(json.dumps({
        "schema": "runbook.ops/report/v1", "status": "warning", "severity": "P2",
        "summary": "redis.queue.celery queue celery at 150 (warning >= 100)",
        "run": {"playbook": "health_check.yml", "started": _iso(earlier)}}))
    try:
        result = run_module("incident_triage", {
            "output_dir": str(tmp_path / "out"),
            "redis": {"login_host": "127.0.0.1", "port": redis_server.port, "login_password": redis_server.password,
                      "queues": [{"name": "celery", "warning": 100, "critical": 1000}]},
            "reports_dir": str(reports),
            "alerts": [{"time": _iso(earlier + 300), "summary": "HighQueueDepth celery > 500 for 15m"}],
        })
    finally:
        with RespClient("127.0.0.1", redis_server.port, password=redis_server.password) as client:
            client.execute("DEL", "celery")
    assert result["incident"]["severity"] == "P1"
    evidence = _evidence(result, "redis.queue.celery")
    assert "1500" in evidence["message"] and "High Task Queue Depth" in evidence["message"]
    _assert_ordered(result, "report.warning", "alert")
    root, _manifest = _hunt([redis_server.password], result, tmp_path)
    queues = json.loads((root / "redis" / "queues.json").read_text())
    assert queues == [{"name": "celery", "depth": 1500, "warning": 100, "critical": 1000}]
    assert (root / "redis" / "info.json").exists()


# --------------------------------------------------------------------------- #
# A crash-looping container
# --------------------------------------------------------------------------- #

@pytest.fixture()
def crash_loop():
    client = docker.from_env(timeout=60)
    labels = {"runbook.ops.test": "1", "runbook.ops.run": "i13-triage-" + RUN}
    name = "i13-triage-crash-%s" % RUN
    script = ("echo \"INFO starting worker\"; "
              "echo \"ERROR cannot reach postgres://app:%s@db:5432/app\" >&2; exit 3" % SEED_LOG)
    try:
        client.containers.run(IMAGE, ["sh", "-c", script], name=name, labels=labels, detach=True,
                              restart_policy={"Name": "always"},
                              environment={"API_TOKEN": SEED_ENV, "WORKER_SETTING": SEED_ENV, "LOG_LEVEL": "info"})
        _wait(lambda: client.containers.get(name).attrs["RestartCount"] >= 3, "3 restarts")
        yield {"name": name, "client": client, "label": "runbook.ops.run=i13-triage-" + RUN}
    finally:
        for container in client.containers.list(all=True, filters={"label": "runbook.ops.run=i13-triage-" + RUN}):
            container.remove(force=True)
        client.close()


@pytest.mark.docker
def test_crash_loop_is_p0_with_restarts_exit_codes_and_previous_logs(crash_loop, tmp_path):
    result = run_module("incident_triage", {
        "output_dir": str(tmp_path / "out"),
        "docker": {"labels": [crash_loop["label"]]},
        "since_hours": 1,
    })
    assert result["incident"]["severity"] == "P0"
    evidence = _evidence(result, "container.%s.crash_loop" % crash_loop["name"])
    assert "crash-looping" in evidence["message"] and "exit code 3" in evidence["message"]
    # Created, started, then the first exit; the first ERROR line comes before that exit (the
    # engine stamps the start event and the process's first output within milliseconds of each
    # other, in either order).
    _assert_ordered(result, "container.create", "container.start", "container.die")
    _assert_ordered(result, "container.create", "log.error", "container.die")
    assert _kinds(result).count("container.create") == 1
    dies = [e for e in result["timeline"] if e["kind"] == "container.die"]
    assert len(dies) >= 3 and all("code 3" in e["message"] for e in dies)
    root, _manifest = _hunt([SEED_ENV, SEED_LOG], result, tmp_path)
    base = root / "docker" / crash_loop["name"]
    inspect = json.loads((base / "inspect.json").read_text())
    assert "LOG_LEVEL=info" in inspect["Config"]["Env"]
    assert "API_TOKEN=[REDACTED]" in inspect["Config"]["Env"]
    assert "ERROR cannot reach postgres://app:[REDACTED]@db:5432/app" in (base / "logs.txt").read_text()
    assert "INFO starting worker" in (base / "previous.logs.txt").read_text()
    assert json.loads((base / "events.json").read_text())


# --------------------------------------------------------------------------- #
# A PostgreSQL lock blocking other sessions
# --------------------------------------------------------------------------- #

@pytest.fixture()
def blocked_sessions(postgres):
    dsn = dict(host="127.0.0.1", port=postgres.port, user=postgres.superuser, password=postgres.password,
               dbname=postgres.database)
    setup = psycopg2.connect(**dsn)
    setup.autocommit = True
    with setup.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS i13_orders (id int PRIMARY KEY, v text)")
        cur.execute("INSERT INTO i13_orders VALUES (1, 'a') ON CONFLICT DO NOTHING")
    holder = psycopg2.connect(**dsn)
    with holder.cursor() as cur:
        cur.execute("UPDATE i13_orders SET v = 'held' WHERE id = 1 /* api_key=%s */" % SEED_SQL)
    waiters = []

    def wait():
        conn = psycopg2.connect(**dsn)
        waiters.append(conn)
        try:
            with conn.cursor() as cur:
                cur.execute("UPDATE i13_orders SET v = 'waiting' WHERE id = 1")
            conn.rollback()
        except psycopg2.Error:
            pass

    threads = [threading.Thread(target=wait, daemon=True) for _waiter in range(2)]
    for thread in threads:
        thread.start()

    def blocked():
        with setup.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")
            return cur.fetchone()[0] == 2
    _wait(blocked, "two blocked sessions")
    time.sleep(1.2)
    try:
        yield postgres
    finally:
        holder.rollback()
        holder.close()
        for thread in threads:
            thread.join(10)
        for conn in waiters:
            conn.close()
        setup.close()


def test_blocking_lock_is_p1_with_the_blocking_chain(blocked_sessions, tmp_path):
    result = run_module("incident_triage", {
        "output_dir": str(tmp_path / "out"),
        "postgres": dict(blocked_sessions.dsn(user="monitor"), ssl_mode="disable"),
        "rules": {"blocking_seconds": 1},
    })
    assert result["incident"]["severity"] == "P1"
    evidence = _evidence(result, "postgres.blocking_locks")
    assert "2 session(s) blocked" in evidence["message"]
    _assert_ordered(result, "postgres.blocker", "postgres.lock_wait")
    root, _manifest = _hunt([SEED_SQL, "monitor-secret"], result, tmp_path)
    summary = json.loads((root / "postgres" / "summary.json").read_text())
    assert len(summary["chains"]) == 1 and len(summary["chains"][0]["blocked"]) == 2
    activity = (root / "postgres" / "activity.json").read_text()
    assert "api_key=[REDACTED]" in activity


# --------------------------------------------------------------------------- #
# Faults of the triage itself, check mode, options
# --------------------------------------------------------------------------- #

@pytest.fixture()
def silent_server():
    """A TCP server that accepts and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    accepted = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


def test_hung_and_failing_collectors_are_recorded_not_fatal(silent_server, tmp_path):
    started = time.monotonic()
    result = run_module("incident_triage", {
        "output_dir": str(tmp_path / "out"),
        "collector_timeout": 1.5,
        "redis": {"login_host": "127.0.0.1", "port": silent_server, "connect_timeout": 30},
        "docker": {"docker_host": "unix:///nonexistent/i13-docker.sock"},
        "logs": [{"path": str(tmp_path / "missing.log")}],
    })
    assert time.monotonic() - started < 10
    by_name = {c["name"]: c for c in result["collectors"]}
    assert by_name["redis"]["status"] == "timeout"
    assert by_name["docker"]["status"] == "failed" and "nonexistent" in by_name["docker"]["error"]
    assert by_name["host"]["status"] == "ok"
    checks = {c["name"]: c["status"] for c in result["checks"]}
    assert checks["triage.collector.redis"] == "warning" and checks["triage.collector.docker"] == "warning"
    assert result["bundle"]["verified"] is True
    files = bundle_runner.read_bundle(result["bundle"]["path"])
    assert any(name.endswith("host/resources.json") for name in files)


def test_check_mode_writes_nothing(tmp_path):
    out = tmp_path / "never"
    result = run_module("incident_triage", {"output_dir": str(out)}, check_mode=True)
    assert not out.exists()
    assert result["changed"] is True and result["bundle"]["written"] is False
    assert result["bundle"]["path"].endswith(".tar.zst") and result["report_paths"] == {}
    assert result["report_markdown"].startswith("# Incident Report: INC-")
    assert result["incident"]["severity"] == "P3"


def test_byte_limit_cuts_logs_keeping_their_end(tmp_path):
    log = tmp_path / "big.log"
    with open(log, "w") as handle:
        for i in range(20000):
            handle.write("2026-12-02T07:00:00Z INFO line %06d password=%s\n" % (i, SEED_LOG))
    result = run_module("incident_triage", {"output_dir": str(tmp_path / "out"), "collector_max_bytes": 4096,
                                            "logs": [{"name": "big", "path": str(log)}], "host": {"enabled": False}})
    logs = next(c for c in result["collectors"] if c["name"] == "logs")
    assert logs["bytes"] <= 4096 and logs["truncated"]
    files = bundle_runner.read_bundle(result["bundle"]["path"])
    text = next(v for k, v in files.items() if k.endswith("logs/big.log")).decode()
    assert "line 019999" in text and "line 000000" not in text
    assert SEED_LOG not in text


def test_two_triages_at_once_get_two_ids(tmp_path):
    results = []

    def one():
        results.append(bundle_runner.reserve(str(tmp_path), "2026-12-02", None, "zstd"))
    threads = [threading.Thread(target=one) for _triage in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = sorted(r[0] for r in results)
    assert ids == ["INC-2026-12-02-%03d" % n for n in range(1, 9)]


def test_bad_options_fail_naming_the_option(tmp_path):
    with pytest.raises(ModuleFailed) as failed:
        run_module("incident_triage", {"output_dir": str(tmp_path), "redact": {"rules": [{"name": "x", "regex": "("}]}})
    assert "redact.rules" in failed.value.result["msg"]
    with pytest.raises(ModuleFailed) as failed:
        run_module("incident_triage", {"output_dir": str(tmp_path), "incident_id": "../etc/passwd"})
    assert "incident_id" in failed.value.result["msg"]
    with pytest.raises(ModuleFailed) as failed:
        run_module("incident_triage", {"output_dir": str(tmp_path), "collector_timeout": 0})
    assert "collector_timeout" in failed.value.result["msg"]


def test_unwritable_output_dir_fails_the_task(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ModuleFailed) as failed:
        run_module("incident_triage", {"output_dir": str(blocker / "sub"), "host": {"enabled": False}})
    assert "output_dir" in failed.value.result["msg"]


def test_bundle_tampering_is_found(tmp_path):
    result = run_module("incident_triage", {"output_dir": str(tmp_path / "out"), "compression": "none"})
    path = result["bundle"]["path"]
    assert bundle_runner.verify_bundle(path) == []
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    name = next(n for n in members if n.endswith("incident.md"))
    members[name] = members[name] + b"tampered\n"
    with tarfile.open(path, "w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            import io
            tar.addfile(info, io.BytesIO(data))
    assert bundle_runner.verify_bundle(path) == ["incident.md does not match its SHA-256"]
    assert os.path.exists(result["report_paths"]["json"])


# --------------------------------------------------------------------------- #
# Kubernetes deploy history (k8s_app), through the real kubernetes client and the fake apiserver
# --------------------------------------------------------------------------- #

def test_kubernetes_revisions_are_deploys_on_the_timeline_and_the_token_is_masked(tmp_path):
    from utils.k8s_fake_apiserver import FakeApiServer

    with FakeApiServer(deadline_gets=4) as server:
        server.add_deployment("sec-analysis", "api", {"api": "reg/api:1.0"}, replicas=3,
                              history=[{"api": "reg/api:0.8"}, {"api": "reg/api:0.9"}])
        result = run_module("incident_triage", {
            "output_dir": str(tmp_path / "out"),
            "kubernetes": {"host": server.url, "api_key": server.token, "namespace": "sec-analysis",
                           "deployments": ["api"]},
            "host": {"enabled": False},
        })
    deploys = [e for e in result["timeline"] if e["kind"] == "deploy.kubernetes"]
    assert [d["message"].split(" (")[0] for d in deploys] == ["deploy: api revision %d" % n for n in (1, 2, 3)]
    assert "reg/api:1.0" in deploys[-1]["message"]
    by_name = {c["name"]: c for c in result["collectors"]}
    assert by_name["kubernetes"]["status"] == "ok"
    _hunt([server.token], result, tmp_path)


def test_something_other_than_redis_on_its_port_is_redis_down():
    """A port taken by another service (a refused ping is not the only way Redis is down): the
    finding is 'not reachable', not a failed collector that would leave the incident at P3."""
    import socket
    import threading

    from ansible_collections.runbook.ops.plugins.module_utils.triage import systems_runner

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)

    def answer_http():
        while True:
            try:
                conn, _addr = server.accept()
            except OSError:
                return
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    threading.Thread(target=answer_http, daemon=True).start()
    try:
        box = systems_runner.Box("redis", 1 << 20)
        systems_runner.redis_collector({"login_host": "127.0.0.1", "port": server.getsockname()[1],
                                        "connect_timeout": 2, "queues": []})(box)
    finally:
        server.close()
    assert box.findings["redis"]["reachable"] is False
    assert "reply" in box.findings["redis"]["error"]
