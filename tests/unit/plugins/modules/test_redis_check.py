"""runbook.ops.redis_check: bad input fails the module with a message that names the option."""

from __future__ import annotations

import pytest

from utils.run import ModuleFailed, run_module


def test_bad_input_fails_the_module_with_a_clear_message():
    with pytest.raises(ModuleFailed) as info:
        run_module("redis_check", {"port": 6379, "memory_warning": 150})
    assert "memory_warning is a percentage between 0 and 100, got 150" in info.value.result["msg"]


def test_a_user_needs_a_password():
    with pytest.raises(ModuleFailed) as info:
        run_module("redis_check", {"login_user": "monitor"})
    assert "login_user" in info.value.result["msg"] and "login_password" in info.value.result["msg"]
