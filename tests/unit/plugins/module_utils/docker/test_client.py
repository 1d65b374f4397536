"""Pure parts of docker_client: options, error wording, container decisions on recorded inspect data."""

from __future__ import annotations

import calendar
import copy
import re

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.docker import client as dc

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
    assert dc.parse_docker_time("2026-11-22T09:00:00.123456789Z") == pytest.approx(NOW - 3 * 3600 + 0.123456789)
    assert dc.parse_docker_time("2026-11-22T10:00:00+01:00") == NOW - 3 * 3600
    assert dc.parse_docker_time("0001-01-01T00:00:00Z") is None
    assert dc.parse_docker_time("") is None and dc.parse_docker_time("yesterday") is None


def test_running_healthy_container():
    state = dc.state_check("finchat-api", RUNNING, NOW)
    assert state["status"] == "ok" and state["message"] == "running for 3.0h"
    assert state["value"]["image"] == "finchat-sec-qa-api:1.4.2"
    health = dc.health_check("finchat-api", RUNNING)
    assert health["name"] == "container.finchat-api.health" and health["status"] == "ok"
    restarts = dc.restarts_check("finchat-api", RUNNING, NOW, 3, 10)
    assert restarts["status"] == "ok" and restarts["message"] == "0 restarts (policy unless-stopped)"
    metrics = dc.container_metrics("finchat-api", RUNNING, 2)
    assert metrics == {'container_up{container="finchat-api"}': 1.0, 'container_restarts{container="finchat-api"}': 0.0,
                       'container_healthy{container="finchat-api"}': 1.0,
                       'container_log_errors{container="finchat-api"}': 2.0}


def test_exited_container_is_down_with_details():
    attrs = variant(Status="exited", Running=False, ExitCode=137, OOMKilled=True,
                    FinishedAt="2026-11-22T11:55:00Z")
    state = dc.state_check("finchat-api", attrs, NOW, last_logs=["ERROR out of memory"])
    assert state["status"] == "critical" and state["severity"] == "P0"
    assert state["message"] == "not running: exited with code 137 5m ago (OOM killed)"
    assert state["value"]["last_logs"] == ["ERROR out of memory"]
    assert dc.health_check("finchat-api", attrs) is None  # stale health of a stopped container is not reported
    assert dc.container_metrics("finchat-api", attrs, None) == {
        'container_up{container="finchat-api"}': 0.0, 'container_restarts{container="finchat-api"}': 0.0}


@pytest.mark.parametrize("status, expected, severity, text", [
    ("dead", "critical", "P0", "not running: dead with code 0"),
    ("created", "critical", "P0", "not running: created but never started"),
    ("paused", "warning", "P2", "paused"),
    ("restarting", "critical", "P1", "restarting (exit code 0, 0 restarts)"),
])
def test_other_states(status, expected, severity, text):
    attrs = variant(Status=status, Running=status == "restarting", Restarting=status == "restarting")
    state = dc.state_check("c", attrs, NOW)
    assert (state["status"], state["severity"]) == (expected, severity)
    assert state["message"].startswith(text)


def test_engine_error_text_is_kept():
    attrs = variant(Status="created", Running=False, Error="OCI runtime create failed: exec: \"nope\": not found")
    assert dc.state_check("c", attrs, NOW)["message"].endswith(': OCI runtime create failed: exec: "nope": not found')


def test_health_statuses():
    unhealthy = variant(Health={"Status": "unhealthy", "FailingStreak": 4, "Log": [
        {"ExitCode": 1, "Output": "curl: (7) Failed to connect to localhost port 8000\n"}]})
    check = dc.health_check("api", unhealthy)
    assert check["status"] == "critical" and check["severity"] == "P1"
    assert check["message"] == "unhealthy (4 failing probes in a row): curl: (7) Failed to connect to localhost port 8000"
    starting = dc.health_check("api", variant(Health={"Status": "starting", "FailingStreak": 0, "Log": []}))
    assert starting["status"] == "warning"
    none = dc.health_check("api", variant(Health=None))
    assert none["status"] == "ok" and none["value"] == {"status": "none"}
    assert 'container_healthy{container="api"}' not in dc.container_metrics("api", variant(Health=None), None)


def test_restart_thresholds_and_loops():
    assert dc.restarts_check("c", variant(RestartCount=3), NOW, 3, 10)["status"] == "warning"
    assert dc.restarts_check("c", variant(RestartCount=10), NOW, 3, 10)["status"] == "critical"
    restarting = variant(RestartCount=5, Status="restarting", Restarting=True, ExitCode=1,
                         StartedAt="2026-11-22T11:59:58Z")
    loop = dc.restarts_check("c", restarting, NOW, 3, 10)
    assert loop["status"] == "critical"
    assert loop["message"] == "restart loop: 5 restarts, exit code 1 (last start 2s ago)"
    recently = variant(RestartCount=2, StartedAt="2026-11-22T11:58:00Z")
    assert dc.restarts_check("c", recently, NOW, 3, 10, loop_seconds=300)["message"].startswith("restart loop")
    settled = variant(RestartCount=2, StartedAt="2026-11-22T10:00:00Z")
    assert dc.restarts_check("c", settled, NOW, 3, 10, loop_seconds=300)["status"] == "ok"
    once = variant(RestartCount=1, StartedAt="2026-11-22T11:59:00Z")
    assert dc.restarts_check("c", once, NOW, 3, 10)["status"] == "ok"


def test_log_errors_check():
    lines = ["INFO ok"] + ["ERROR job %d" % i for i in range(12)]
    check = dc.log_errors_check("api", lines, re.compile("ERROR"), 24, 10, None, 10000, sample_lines=2)
    assert check["status"] == "warning"
    assert check["message"] == "12 log lines match 'ERROR' in the last 24h (warning above 10)"
    assert check["value"]["sample"] == ["ERROR job 10", "ERROR job 11"]
    capped = dc.log_errors_check("api", lines, re.compile("ERROR"), 1.5, 10, 11, len(lines))
    assert capped["status"] == "critical"
    assert capped["message"].endswith("(critical above 11) (read only the last 13 lines)")
    unreadable = dc.log_errors_check("api", None, re.compile("ERROR"), 24, 10, None, 100,
                                     error='configured logging driver does not support reading')
    assert unreadable["status"] == "warning" and unreadable["value"]["count"] is None


def test_client_kwargs():
    assert dc.client_kwargs({"docker_host": "unix:///var/run/docker.sock", "api_version": "auto", "timeout": 30}) == {
        "base_url": "unix:///var/run/docker.sock", "version": "auto", "timeout": 30}
    tls = dc.client_kwargs({"docker_host": "tcp://10.0.0.5:2376", "validate_certs": True, "ca_path": "/etc/hostname"})
    assert tls["tls"] == {"client_cert": None, "ca_cert": "/etc/hostname", "verify": True}
    with pytest.raises(dc.DockerClientError, match="docker_host must look like"):
        dc.client_kwargs({"docker_host": "docker.sock"})
    with pytest.raises(dc.DockerClientError, match="together"):
        dc.client_kwargs({"docker_host": "tcp://h:2376", "client_key": "/etc/hostname"})
    with pytest.raises(dc.DockerClientError, match="not a readable file"):
        dc.client_kwargs({"docker_host": "tcp://h:2376", "ca_path": "/nonexistent/ca.pem"})
    with pytest.raises(dc.DockerClientError, match="tcp:// engines only"):
        dc.client_kwargs({"docker_host": "unix:///var/run/docker.sock", "tls": True})
    with pytest.raises(dc.DockerClientError, match="timeout must be positive"):
        dc.client_kwargs({"docker_host": "unix:///x.sock", "timeout": 0})


@pytest.mark.parametrize("text, expected", [
    ("Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or "
     "directory'))", "no Docker socket at /var/run/docker.sock"),
    ("('Connection aborted.', PermissionError(13, 'Permission denied'))",
     "permission denied on /var/run/docker.sock (is the user in the docker group?)"),
])
def test_describe_error_unix(text, expected):
    assert dc.describe_error(Exception(text), "unix:///var/run/docker.sock") == expected


def test_describe_error_tcp():
    refused = "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded ([Errno 111] Connection refused)"
    assert dc.describe_error(Exception(refused), "tcp://127.0.0.1:1") == "connection refused by tcp://127.0.0.1:1"
    assert dc.describe_error(Exception("Read timed out. (read timeout=5)"), "tcp://h:2375", 5) == \
        "no answer from tcp://h:2375 within 5s"
    assert dc.describe_error(Exception("x" * 1000), "tcp://h").endswith("...")


def test_engine_down_check():
    down = dc.engine_down_check("no Docker socket at /x.sock")
    assert down == {"name": "docker.engine", "status": "critical", "value": None, "threshold": None,
                    "message": "docker engine unreachable: no Docker socket at /x.sock", "severity": "P0"}


def test_connect_to_missing_socket_raises_engine_unreachable():
    with pytest.raises(dc.EngineUnreachable, match="no Docker socket at /nonexistent.sock"):
        dc.connect({"docker_host": "unix:///nonexistent.sock", "timeout": 5})


def test_normalize_container_params():
    sel = dc.normalize_container_params({"names": ["/api", " "], "labels": ["com.docker.compose.project=finchat"]})
    assert sel["names"] == ["api"] and sel["pattern"].pattern == "ERROR"
    with pytest.raises(dc.DockerClientError, match="names and/or labels"):
        dc.normalize_container_params({"names": [], "labels": []})
    with pytest.raises(dc.DockerClientError, match="needs a key"):
        dc.normalize_container_params({"labels": ["=x"]})
    with pytest.raises(dc.DockerClientError, match="restarts_warning"):
        dc.normalize_container_params({"names": ["a"], "restarts_warning": 5, "restarts_critical": 2})


def test_check_containers_with_unreachable_connector():
    def connector(params):
        raise dc.EngineUnreachable("connection refused by tcp://127.0.0.1:9")

    result = dc.check_containers({"names": ["api"]}, NOW, connector)
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["summary"] == "containers: docker.engine docker engine unreachable: connection refused by tcp://127.0.0.1:9"


def test_docker_argument_spec_matches_the_doc_fragment():
    import yaml

    from ansible_collections.runbook.ops.plugins.doc_fragments.docker import ModuleDocFragment

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = dc.docker_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name


class FakeContainer:
    def __init__(self, attrs, logs=b"", log_error=None):
        self.attrs = attrs
        self.id = attrs["Id"]
        self._logs = logs
        self._log_error = log_error
        self.log_calls = []

    def logs(self, **kwargs):
        self.log_calls.append(kwargs)
        if self._log_error:
            raise self._log_error
        return self._logs


class FakeContainers:
    def __init__(self, by_name, listed=(), get_error=None):
        self.by_name = by_name
        self.listed = list(listed)
        self.get_error = get_error
        self.filters = None

    def get(self, name):
        if self.get_error:
            raise self.get_error
        if name not in self.by_name:
            raise dc.docker.errors.NotFound("No such container: %s" % name)
        return self.by_name[name]

    def list(self, all=False, filters=None):  # noqa: A002 - the SDK's keyword
        self.filters = (all, filters)
        return self.listed


class FakeClient:
    def __init__(self, containers):
        self.containers = containers
        self.closed = False

    def close(self):
        self.closed = True


PARAMS = {"names": ["finchat-api"], "labels": [], "restarts_warning": 3, "restarts_critical": 10,
          "restart_loop_seconds": 300.0, "check_logs": True, "log_pattern": "ERROR", "log_since_hours": 24.0,
          "log_max_lines": 100, "log_errors_warning": 10, "log_errors_critical": None, "sample_lines": 5,
          "include_stopped": True}


def test_check_containers_reads_logs_within_the_window():
    api = FakeContainer(RUNNING, logs=b"INFO a\nERROR b\r\nERROR c\n\n")
    client = FakeClient(FakeContainers({"finchat-api": api}))
    result = dc.check_containers(PARAMS, NOW, lambda params: client)
    names = [c["name"] for c in result["checks"]]
    assert names == ["container.finchat-api.%s" % p for p in ("state", "health", "restarts", "log_errors")]
    assert result["checks"][-1]["value"]["count"] == 2 and result["checks"][-1]["value"]["lines_read"] == 3
    assert api.log_calls == [{"stdout": True, "stderr": True, "stream": False, "tail": 100,
                              "since": int(NOW - 86400)}]
    assert client.closed


def test_check_containers_log_driver_without_reading_is_a_warning():
    error = dc.docker.errors.APIError("501", explanation="configured logging driver does not support reading")
    client = FakeClient(FakeContainers({"finchat-api": FakeContainer(RUNNING, log_error=error)}))
    result = dc.check_containers(PARAMS, NOW, lambda params: client)
    logs = result["checks"][-1]
    assert logs["status"] == "warning"
    assert logs["message"] == "cannot read logs: configured logging driver does not support reading"
    assert 'container_log_errors{container="finchat-api"}' not in result["metrics"]


def test_check_containers_engine_api_error_is_critical_not_down():
    error = dc.docker.errors.APIError("500 Server Error", explanation="internal error")
    client = FakeClient(FakeContainers({}, get_error=error))
    result = dc.check_containers(PARAMS, NOW, lambda params: client)
    assert [(c["name"], c["status"], c["severity"]) for c in result["checks"]] == [("docker.engine", "critical", "P1")]
    assert result["checks"][0]["message"] == "docker engine error: internal error"


def test_check_containers_by_label_deduplicates_named_ones():
    api = FakeContainer(RUNNING)
    worker_attrs = copy.deepcopy(RUNNING)
    worker_attrs.update(Id="99aa", Name="/finchat-worker")
    containers = FakeContainers({"finchat-api": api}, listed=[api, FakeContainer(worker_attrs)])
    params = dict(PARAMS, labels=["com.docker.compose.project=finchat"], check_logs=False)
    result = dc.check_containers(params, NOW, lambda params: FakeClient(containers))
    states = [c["name"] for c in result["checks"] if c["name"].endswith(".state")]
    assert states == ["container.finchat-api.state", "container.finchat-worker.state"]
    assert containers.filters == (True, {"label": ["com.docker.compose.project=finchat"]})
    assert not any(c["name"].endswith(".log_errors") for c in result["checks"])
