"""redis_check's runner with a client that cannot connect (no server)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.redis import argspec, check_runner
from ansible_collections.runbook.ops.plugins.module_utils.redis.client import RespAuthError, RespConnectionError

# The options as the module hands them over: the argument spec's defaults, a password set.
PARAMS = dict({name: option.get("default") for name, option in argspec.redis_check_argspec()["argument_spec"].items()},
              login_host="127.0.0.1", login_password="pw-secret")


class _FailingClient:
    def __init__(self, error, **kwargs):
        self.error = error
        self.kwargs = kwargs

    def connect(self):
        raise self.error

    def close(self):
        pass


@pytest.mark.parametrize("error, message", [
    (RespConnectionError("refused", "connection refused by 127.0.0.1:6379"), "connection refused by 127.0.0.1:6379"),
    (RespConnectionError("timeout", "timed out after 5s talking to 127.0.0.1:6379"), "timed out after 5s"),
    (RespAuthError("authentication failed: wrong password"), "authentication failed: wrong password"),
])
def test_unreachable_is_down_p0_and_nothing_else(error, message):
    result = check_runner.probe(PARAMS, client_factory=lambda **kw: _FailingClient(error, **kw))
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert [c["name"] for c in result["checks"]] == ["redis.ping"]
    assert message in result["checks"][0]["message"]
    assert result["metrics"] == {"redis_up": 0}
    assert "pw-secret" not in json.dumps(result)
