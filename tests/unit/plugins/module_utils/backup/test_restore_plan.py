"""Unit tests for plugins/module_utils/backup/restore_plan.py: restore plans, scratch names, what needs decompressing."""

from __future__ import annotations


import pytest

from ansible_collections.runbook.ops.plugins.module_utils.backup import restore_plan


# ---------------------------------------------------------------------------------------------
# restore plans
# ---------------------------------------------------------------------------------------------

def test_plan_restore_new_database():
    plan = restore_plan.plan_restore("app", False, 0, 0, swap=False, force=False, stamp="S")
    assert plan["refused"] is None and plan["create"] and plan["restore_into"] == "app"


def test_plan_restore_empty_existing():
    plan = restore_plan.plan_restore("app", True, 0, 0, swap=False, force=False, stamp="S")
    assert plan["refused"] is None and not plan["create"]


def test_plan_restore_refuses_non_empty_without_force():
    plan = restore_plan.plan_restore("app", True, 5, 0, swap=False, force=False, stamp="S")
    assert "not empty" in plan["refused"]
    forced = restore_plan.plan_restore("app", True, 5, 0, swap=False, force=True, stamp="S")
    assert forced["refused"] is None and forced["drop_first"]


def test_plan_restore_swap():
    plan = restore_plan.plan_restore("app", True, 5, 0, swap=True, force=False, stamp="20261122T000000Z")
    assert plan["restore_into"] == "app_restore_20261122T000000Z"
    assert plan["rename_old_to"] == "app_before_20261122T000000Z"
    busy = restore_plan.plan_restore("app", True, 5, 2, swap=True, force=False, stamp="S")
    assert "2 open connection" in busy["refused"]
    forced = restore_plan.plan_restore("app", True, 5, 2, swap=True, force=True, stamp="S")
    assert forced["terminate"] and forced["refused"] is None


def test_plan_restore_name_limits():
    assert restore_plan.plan_restore("x" * 64, False, 0, 0, False, False, "S")["refused"]
    assert "too long" in restore_plan.plan_restore("x" * 50, False, 0, 0, True, False, "20261122T000000Z")["refused"]


def test_scratch_name_fits():
    name = restore_plan.scratch_name("d" * 80, "20261122T000000Z")
    assert len(name) <= 63 and name.endswith("_verify_20261122t000000z")


@pytest.mark.parametrize("fmt, compression, expected", [
    ("custom", "zstd", True), ("custom", "gzip", True), ("custom", "none", False),
    ("directory", "zstd", True), ("directory", "gzip", False), ("directory", "none", False),
    ("tar", "zstd", False),
])
def test_needs_decompression(fmt, compression, expected):
    assert restore_plan.needs_decompression({"format": fmt, "compression": compression}) is expected
