"""container_plan: container health decided on recorded ``docker inspect`` data."""

from __future__ import annotations

import calendar
import copy
import re

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.docker import container_plan
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import DockerClientError

NOW = float(calendar.timegm((2026, 11, 22, 12, 0, 0)))

# Recorded from `docker inspect` (trimmed to what the checks read).
RUNNING = {
    "Id": "4f1c2a9d0e3b7c55aa",
    "Name": "/finchat-api",
    "RestartCount": 0,
    "State": {
        "Status": "running", "Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
        "Dead": False, "Pid": 4242, "ExitCode": 0, "Error": "",
        "StartedAt": "2026-11-22T09:00:00.123456789Z", "FinishedAt": "0001-01-01T00:00:00Z",
        "Health": {"Status": "healthy", "FailingStreak": 0, "Log": [
            {"Start": "2026-11-22T11:59:50Z", "End": "2026-11-22T11:59:50Z", "ExitCode": 0, "Output": "ok"}]},
    },
    "HostConfig": {"RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}},
    "Config": {"Image": "finchat-sec-qa-api:1.4.2", "Labels": {"com.docker.compose.project": "finchat"}},
}


def variant(**state):
    attrs = copy.deepcopy(RUNNING)
    restart_count = state.pop("RestartCount", None)
    if restart_count is not None:
        attrs["RestartCount"] = restart_count
    attrs["State"].update(state)
    return attrs


def test_parse_docker_time():
    assert container_plan.parse_docker_time("2026-11-22T09:00:00.123456789Z") == pytest.approx(NOW - 3 * 3600 + 0.123456789)
    assert container_plan.parse_docker_time("2026-11-22T10:00:00+01:00") == NOW - 3 * 3600
    assert container_plan.parse_docker_time("0001-01-01T00:00:00Z") is None
    assert container_plan.parse_docker_time("") is None and container_plan.parse_docker_time("yesterday") is None


def test_running_healthy_container():
    state = container_plan.state_check("finchat-api", RUNNING, NOW)
    assert state["status"] == "ok" and state["message"] == "running for 3.0h"
    assert state["value"]["image"] == "finchat-sec-qa-api:1.4.2"
    health = container_plan.health_check("finchat-api", RUNNING)
    assert health["name"] == "container.finchat-api.health" and health["status"] == "ok"
    restarts = container_plan.restarts_check("finchat-api", RUNNING, NOW, 3, 10)
    assert restarts["status"] == "ok" and restarts["message"] == "0 restarts (policy unless-stopped)"
    metrics = container_plan.container_metrics("finchat-api", RUNNING, 2)
    assert metrics == {'container_up{container="finchat-api"}': 1.0, 'container_restarts_total{container="finchat-api"}': 0.0,
                       'container_healthy{container="finchat-api"}': 1.0,
                       'container_log_errors{container="finchat-api"}': 2.0}


def test_exited_container_is_down_with_details():
    attrs = variant(Status="exited", Running=False, ExitCode=137, OOMKilled=True,
                    FinishedAt="2026-11-22T11:55:00Z")
    state = container_plan.state_check("finchat-api", attrs, NOW, last_logs=["ERROR out of memory"])
    assert state["status"] == "critical" and state["severity"] == "P0"
    assert state["message"] == "not running: exited with code 137 5m ago (OOM killed)"
    assert state["value"]["last_logs"] == ["ERROR out of memory"]
    assert container_plan.health_check("finchat-api", attrs) is None  # stale health of a stopped container is not reported
    assert container_plan.container_metrics("finchat-api", attrs, None) == {
        'container_up{container="finchat-api"}': 0.0, 'container_restarts_total{container="finchat-api"}': 0.0}


@pytest.mark.parametrize("status, expected, severity, text", [
    ("dead", "critical", "P0", "not running: dead with code 0"),
    ("created", "critical", "P0", "not running: created but never started"),
    ("paused", "warning", "P2", "paused"),
    ("restarting", "critical", "P1", "restarting (exit code 0, 0 restarts)"),
])
def test_other_states(status, expected, severity, text):
    attrs = variant(Status=status, Running=status == "restarting", Restarting=status == "restarting")
    state = container_plan.state_check("c", attrs, NOW)
    assert (state["status"], state["severity"]) == (expected, severity)
    assert state["message"].startswith(text)


def test_engine_error_text_is_kept():
    attrs = variant(Status="created", Running=False, Error="OCI runtime create failed: exec: \"nope\": not found")
    assert container_plan.state_check("c", attrs, NOW)["message"].endswith(': OCI runtime create failed: exec: "nope": not found')


def test_health_statuses():
    unhealthy = variant(Health={"Status": "unhealthy", "FailingStreak": 4, "Log": [
        {"ExitCode": 1, "Output": "curl: (7) Failed to connect to localhost port 8000\n"}]})
    check = container_plan.health_check("api", unhealthy)
    assert check["status"] == "critical" and check["severity"] == "P1"
    assert check["message"] == "unhealthy (4 failing probes in a row): curl: (7) Failed to connect to localhost port 8000"
    starting = container_plan.health_check("api", variant(Health={"Status": "starting", "FailingStreak": 0, "Log": []}))
    assert starting["status"] == "warning"
    none = container_plan.health_check("api", variant(Health=None))
    assert none["status"] == "ok" and none["value"] == {"status": "none"}
    assert 'container_healthy{container="api"}' not in container_plan.container_metrics("api", variant(Health=None), None)


def test_restart_thresholds_and_loops():
    assert container_plan.restarts_check("c", variant(RestartCount=3), NOW, 3, 10)["status"] == "warning"
    assert container_plan.restarts_check("c", variant(RestartCount=10), NOW, 3, 10)["status"] == "critical"
    restarting = variant(RestartCount=5, Status="restarting", Restarting=True, ExitCode=1,
                         StartedAt="2026-11-22T11:59:58Z")
    loop = container_plan.restarts_check("c", restarting, NOW, 3, 10)
    assert loop["status"] == "critical"
    assert loop["message"] == "restart loop: 5 restarts, exit code 1 (last start 2s ago)"
    recently = variant(RestartCount=2, StartedAt="2026-11-22T11:58:00Z")
    assert container_plan.restarts_check("c", recently, NOW, 3, 10, loop_seconds=300)["message"].startswith("restart loop")
    settled = variant(RestartCount=2, StartedAt="2026-11-22T10:00:00Z")
    assert container_plan.restarts_check("c", settled, NOW, 3, 10, loop_seconds=300)["status"] == "ok"
    once = variant(RestartCount=1, StartedAt="2026-11-22T11:59:00Z")
    assert container_plan.restarts_check("c", once, NOW, 3, 10)["status"] == "ok"


def test_log_errors_check():
    lines = ["INFO ok"] + ["ERROR job %d" % i for i in range(12)]
    check = container_plan.log_errors_check("api", lines, re.compile("ERROR"), 24, 10, None, 10000, sample_lines=2)
    assert check["status"] == "warning"
    assert check["message"] == "12 log lines match 'ERROR' in the last 24h (warning above 10)"
    assert check["value"]["sample"] == ["ERROR job 10", "ERROR job 11"]
    capped = container_plan.log_errors_check("api", lines, re.compile("ERROR"), 1.5, 10, 11, len(lines))
    assert capped["status"] == "critical"
    assert capped["message"].endswith("(critical above 11) (read only the last 13 lines)")
    unreadable = container_plan.log_errors_check("api", None, re.compile("ERROR"), 24, 10, None, 100,
                                                 error='configured logging driver does not support reading')
    assert unreadable["status"] == "warning" and unreadable["value"]["count"] is None


def test_engine_down_check():
    down = container_plan.engine_down_check("no Docker socket at /x.sock")
    assert down == {"name": "docker.engine", "status": "critical", "value": None, "threshold": None,
                    "message": "docker engine unreachable: no Docker socket at /x.sock", "severity": "P0"}


def test_normalize_container_params():
    sel = container_plan.normalize_container_params({"names": ["/api", " "], "labels": ["com.docker.compose.project=finchat"]})
    assert sel["names"] == ["api"] and sel["pattern"].pattern == "ERROR"
    with pytest.raises(DockerClientError, match="names and/or labels"):
        container_plan.normalize_container_params({"names": [], "labels": []})
    with pytest.raises(DockerClientError, match="needs a key"):
        container_plan.normalize_container_params({"labels": ["=x"]})
    with pytest.raises(DockerClientError, match="restarts_warning"):
        container_plan.normalize_container_params({"names": ["a"], "restarts_warning": 5, "restarts_critical": 2})
