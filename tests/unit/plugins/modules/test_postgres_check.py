"""runbook.ops.postgres_check as a module: the missing driver and bad input fail the task cleanly."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres import client
from utils.run import ModuleFailed, run_module


def test_missing_psycopg2_fails_with_missing_required_lib(monkeypatch):
    monkeypatch.setattr(client, "HAS_PSYCOPG2", False)
    with pytest.raises(ModuleFailed) as info:
        run_module("postgres_check", {"login_host": "127.0.0.1"})
    assert "Failed to import the required Python library (psycopg2)" in info.value.result["msg"]


def test_bad_input_fails_the_module_with_a_clear_message():
    with pytest.raises(ModuleFailed) as info:
        run_module("postgres_check", {"login_host": "127.0.0.1", "connections_warning": 150})
    assert info.value.result["msg"] == "connections_warning is a percentage between 0 and 100, got 150.0"
    with pytest.raises(ModuleFailed) as info:
        run_module("postgres_check", {"checks": ["vacuum"]})
    assert "checks" in info.value.result["msg"] and "vacuum" in info.value.result["msg"]
