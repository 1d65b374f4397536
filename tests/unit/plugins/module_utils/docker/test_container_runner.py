"""container_runner: containers selected and read through a fake SDK client."""

from __future__ import annotations

import calendar
import copy

from ansible_collections.runbook.ops.plugins.module_utils.docker import container_runner
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import APIError, EngineUnreachable, NotFound

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


def test_check_containers_with_unreachable_connector():
    def connector(params):
        raise EngineUnreachable("connection refused by tcp://127.0.0.1:9")

    result = container_runner.check_containers({"names": ["api"]}, NOW, connector)
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["summary"] == "containers: docker.engine docker engine unreachable: connection refused by tcp://127.0.0.1:9"


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
            raise NotFound("No such container: %s" % name)
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
    result = container_runner.check_containers(PARAMS, NOW, lambda params: client)
    names = [c["name"] for c in result["checks"]]
    assert names == ["container.finchat-api.%s" % p for p in ("state", "health", "restarts", "log_errors")]
    assert result["checks"][-1]["value"]["count"] == 2 and result["checks"][-1]["value"]["lines_read"] == 3
    assert api.log_calls == [{"stdout": True, "stderr": True, "stream": False, "tail": 100,
                              "since": int(NOW - 86400)}]
    assert client.closed


def test_check_containers_log_driver_without_reading_is_a_warning():
    error = APIError("501", explanation="configured logging driver does not support reading")
    client = FakeClient(FakeContainers({"finchat-api": FakeContainer(RUNNING, log_error=error)}))
    result = container_runner.check_containers(PARAMS, NOW, lambda params: client)
    logs = result["checks"][-1]
    assert logs["status"] == "warning"
    assert logs["message"] == "cannot read logs: configured logging driver does not support reading"
    assert 'container_log_errors{container="finchat-api"}' not in result["metrics"]


def test_check_containers_engine_api_error_is_critical_not_down():
    error = APIError("500 Server Error", explanation="internal error")
    client = FakeClient(FakeContainers({}, get_error=error))
    result = container_runner.check_containers(PARAMS, NOW, lambda params: client)
    assert [(c["name"], c["status"], c["severity"]) for c in result["checks"]] == [("docker.engine", "critical", "P1")]
    assert result["checks"][0]["message"] == "docker engine error: internal error"


def test_check_containers_by_label_deduplicates_named_ones():
    api = FakeContainer(RUNNING)
    worker_attrs = copy.deepcopy(RUNNING)
    worker_attrs.update(Id="99aa", Name="/finchat-worker")
    containers = FakeContainers({"finchat-api": api}, listed=[api, FakeContainer(worker_attrs)])
    params = dict(PARAMS, labels=["com.docker.compose.project=finchat"], check_logs=False)
    result = container_runner.check_containers(params, NOW, lambda params: FakeClient(containers))
    states = [c["name"] for c in result["checks"] if c["name"].endswith(".state")]
    assert states == ["container.finchat-api.state", "container.finchat-worker.state"]
    assert containers.filters == (True, {"label": ["com.docker.compose.project=finchat"]})
    assert not any(c["name"].endswith(".log_errors") for c in result["checks"])
