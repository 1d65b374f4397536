"""Under ansible-runner (as AWX and CI run it) the report lands in the job's artifact directory and
the run's verdict reaches the ``playbook_on_stats`` event as ``artifact_data`` (set_stats data).

ansible-core calls the stdout callback (ansible-runner's awx_display) before ours, so the callback
must publish the verdict before its own ``v2_playbook_on_stats``: these tests read it back from
``ansible_runner.run``'s events.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import ansible_runner
import pytest

from sandbox.services import free_port

ROOT = Path(__file__).resolve().parents[3]

PLAYBOOK = """
- name: Database health through ansible-runner
  hosts: localhost
  gather_facts: false
  tasks:
    - name: postgres
      runbook.ops.postgres_check:
        login_host: 127.0.0.1
        port: "{{ pg_port | int }}"
        login_user: monitor
"""


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    """ansible-runner looks for ansible-playbook on PATH, as in an EE."""
    monkeypatch.setenv("PATH", "%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ.get("PATH", "")))
    monkeypatch.delenv("RUNBOOK_OPS_REPORT_DIR", raising=False)


def _run(tmp_path, pg_port, password, **envvars):
    data = tmp_path / "runner"
    (data / "env").mkdir(parents=True)
    playbook = tmp_path / "check.yml"
    playbook.write_text(PLAYBOOK)
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PGPASSWORD": password}
    env.update(envvars)
    runner = ansible_runner.run(
        private_data_dir=str(data), project_dir=str(ROOT), playbook=str(playbook),
        inventory="localhost ansible_connection=local ansible_python_interpreter=%s" % sys.executable,
        extravars={"pg_port": pg_port}, envvars=env, quiet=True, ident="job1")
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1, runner.stdout.read()
    return runner, stats[0]["event_data"]["artifact_data"]


def test_a_healthy_run_reports_into_the_artifact_directory_and_stats(postgres, tmp_path, monkeypatch):
    runner, data = _run(tmp_path, postgres.port, postgres.monitor_password)
    assert runner.rc == 0 and runner.status == "successful"
    assert data["runbook_ops_status"] == "ok" and data["runbook_ops_severity"] == "P3"
    assert data["runbook_ops_summary"].startswith("ok (P3): 8 checks on 1 host")
    artifact_dir = Path(runner.config.artifact_dir).resolve()
    report = Path(data["runbook_ops_report"])
    assert report.is_file() and report.parent == Path(data["runbook_ops_report_dir"])
    assert artifact_dir / "runbook_ops_report" in report.parents
    assert (artifact_dir / "runbook_ops_report" / "latest" / "junit.xml").is_file()
    assert json.loads(report.read_text())["summary"] == data["runbook_ops_summary"]
    assert not (ROOT / "artifacts").exists()
    # The runner's record of the environment must not hold the password we gave the module either.
    assert postgres.monitor_password not in json.dumps(data)


def test_a_critical_run_publishes_p0_and_report_dir_option_wins(postgres, tmp_path, monkeypatch):
    chosen = tmp_path / "chosen"
    runner, data = _run(tmp_path, free_port(), postgres.monitor_password, RUNBOOK_OPS_REPORT_DIR=str(chosen))
    assert data["runbook_ops_status"] == "critical" and data["runbook_ops_severity"] == "P0"
    assert "1 critical" in data["runbook_ops_summary"]
    report = Path(data["runbook_ops_report"])
    assert report.is_file() and chosen.resolve() in report.resolve().parents
    assert not (Path(runner.config.artifact_dir) / "runbook_ops_report").exists()


@pytest.mark.parametrize("where", ["artifacts", "default"])
def test_report_base_precedence(where, tmp_path):
    from ansible_collections.runbook.ops.plugins.plugin_utils import run_stats

    environ = {"AWX_ISOLATED_DATA_DIR": str(tmp_path)} if where == "artifacts" else {}
    expected = str(tmp_path / "runbook_ops_report") if where == "artifacts" else "./reports"
    assert run_stats.report_base(None, environ) == expected
    assert run_stats.report_base("/explicit", environ) == "/explicit"
