"""playbooks/health_check.yml (the role runbook.ops.health_check) end to end: the real
ansible-playbook against real services, by path and as the collection's playbook
runbook.ops.health_check.

The services (PostgreSQL, Redis with a password, the demo API and web app) are started
by this module on free ports, never on the demo sandbox's fixed ports, and the local
inventory is pointed at them with extra vars. The report callback (enabled in
ansible.cfg) writes into a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from utils.promtool import promtool_problems
from utils.run import run_module

from sandbox.services import DemoApp, Postgres, Redis

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "health_check.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
REDIS_PASSWORD = "integration-redis-secret"

PROM_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
    r'(-?[0-9.eE+-]+|[+-]Inf|NaN)$'
)
PROM_META = re.compile(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack():
    """Postgres, Redis and the two demo apps on free ports, in a directory of their own."""
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-hc-"))
    os.chmod(base, 0o755)  # the postgres user must reach its data directory below
    started = []
    try:
        postgres = Postgres(base / "postgres").start()
        started.append(postgres)
        redis = Redis(base / "redis", password=REDIS_PASSWORD).start()
        started.append(redis)
        api = DemoApp(base / "apps", "finchat-api", postgres=postgres, redis=redis).start()
        started.append(api)
        web = DemoApp(base / "apps", "finchat-webapp", redis=redis).start()
        started.append(web)
        extra = {
            "sandbox_api_port": api.port,
            "sandbox_web_port": web.port,
            "sandbox_postgres_port": postgres.port,
            "sandbox_redis_port": redis.port,
            "sandbox_redis_password": REDIS_PASSWORD,
            "sandbox_dir": str(base),
        }
        extra_file = base / "extra_vars.json"
        extra_file.write_text(json.dumps(extra))
        yield {"base": base, "redis": redis, "postgres": postgres, "api": api, "web": web,
               "extra_file": extra_file}
    finally:
        for service in reversed(started):
            service.stop()
        shutil.rmtree(base, ignore_errors=True)


def run_playbook(stack, name, *args, playbook=str(PLAYBOOK)):
    """Run the playbook from the repository root; return (process, report dir of this run)."""
    report_dir = stack["base"] / ("reports-" + name)
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(report_dir), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", playbook, "-e", "@%s" % stack["extra_file"], *args],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    return proc, report_dir / "latest"


def load_report(latest):
    """Read and validate the four report files; return the JSON report."""
    assert latest.is_symlink(), "no latest symlink in %s" % latest.parent
    files = sorted(p.name for p in latest.iterdir())
    assert files == ["junit.xml", "report.json", "report.md", "runbook_ops.prom"]
    report = json.loads((latest / "report.json").read_text())
    assert report["schema"] == "runbook.ops/report/v1"
    suites = ET.parse(str(latest / "junit.xml")).getroot()
    assert [s.get("name") for s in suites.findall("testsuite")] == ["localhost"]
    ncases = len(suites.findall("testsuite/testcase"))
    assert ncases == sum(len(r["checks"]) for r in report["hosts"]["localhost"]["results"])
    prom = (latest / "runbook_ops.prom").read_text()
    for line in prom.splitlines():
        assert PROM_META.match(line) or PROM_SAMPLE.match(line), line
    # Named and typed as Prometheus's own linter wants it (counters end in _total, base units, HELP).
    assert promtool_problems(prom) == ""
    markdown = (latest / "report.md").read_text()
    assert markdown.startswith("# Health report: %s (%s)" % (report["status"].upper(), report["severity"]))
    return report


def check_states(report):
    return {c["name"]: c["status"] for r in report["hosts"]["localhost"]["results"] for c in r["checks"]}


def test_healthy_stack_passes_and_writes_the_report(stack):
    proc, latest = run_playbook(stack, "ok")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load_report(latest)
    assert report["status"] == "ok", report["failures"]
    assert report["severity"] == "P3"
    assert report["failures"] == []
    assert report["run"]["playbook"] == "health_check.yml"
    assert report["run"]["check_mode"] is False
    states = check_states(report)
    for name in ("http.api_health", "http.api_ready", "http.api_metrics", "http.webapp_root",
                 "http.webapp_health", "postgres.ping", "postgres.connections", "redis.ping",
                 "redis.queue.celery", "log.finchat_api.error", "disk./", "memory"):
        assert states.get(name) == "ok", (name, states)
    # the gate's own task is a verdict, not a check
    assert not any(r["module"] == "health_gate" for r in report["hosts"]["localhost"]["results"])
    prom = (latest / "runbook_ops.prom").read_text()
    assert 'runbook_ops_check_status{host="localhost",check="redis.ping"} 0' in prom
    assert "runbook_ops_run_severity 3" in prom
    assert 'runbook_ops_redis_queue_length{host="localhost",queue="celery"}' in prom
    assert "# TYPE runbook_ops_redis_keyspace_hits_total counter" in prom
    assert "# TYPE runbook_ops_postgres_connections_used gauge" in prom
    # Shares are ratios from 0 to 1 (Prometheus's base unit), never percentages.
    assert "_percent" not in prom
    disk = re.search(r'^runbook_ops_disk_used_ratio\{host="localhost",mount="/"\} (\S+)$', prom, re.M)
    assert disk and 0 <= float(disk.group(1)) <= 1, prom
    memory = re.search(r'^runbook_ops_memory_used_ratio\{host="localhost"\} (\S+)$', prom, re.M)
    assert memory and 0 < float(memory.group(1)) < 1, prom
    # the callback prints the verdict and where the files are
    assert "ok (P3)" in proc.stdout
    assert str(latest.parent) in proc.stdout
    # secrets never reach the output or the report
    for text in (proc.stdout, proc.stderr, (latest / "report.json").read_text(), prom):
        assert REDIS_PASSWORD not in text
        assert Postgres.monitor_password not in text

    checked, checked_latest = run_playbook(stack, "ok-check", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked_report = load_report(checked_latest)
    assert checked_report["run"]["check_mode"] is True
    assert checked_report["status"] == "ok"
    assert set(check_states(checked_report)) == set(states)
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", checked.stdout)
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", proc.stdout)


def test_the_collection_playbook_runs_the_same_checks(stack):
    """ansible-playbook runbook.ops.health_check: the playbook shipped inside the collection,
    found through ansible.cfg's collections_path, runs the role with the same inventory."""
    proc, latest = run_playbook(stack, "collection", playbook="runbook.ops.health_check")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    report = load_report(latest)
    assert report["status"] == "ok", report["failures"]
    assert report["run"]["playbook"] == "health_check.yml"
    states = check_states(report)
    for name in ("http.api_health", "postgres.connections", "redis.queue.celery", "log.finchat_api.error", "memory"):
        assert states.get(name) == "ok", (name, states)


@pytest.mark.parametrize("variables, message", [
    # a wrong type inside a check's options
    ({"health_postgres": {"login_host": "127.0.0.1", "port": "five-four-three-two"}},
     "argument 'port' is of type"),
    # a choice that does not exist
    ({"health_fail_on": "fatal"}, "value of health_fail_on must be one of: critical, warning, got: fatal"),
    # a misspelt option
    ({"health_redis": {"login_host": "127.0.0.1", "queus": [{"name": "celery"}]}}, "queus"),
    # a list where a dict belongs
    ({"health_host": ["/"]}, "argument 'health_host' is of type list"),
], ids=["type", "choice", "unknown-key", "list-for-dict"])
def test_a_wrong_inventory_variable_is_refused_before_any_check_runs(stack, variables, message):
    proc, latest = run_playbook(stack, "bad-%s" % sorted(variables)[0], "-e", json.dumps(variables))
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "Validation of arguments failed" in proc.stdout, proc.stdout[-3000:]
    assert message in proc.stdout, proc.stdout[-3000:]
    # The argument spec stopped the host before its first check task.
    assert "HTTP endpoints respond" not in proc.stdout
    assert "Health gate" not in proc.stdout
    report = json.loads((latest / "report.json").read_text())
    results = report["hosts"]["localhost"]["results"]
    assert len(results) == 1 and results[0]["status"] == "critical", results
    assert message in "\n".join(report["failures"]), report["failures"]


def test_redis_down_fails_the_run_with_one_line_per_failed_check(stack):
    stack["redis"].stop()
    try:
        proc, latest = run_playbook(stack, "redis-down")
        assert proc.returncode != 0, proc.stdout
        report = load_report(latest)
        assert report["status"] == "critical"
        assert report["severity"] == "P0"
        redis_lines = [f for f in report["failures"] if "redis" in f and "refused" in f]
        assert redis_lines and redis_lines[0].startswith("localhost: critical redis.ping: "), report["failures"]
        assert check_states(report)["redis.ping"] == "critical"
        # The gate's message and the report summary: one stdout line per failed check.
        critical = [f for f in report["failures"] if ": critical " in f]
        for line in critical:
            check_line = line.split(": ", 1)[1]  # "critical redis.ping: connection refused ..."
            assert check_line in proc.stdout.splitlines() or any(
                out.strip() == check_line for out in proc.stdout.splitlines()), check_line
            assert any(out.strip() == line for out in proc.stdout.splitlines()), line
        assert "health gate: %d check" % len(critical) in proc.stdout
        junit = ET.parse(str(latest / "junit.xml")).getroot()
        failed_cases = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
        assert "redis.ping" in failed_cases
        assert 'runbook_ops_check_status{host="localhost",check="redis.ping"} 2' in \
            (latest / "runbook_ops.prom").read_text()

        checked, checked_latest = run_playbook(stack, "redis-down-check", "--check")
        assert checked.returncode == proc.returncode
        checked_report = load_report(checked_latest)
        assert checked_report["run"]["check_mode"] is True
        assert checked_report["status"] == "critical"
        assert check_states(checked_report)["redis.ping"] == "critical"
        assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", checked.stdout)
    finally:
        stack["redis"].start()


EDGE_PLAYBOOK = """
- name: Edge cases of the report
  hosts: all
  gather_facts: false
  tasks:
    - name: Redis per port
      runbook.ops.redis_check:
        login_host: 127.0.0.1
        port: "{{ item }}"
        login_password: "%(password)s"
        checks: [memory]
      loop: [%(good)d, %(bad)d]
      register: loop_result

    - name: Bad input
      runbook.ops.http_check:
        endpoints:
          - name: broken
            url: "not a url"
      register: bad_result
      failed_when: false

    - name: Gate
      runbook.ops.health_gate:
        results:
          loop: "{{ loop_result }}"
          bad: "{{ bad_result }}"
"""


def test_loops_unreachable_hosts_and_module_errors_are_reported(stack):
    from sandbox.services import free_port as pick
    base = stack["base"]
    closed = pick()
    playbook = base / "edge.yml"
    playbook.write_text(EDGE_PLAYBOOK % {"password": REDIS_PASSWORD, "good": stack["redis"].port, "bad": closed})
    inventory = base / "edge_inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n"
        "    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
        "    ghost.example.internal:\n      ansible_host: 127.0.0.1\n      ansible_port: %d\n"
        "      ansible_connection: ssh\n      ansible_ssh_common_args: -o ConnectTimeout=3\n" % pick()
    )
    report_dir = base / "reports-edge"
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(report_dir), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook)], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    report = json.loads((report_dir / "latest" / "report.json").read_text())
    assert report["run"]["playbook"] == "edge.yml"
    ghost = report["hosts"]["ghost.example.internal"]
    assert ghost["status"] == "critical" and ghost["severity"] == "P0"
    assert ghost["results"][0]["checks"][0]["name"] == "host.reachable"
    local = report["hosts"]["localhost"]["results"]
    tasks = [r["task"] for r in local]
    assert tasks == ["Redis per port (%d)" % stack["redis"].port, "Redis per port (%d)" % closed, "Bad input"]
    assert local[0]["status"] == "ok"
    assert local[1]["checks"][0]["name"] == "redis.ping" and local[1]["status"] == "critical"
    assert local[2]["checks"][0]["name"] == "task.Bad input"
    assert local[2]["status"] == "critical"
    assert "ghost.example.internal: critical host.reachable: " in "\n".join(report["failures"])
    # The gate judged the loop items and the hidden module error.
    assert "critical task.bad: " in proc.stdout
    assert "critical redis.ping: " in proc.stdout


def test_backup_freshness_feeds_the_health_check(stack):
    """The daily health check reports the newest backup's freshness and checksum (backup_verify)."""
    backups = stack["base"] / "backups"
    made = run_module("pg_backup", dict(stack["postgres"].dsn(), backup_dir=str(backups)))
    assert made["changed"] is True
    fresh = json.dumps({"health_backup": {"backup_dir": str(backups), "backup_database": "app"}})
    proc, latest = run_playbook(stack, "backup-fresh", "-e", fresh)
    assert proc.returncode == 0, proc.stdout[-3000:]
    states = check_states(load_report(latest))
    backup_checks = {name: state for name, state in states.items() if name.startswith("backup.")}
    assert backup_checks and set(backup_checks.values()) == {"ok"}, backup_checks

    empty = stack["base"] / "no-backups"
    empty.mkdir()
    missing = json.dumps({"health_backup": {"backup_dir": str(empty), "backup_database": "app"}})
    proc, latest = run_playbook(stack, "backup-missing", "-e", missing)
    assert proc.returncode != 0, proc.stdout[-3000:]
    report = load_report(latest)
    assert report["status"] == "critical"
    assert any("backup." in line and "daily" in line for line in report["failures"]), report["failures"]
