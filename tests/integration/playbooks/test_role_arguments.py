"""The roles' argument specs (roles/<role>/meta/argument_specs.yml), through the real
ansible-playbook: a wrong variable in the inventory (a wrong type, a value outside the
choices, a list entry without its required key) stops the run at "Validating arguments"
with a message that names the variable, before any task of the role has run; and the
forms a variable legitimately takes (maintenance_state as a word or a YAML boolean) pass.

The plays run on the local inventory (localhost) and touch nothing but a temporary
directory: a refused run must not even get that far.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.slow


def _run(tmp: Path, playbook: str, extra: Dict[str, Any]) -> subprocess.CompletedProcess:
    extra_file = tmp / ("extra-%s.json" % uuid.uuid4().hex[:6])
    extra_file.write_text(json.dumps(extra))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(tmp / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/%s" % playbook,
                           "-e", "@%s" % extra_file], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def _refused(proc: subprocess.CompletedProcess, role: str, *messages: str) -> str:
    """The run failed in the role's argument validation, with each message, and ran no task of the role."""
    out = proc.stdout
    assert proc.returncode != 0, out[-3000:]
    assert "TASK [runbook.ops.%s : Validating arguments against arg spec" % role in out, out[-3000:]
    assert "Validation of arguments failed" in out, out[-3000:]
    for message in messages:
        assert message in out, out[-3000:]
    banners = [line for line in out.splitlines() if line.startswith("TASK [")]
    assert len(banners) == 1, banners  # the validation task, nothing after it
    return out


def test_deploy_refuses_a_wrong_type_and_a_bad_choice(tmp_path):
    proc = _run(tmp_path, "deploy.yml", {
        "deploy_batch_size": "two at a time",
        "deploy_order": "sideways",
        "deploy_services": {"api": {"service": "api", "repository": "finchat-sec-qa-api"}},
        "deploy_pre_checks": [{"name": "api_health", "url": "http://127.0.0.1:9/health"}],
    })
    _refused(proc, "deploy",
             "argument 'deploy_batch_size' is of type str and we were unable to convert to int",
             "value of deploy_order must be one of: start-first, stop-first, got: sideways")


def test_deploy_refuses_an_unknown_platform_and_a_deployment_without_name(tmp_path):
    proc = _run(tmp_path, "deploy.yml", {
        "deploy_platform": "nomad",
        "deploy_k8s_deployments": [{"images": {"api": "reg/api:2.0"}}],
    })
    _refused(proc, "deploy", "value of deploy_platform must be one of: docker, kubernetes, got: nomad",
             "missing required arguments: name found in deploy_k8s_deployments")


def test_rollback_refuses_revisions_given_as_a_list(tmp_path):
    proc = _run(tmp_path, "rollback.yml", {"rollback_k8s_revisions": [7]})
    _refused(proc, "rollback", "argument 'rollback_k8s_revisions' is of type list and we were unable to convert to dict")


def test_restore_refuses_a_wrong_type_before_touching_a_writer(tmp_path):
    proc = _run(tmp_path, "restore.yml", {
        "sandbox_dir": str(tmp_path),
        "restore_backup": str(tmp_path / "app-20261122T020000Z.dump.zst"),
        "restore_jobs": "lots",
        "restore_stop_containers": ["rbargs-writer-that-does-not-exist"],
    })
    _refused(proc, "restore", "argument 'restore_jobs' is of type str and we were unable to convert to int")


def test_restore_files_refuses_a_bad_flag(tmp_path):
    proc = _run(tmp_path, "restore_files.yml", {
        "sandbox_dir": str(tmp_path), "restore_files_backup": str(tmp_path / "files.tar.zst"),
        "restore_files_force": "perhaps",
    })
    _refused(proc, "restore_files", "argument 'restore_files_force' is of type str and we were unable to convert to bool")


def test_maintenance_refuses_a_state_outside_on_and_off(tmp_path):
    page_dir = tmp_path / "maintenance"
    proc = _run(tmp_path, "maintenance.yml", {"sandbox_dir": str(tmp_path), "maintenance_dir": str(page_dir),
                                              "maintenance_state": "maybe"})
    _refused(proc, "maintenance", "value of maintenance_state must be one of: on, off, got: maybe")
    assert not page_dir.exists()


@pytest.mark.parametrize("on, off", [("on", "off"), (True, False)])
def test_maintenance_takes_a_word_or_a_yaml_boolean(tmp_path, on, off):
    page_dir = tmp_path / "maintenance"
    base = {"sandbox_dir": str(tmp_path), "maintenance_dir": str(page_dir), "maintenance_message": "Back at 3 AM"}
    proc = _run(tmp_path, "maintenance.yml", dict(base, maintenance_state=on))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "TASK [runbook.ops.maintenance : Turn maintenance mode on]" in proc.stdout
    assert (page_dir / "maintenance.on").exists()
    assert "Back at 3 AM" in (page_dir / "maintenance.html").read_text()

    proc = _run(tmp_path, "maintenance.yml", dict(base, maintenance_state=off))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "TASK [runbook.ops.maintenance : Turn maintenance mode off]" in proc.stdout
    assert not (page_dir / "maintenance.on").exists()
