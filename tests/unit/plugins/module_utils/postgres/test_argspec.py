"""The shared argument spec of the PostgreSQL modules and the checks it cannot declare."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, client


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, **params):
        self.params = dict(login_host="localhost", port=5432, connect_timeout=10, login_unix_socket=None, **params)

    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])


def test_module_argspec_extends_the_connection_options_and_rules():
    spec = argspec.module_argspec(dict(top=dict(type="int", default=10)), required_if=[("top", 0, ("x",))],
                                  required_by={"top": ("x",)})
    assert set(client.CONNECTION_ARGUMENT_SPEC) < set(spec["argument_spec"])
    assert spec["argument_spec"]["top"] == {"type": "int", "default": 10}
    assert spec["argument_spec"]["login_password"]["no_log"] is True
    assert spec["required_if"] == [["top", 0, ("x",)]] and spec["required_by"] == {"top": ("x",)}
    assert set(spec) == {"argument_spec", "mutually_exclusive", "required_together", "required_one_of",
                         "required_if", "required_by"}


def test_each_call_is_a_fresh_copy():
    spec = argspec.postgres_argspec_ex()
    spec["argument_spec"]["port"]["default"] = 1
    spec["mutually_exclusive"].append(["a", "b"])
    assert client.CONNECTION_ARGUMENT_SPEC["port"]["default"] == 5432
    assert argspec.postgres_argspec_ex()["mutually_exclusive"] == []


def test_a_module_option_cannot_shadow_a_connection_option():
    with pytest.raises(ValueError, match="port"):
        argspec.module_argspec(dict(port=dict(type="str")))


def test_check_module_input_fails_on_the_first_problem():
    argspec.check_module_input(FakeModule(top=1), lambda params: None)
    with pytest.raises(Failed, match="port must be between 1 and 65535"):
        argspec.check_module_input(_with(port=0))
    with pytest.raises(Failed, match="^top must be positive$"):
        argspec.check_module_input(FakeModule(top=0), lambda params: None if params["top"] else "top must be positive")


def _with(**changes):
    module = FakeModule()
    module.params.update(changes)
    return module
