"""runbook-ops-run (python -m runbook_ops_ci) against the sandbox PostgreSQL: a healthy run exits 0,
a critical one 1, a warning 0 or 1 by --fail-on; the JUnit file lands where CI asked for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from xml.etree import ElementTree

import pytest

from sandbox.services import free_port

ROOT = Path(__file__).resolve().parents[3]

PLAYBOOK = """
- name: Database health for CI
  hosts: localhost
  gather_facts: false
  tasks:
    - name: postgres
      runbook.ops.postgres_check:
        connections_warning: "{{ conn_warning | int }}"
        connections_critical: 95
"""


def _run(tmp_path, postgres, *args, port=None, env=None):
    playbook = tmp_path / "ci.yml"
    playbook.write_text(PLAYBOOK)
    full_env = dict(os.environ, PATH="%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ["PATH"]),
                    PYTHONPATH=str(ROOT), PGHOST="127.0.0.1", PGPORT=str(port or postgres.port),
                    PGUSER=postgres.monitor_user, PGPASSWORD=postgres.monitor_password,
                    PGDATABASE=postgres.database)
    full_env.pop("RUNBOOK_OPS_REPORT_DIR", None)
    full_env.update(env or {})
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    argv = [sys.executable, "-m", "runbook_ops_ci", str(playbook), "-i", str(inventory),
            "--private-data-dir", str(tmp_path / "runner")] + list(args)
    proc = subprocess.run(argv, cwd=str(ROOT), env=full_env, capture_output=True, text=True, timeout=300,
                          check=False)
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    return proc, last


def test_healthy_run_exits_0_and_writes_junit_where_asked(postgres, tmp_path):
    junit = tmp_path / "ci-out" / "junit.xml"
    proc, last = _run(tmp_path, postgres, "-e", "conn_warning=80", "--junit", str(junit))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert last == {"severity": "P3", "status": "ok", "exit": 0}
    assert "runbook.ops: ok (P3): 8 checks on 1 host" in proc.stdout
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    assert len(list(cases)) == 8
    # The runner's artifacts (and the report) went to the private data dir, not the repository.
    report = Path(proc.stdout.split("report: ", 1)[1].split()[0])
    assert (tmp_path / "runner").resolve() in report.resolve().parents
    assert not (ROOT / "artifacts").exists()
    assert postgres.monitor_password not in proc.stdout


def test_critical_run_exits_1(postgres, tmp_path):
    proc, last = _run(tmp_path, postgres, "-e", "conn_warning=80", port=free_port(),
                      env={"RUNBOOK_OPS_JUNIT": str(tmp_path / "env-junit.xml")})
    assert proc.returncode == 1 and last["severity"] == "P0" and last["status"] == "critical"
    assert "connection refused" in ElementTree.parse(tmp_path / "env-junit.xml").getroot().find(
        ".//failure").get("message")


def test_a_warning_passes_unless_fail_on_p2(postgres, tmp_path):
    proc, last = _run(tmp_path, postgres, "-e", '{"conn_warning": 1}', "--junit", str(tmp_path / "j.xml"))
    assert last["severity"] == "P2" and proc.returncode == 0, proc.stdout
    strict, last = _run(tmp_path, postgres, "-e", "conn_warning=1", "--fail-on", "P2",
                        "--junit", str(tmp_path / "j.xml"))
    assert last["severity"] == "P2" and strict.returncode == 1


def test_a_playbook_that_cannot_run_gives_no_verdict(postgres, tmp_path):
    argv = [sys.executable, "-m", "runbook_ops_ci", str(tmp_path / "broken.yml"), "-i", "localhost,",
            "--private-data-dir", str(tmp_path / "runner"), "--junit", str(tmp_path / "j.xml")]
    (tmp_path / "broken.yml").write_text("- hosts: [\n")
    proc = subprocess.run(argv, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT), PATH="%s%s%s" % (
        Path(sys.executable).parent, os.pathsep, os.environ["PATH"])), capture_output=True, text=True,
        timeout=120, check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert not (tmp_path / "j.xml").exists()


def test_the_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["runbook-ops-run"] == "runbook_ops_ci.cli:main"
    assert "runbook_ops_ci" in project["tool"]["setuptools"]["packages"]


@pytest.mark.parametrize("severity,fail_on,code", [
    ("P3", "P1", 0), ("P2", "P1", 0), ("P2", "P2", 1), ("P1", "P1", 1), ("P0", "P2", 1), (None, "P1", 3)])
def test_exit_code(severity, fail_on, code):
    sys.path.insert(0, str(ROOT))
    try:
        from runbook_ops_ci import cli
    finally:
        sys.path.remove(str(ROOT))
    assert cli.exit_code(severity, fail_on) == code
