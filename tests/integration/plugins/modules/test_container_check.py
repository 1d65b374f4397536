"""runbook.ops.container_check against the real Docker engine and containers started by the tests.

Every container uses the local image runbook-ops/debian12-python:1 (nothing is pulled), carries the label
runbook.ops.test=1 plus a per-run label, and is removed in the fixture's teardown even when tests fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import pytest

from utils.run import ModuleFailed, run_module

pytestmark = pytest.mark.docker

IMAGE = "runbook-ops/debian12-python:1"
SECOND = 1_000_000_000  # the healthcheck API counts nanoseconds


def _wait(predicate, what, timeout=60.0, interval=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s" % what)


def _attrs(client, name):
    return client.containers.get(name).attrs


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env(timeout=60)
    client.ping()
    yield client
    client.close()


@pytest.fixture(scope="module")
def fleet(engine):
    """Healthy, unhealthy, restart-looping, error-logging and exited containers, for this module."""
    run_id = uuid.uuid4().hex[:10]
    labels = {"runbook.ops.test": "1", "runbook.ops.run": run_id}
    names = {kind: "rbops-%s-%s" % (kind, run_id) for kind in ("healthy", "unhealthy", "loop", "errors", "exited")}

    def start(kind, command, **kwargs):
        engine.containers.run(IMAGE, command, name=names[kind], labels=labels, detach=True, **kwargs)

    try:
        start("healthy", ["sleep", "infinity"],
              healthcheck={"test": ["CMD", "true"], "interval": SECOND, "timeout": 5 * SECOND, "retries": 1})
        start("unhealthy", ["sleep", "infinity"],
              healthcheck={"test": ["CMD-SHELL", "echo probe says no; exit 1"], "interval": SECOND,
                           "timeout": 5 * SECOND, "retries": 1})
        start("loop", ["sh", "-c", "echo ERROR crashing; exit 1"], restart_policy={"Name": "always"})
        start("errors", ["sh", "-c", "for i in $(seq 1 12); do echo \"ERROR failed job $i\"; done; "
                                     "echo INFO all done; exec sleep infinity"])
        start("exited", ["sh", "-c", "echo ERROR cannot read config >&2; exit 3"])

        _wait(lambda: _attrs(engine, names["healthy"])["State"]["Health"]["Status"] == "healthy", "healthy")
        _wait(lambda: _attrs(engine, names["unhealthy"])["State"]["Health"]["Status"] == "unhealthy", "unhealthy")
        _wait(lambda: _attrs(engine, names["loop"])["RestartCount"] >= 2, "restart count >= 2")
        _wait(lambda: b"INFO all done" in engine.containers.get(names["errors"]).logs(), "12 ERROR lines")
        _wait(lambda: _attrs(engine, names["exited"])["State"]["Status"] == "exited", "exited")
        yield {"names": names, "run_id": run_id, "labels": ["runbook.ops.test=1", "runbook.ops.run=" + run_id]}
    finally:
        for container in engine.containers.list(all=True, filters={"label": "runbook.ops.run=" + run_id}):
            container.remove(force=True)


def _by_name(result):
    return {c["name"]: c for c in result["checks"]}


def test_healthy_container_is_ok(fleet):
    name = fleet["names"]["healthy"]
    result = run_module("container_check", {"names": [name]})
    checks = _by_name(result)
    assert result["status"] == "ok", result["summary"]
    assert result["changed"] is False
    assert set(checks) == {"container.%s.%s" % (name, part) for part in ("state", "health", "restarts", "log_errors")}
    assert checks["container.%s.state" % name]["value"]["status"] == "running"
    assert checks["container.%s.health" % name]["value"]["status"] == "healthy"
    assert checks["container.%s.log_errors" % name]["value"]["count"] == 0
    metrics = result["metrics"]
    assert metrics['container_up{container="%s"}' % name] == 1.0
    assert metrics['container_healthy{container="%s"}' % name] == 1.0
    assert metrics['container_restarts_total{container="%s"}' % name] == 0.0
    assert metrics['container_log_errors{container="%s"}' % name] == 0.0
    assert metrics["docker_up"] == 1.0


def test_unhealthy_container_is_critical_with_probe_output(fleet):
    name = fleet["names"]["unhealthy"]
    result = run_module("container_check", {"names": [name]})
    health = _by_name(result)["container.%s.health" % name]
    assert health["status"] == "critical"
    assert health["severity"] == "P1"
    assert "unhealthy" in health["message"] and "probe says no" in health["message"]
    assert result["status"] == "critical" and result["severity"] == "P1"
    assert result["metrics"]['container_healthy{container="%s"}' % name] == 0.0


def test_restart_loop_is_critical(fleet):
    name = fleet["names"]["loop"]
    result = run_module("container_check", {"names": [name]})
    restarts = _by_name(result)["container.%s.restarts" % name]
    assert restarts["status"] == "critical"
    assert restarts["message"].startswith("restart loop:")
    assert restarts["value"]["restart_count"] >= 2
    assert restarts["value"]["restart_policy"] == "always"
    assert result["status"] == "critical"
    assert result["metrics"]['container_restarts_total{container="%s"}' % name] >= 2


def test_twelve_error_lines_are_a_warning(fleet):
    name = fleet["names"]["errors"]
    result = run_module("container_check", {"names": [name], "sample_lines": 3})
    logs = _by_name(result)["container.%s.log_errors" % name]
    assert logs["status"] == "warning", logs
    assert logs["value"]["count"] == 12
    assert logs["value"]["sample"] == ["ERROR failed job 10", "ERROR failed job 11", "ERROR failed job 12"]
    assert "warning above 10" in logs["message"]
    assert result["status"] == "warning" and result["severity"] == "P2"
    assert result["metrics"]['container_log_errors{container="%s"}' % name] == 12.0

    critical = run_module("container_check", {"names": [name], "log_errors_critical": 11})
    assert _by_name(critical)["container.%s.log_errors" % name]["status"] == "critical"

    other = run_module("container_check", {"names": [name], "log_pattern": "^INFO"})
    assert _by_name(other)["container.%s.log_errors" % name]["value"]["count"] == 1
    assert other["status"] == "ok"


def test_exited_container_is_down_with_its_last_logs(fleet):
    name = fleet["names"]["exited"]
    result = run_module("container_check", {"names": [name]})
    checks = _by_name(result)
    state = checks["container.%s.state" % name]
    assert state["status"] == "critical" and state["severity"] == "P0"
    assert "exited with code 3" in state["message"]
    assert state["value"]["exit_code"] == 3
    assert "ERROR cannot read config" in state["value"]["last_logs"]
    assert "container.%s.health" % name not in checks
    assert result["metrics"]['container_up{container="%s"}' % name] == 0.0
    assert result["severity"] == "P0"


def test_label_selection_finds_every_test_container(fleet):
    result = run_module("container_check", {"labels": fleet["labels"]})
    states = {c["name"] for c in result["checks"] if c["name"].endswith(".state")}
    assert states == {"container.%s.state" % n for n in fleet["names"].values()}
    assert result["status"] == "critical" and result["severity"] == "P0"

    running_only = run_module("container_check", {"labels": fleet["labels"], "include_stopped": False})
    running_states = {c["name"] for c in running_only["checks"] if c["name"].endswith(".state")}
    assert "container.%s.state" % fleet["names"]["exited"] not in running_states
    assert "container.%s.state" % fleet["names"]["healthy"] in running_states


def test_labels_matching_nothing_are_down(fleet):
    result = run_module("container_check", {"labels": ["runbook.ops.run=nothing-%s" % fleet["run_id"]]})
    assert [c["name"] for c in result["checks"]] == ["containers.selected"]
    assert result["checks"][0]["severity"] == "P0"


def test_missing_named_container_is_critical_p0(fleet):
    missing = "rbops-missing-%s" % fleet["run_id"]
    result = run_module("container_check", {"names": [missing, fleet["names"]["healthy"]]})
    state = _by_name(result)["container.%s.state" % missing]
    assert state["status"] == "critical" and state["severity"] == "P0"
    assert "not found" in state["message"]
    assert result["severity"] == "P0"
    assert result["metrics"]['container_up{container="%s"}' % missing] == 0.0
    assert _by_name(result)["container.%s.state" % fleet["names"]["healthy"]]["status"] == "ok"


def test_unreachable_engine_is_a_down_check_not_a_failure():
    result = run_module("container_check", {"docker_host": "unix:///nonexistent.sock", "names": ["anything"],
                                            "timeout": 5})
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert [c["name"] for c in result["checks"]] == ["docker.engine"]
    message = result["checks"][0]["message"]
    assert message.startswith("docker engine unreachable: ")
    assert "/nonexistent.sock" in message and "Traceback" not in message
    assert "exception" not in result
    assert result["metrics"] == {"docker_up": 0.0}


def test_docker_host_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent-env.sock")
    result = run_module("container_check", {"names": ["anything"], "timeout": 5})
    assert result["checks"][0]["message"] == "docker engine unreachable: no Docker socket at /nonexistent-env.sock"


def test_refused_tcp_engine_is_a_down_check():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_module("container_check", {"docker_host": "tcp://127.0.0.1:%d" % port, "names": ["x"], "timeout": 5})
    assert result["checks"][0]["name"] == "docker.engine"
    assert "connection refused" in result["checks"][0]["message"]


def test_check_mode_gives_the_same_result(fleet):
    args = {"names": [fleet["names"]["healthy"], fleet["names"]["errors"], fleet["names"]["exited"]]}
    real = run_module("container_check", args)
    checked = run_module("container_check", args, check_mode=True)
    assert checked["changed"] is False
    assert [(c["name"], c["status"]) for c in checked["checks"]] == [(c["name"], c["status"]) for c in real["checks"]]
    assert checked["status"] == real["status"] and checked["severity"] == real["severity"]


def test_bad_input_fails_with_a_clear_message():
    with pytest.raises(ModuleFailed, match="one of the following is required: names, labels"):
        run_module("container_check", {})
    with pytest.raises(ModuleFailed, match="names and/or labels"):
        run_module("container_check", {"names": [], "labels": []})
    with pytest.raises(ModuleFailed, match="invalid log_pattern"):
        run_module("container_check", {"names": ["x"], "log_pattern": "ERROR("})
    with pytest.raises(ModuleFailed, match="docker_host must look like"):
        run_module("container_check", {"names": ["x"], "docker_host": "/var/run/docker.sock"})
    with pytest.raises(ModuleFailed, match="parameters are required together: client_cert, client_key"):
        run_module("container_check", {"names": ["x"], "docker_host": "tcp://127.0.0.1:2376",
                                       "client_cert": "/etc/hostname"})


ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def test_through_ansible_playbook_with_module_defaults(fleet, tmp_path):
    """AnsiballZ, the argument spec and its declared rules for real: the engine comes from
    module_defaults of the runbook.ops.docker group, a missing selector is the declared rule's error."""
    name = fleet["names"]["healthy"]
    out = tmp_path / "result.json"
    playbook = tmp_path / "containers.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/runbook.ops.docker:
      docker_host: unix:///var/run/docker.sock
  tasks:
    - runbook.ops.container_check:
        names: [%s]
      register: checked
    - runbook.ops.container_check: {}
      register: no_selector
      ignore_errors: true
    - ansible.builtin.copy:
        content: "{{ {'checked': checked, 'no_selector': no_selector} | to_json }}"
        dest: %s
""" % (name, out))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    run = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "--limit", "localhost", str(playbook)],
                         cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())
    checked = results["checked"]
    assert checked["status"] == "ok" and checked["changed"] is False, checked
    assert "container.%s.health" % name in [c["name"] for c in checked["checks"]]
    assert results["no_selector"]["failed"] is True
    assert "one of the following is required: names, labels" in results["no_selector"]["msg"]
