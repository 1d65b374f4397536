"""Unit tests for plugins/module_utils/backup/retention_plan.py: which backups the rules keep and delete."""

from __future__ import annotations

import datetime
import itertools

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import retention_plan


NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)
RULES = {"daily": {"keep_days": 30}, "weekly": {"keep_days": 90}, "monthly": {"keep_count": 3}}


def make(kind, age_days, state, database="app", index=0):
    """A backup record ``age_days`` old; state is verified, corrupt, unchecked or incomplete."""
    ts = NOW - datetime.timedelta(days=age_days, seconds=index)
    return {
        "name": "%s/%s-%s-%d.dump.zst" % (kind, database, catalog_plan.format_ts(ts), index),
        "kind": kind,
        "database": database,
        "timestamp": ts,
        "complete": state != "incomplete",
        "verified": {"verified": True, "corrupt": False, "unchecked": None, "incomplete": False}[state],
    }


# ---------------------------------------------------------------------------------------------
# retention
# ---------------------------------------------------------------------------------------------

def test_normalize_rules_defaults_and_errors():
    assert retention_plan.normalize_rules(None)["daily"] == {"keep_days": 30.0, "keep_count": None}
    with pytest.raises(ValueError, match="unknown keys"):
        retention_plan.normalize_rules({"daily": {"keep": 3}})
    with pytest.raises(ValueError, match="keep_count"):
        retention_plan.normalize_rules({"daily": {"keep_count": 0}})
    with pytest.raises(ValueError, match="numbers"):
        retention_plan.normalize_rules({"daily": {"keep_days": "soon"}})
    with pytest.raises(ValueError, match="mapping"):
        retention_plan.normalize_rules({"daily": 3})
    with pytest.raises(ValueError):
        retention_plan.normalize_rules({"../x": {}})


def test_daily_keeps_30_days():
    backups = [make("daily", age, "verified", index=i) for i, age in enumerate([0.5, 10, 29.9, 30.1, 60])]
    keep, delete, reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert delete == [backups[4]["name"], backups[3]["name"]]
    assert set(keep) == {b["name"] for b in backups[:3]}
    assert "keep 30 days" in reasons[backups[3]["name"]]


def test_weekly_keeps_90_days_and_monthly_by_count():
    weekly = [make("weekly", age, "verified", index=i) for i, age in enumerate([7, 80, 91, 200])]
    monthly = [make("monthly", age, "verified", index=i) for i, age in enumerate([30, 60, 90, 120, 900])]
    keep, delete, reasons = retention_plan.plan_retention(weekly + monthly, RULES, NOW)
    assert set(delete) == {weekly[2]["name"], weekly[3]["name"], monthly[3]["name"], monthly[4]["name"]}
    assert "number 4 of monthly (keep 3)" in reasons[monthly[3]["name"]]


def test_every_backup_but_the_newest_corrupt():
    backups = [make("daily", 0.2, "verified", index=0)] + [make("daily", age, "corrupt", index=i)
                                                           for i, age in enumerate([1, 2, 40, 50], 1)]
    keep, delete, reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert backups[0]["name"] in keep
    assert "never deleted" in reasons[backups[0]["name"]]
    assert set(delete) == {backups[3]["name"], backups[4]["name"]}
    assert "CORRUPT" in reasons[backups[3]["name"]]


def test_newest_corrupt_keeps_newest_verified_even_when_expired():
    backups = [make("daily", 1, "corrupt", index=0), make("daily", 45, "verified", index=1),
               make("daily", 60, "verified", index=2)]
    keep, delete, reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert backups[1]["name"] in keep, reasons
    assert delete == [backups[2]["name"]]
    assert "newest verified" in reasons[backups[1]["name"]]


def test_newest_corrupt_with_count_rule():
    backups = [make("monthly", 1, "corrupt", index=0), make("monthly", 31, "corrupt", index=1),
               make("monthly", 62, "corrupt", index=2), make("monthly", 93, "verified", index=3),
               make("monthly", 124, "verified", index=4)]
    keep, delete, _reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert backups[3]["name"] in keep
    assert delete == [backups[4]["name"]]


def test_all_expired_keeps_newest_verified():
    backups = [make("daily", age, "verified", index=i) for i, age in enumerate([40, 50, 60])]
    keep, delete, _reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert keep == [backups[0]["name"]]


def test_all_corrupt_are_deleted_by_rules():
    backups = [make("daily", age, "corrupt", index=i) for i, age in enumerate([1, 40])]
    keep, delete, _reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert keep == [backups[0]["name"]] and delete == [backups[1]["name"]]


def test_incomplete_backups():
    backups = [make("daily", 0.01, "incomplete", index=0), make("daily", 1, "verified", index=1),
               make("daily", 2, "incomplete", index=2), make("daily", 3, "verified", index=3)]
    keep, delete, reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert delete == [backups[2]["name"]]
    assert "may be in progress" in reasons[backups[0]["name"]]


def test_only_incomplete_are_kept():
    backups = [make("daily", age, "incomplete", index=i) for i, age in enumerate([1, 100])]
    keep, delete, _reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert delete == [] and len(keep) == 2


def test_kind_without_rule_is_kept():
    backups = [make("manual", 1000, "verified", index=0), make("manual", 2000, "corrupt", index=1)]
    keep, delete, reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert delete == []
    assert "no retention rule" in reasons[backups[1]["name"]]


def test_groups_are_per_database():
    backups = [make("daily", 40, "verified", database="a"), make("daily", 50, "verified", database="b"),
               make("daily", 60, "verified", database="b", index=1)]
    keep, delete, _reasons = retention_plan.plan_retention(backups, RULES, NOW)
    assert set(keep) == {backups[0]["name"], backups[1]["name"]}
    assert delete == [backups[2]["name"]]


def test_both_rules_apply():
    rules = {"daily": {"keep_days": 30, "keep_count": 2}}
    backups = [make("daily", age, "verified", index=i) for i, age in enumerate([1, 2, 3, 40])]
    keep, delete, reasons = retention_plan.plan_retention(backups, rules, NOW)
    assert set(delete) == {backups[2]["name"], backups[3]["name"]}
    assert "keep 30 days" in reasons[backups[3]["name"]] and "keep 2" in reasons[backups[3]["name"]]


def _oracle(group, rule):
    """The retention rules restated independently for one (kind, database) group."""
    complete = sorted((b for b in group if b["complete"]), key=lambda b: b["timestamp"], reverse=True)
    protected = next((b for b in complete if b["verified"] is True), None) or \
        next((b for b in complete if b["verified"] is None), None)
    expected = {}
    for b in group:
        if not b["complete"]:
            expected[b["name"]] = any(c["timestamp"] > b["timestamp"] for c in complete)
            continue
        if protected is not None and b["name"] == protected["name"]:
            expected[b["name"]] = False
            continue
        if rule is None:
            expected[b["name"]] = False
            continue
        age = (NOW - b["timestamp"]).total_seconds() / 86400
        rank = complete.index(b) + 1
        expected[b["name"]] = bool((rule.get("keep_days") is not None and age > rule["keep_days"])
                                   or (rule.get("keep_count") is not None and rank > rule["keep_count"]))
    return expected


STATES = ("verified", "corrupt", "unchecked", "incomplete")
AGES = (0.5, 20, 45, 100, 400)


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly", "manual"])
def test_retention_matrix(kind):
    """Every combination of three backups' ages and states, for every kind."""
    options = list(itertools.product(AGES, STATES))
    for combo in itertools.product(options, repeat=3):
        group = [make(kind, age, state, index=i) for i, (age, state) in enumerate(combo)]
        keep, delete, reasons = retention_plan.plan_retention(group, RULES, NOW)
        names = {b["name"] for b in group}
        assert set(keep) | set(delete) == names and not set(keep) & set(delete)
        assert set(reasons) == names
        expected = _oracle(group, RULES.get(kind))
        assert {n for n, d in expected.items() if d} == set(delete), combo
        verified = [b for b in group if b["verified"] is True]
        if verified:
            newest = max(verified, key=lambda b: b["timestamp"])
            assert newest["name"] in keep, combo


def test_retention_matrix_mixed_kinds():
    """Kinds never influence each other: planning together equals planning separately."""
    for daily_state, weekly_state, monthly_state in itertools.product(STATES, repeat=3):
        backups = []
        for kind, state in (("daily", daily_state), ("weekly", weekly_state), ("monthly", monthly_state)):
            backups += [make(kind, age, state if i == 0 else "verified", index=i) for i, age in enumerate(AGES)]
        keep, delete, _reasons = retention_plan.plan_retention(backups, RULES, NOW)
        for kind in ("daily", "weekly", "monthly"):
            part = [b for b in backups if b["kind"] == kind]
            pk, pd, _reasons = retention_plan.plan_retention(part, RULES, NOW)
            assert set(pk) <= set(keep) and set(pd) <= set(delete)


def test_freshness_and_newest_complete():
    backups = [make("daily", 2, "verified", index=0), make("daily", 1, "incomplete", index=1),
               make("weekly", 3, "corrupt", index=2)]
    newest = retention_plan.newest_complete(backups)
    assert newest[("daily", "app")]["name"] == backups[0]["name"]
    assert newest[("weekly", "app")]["name"] == backups[2]["name"]
    assert retention_plan.freshness(None, NOW) is None
    assert retention_plan.freshness(NOW - datetime.timedelta(hours=3), NOW) == 3 * 3600
