"""The shared result schema: status ordering, thresholds, severity, summary, metric keys."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.common import result as r


def test_worst_orders_ok_warning_critical():
    assert r.worst([]) == "ok"
    assert r.worst(["ok", "warning", "ok"]) == "warning"
    assert r.worst(["warning", "critical", "ok"]) == "critical"


def test_worst_severity_prefers_p0():
    assert r.worst_severity(["P2", "P0", "P1"]) == "P0"
    assert r.worst_severity([None, None]) == "P3"


@pytest.mark.parametrize(
    "value,expected",
    [(None, "ok"), (79.9, "ok"), (80, "warning"), (89.99, "warning"), (90, "critical"), (120, "critical")],
)
def test_level_high_boundaries_count_as_crossed(value, expected):
    assert r.level_high(value, 80, 90) == expected


@pytest.mark.parametrize("value,expected", [(45, "ok"), (30, "ok"), (29, "warning"), (7, "warning"), (6.9, "critical"), (-1, "critical")])
def test_level_low_for_days_to_expiry(value, expected):
    assert r.level_low(value, 30, 7) == expected


def test_disabled_thresholds_never_fire():
    assert r.level_high(10**9, None, None) == "ok"
    assert r.level_low(-5, None, None) == "ok"


def test_threshold_check_message_names_the_crossed_threshold():
    item = r.threshold_check("disk./", 91.234, 80, 90, unit="%", what="disk /")
    assert item["status"] == "critical"
    assert item["severity"] == "P1"
    assert item["message"] == "disk / at 91.23% (critical >= 90%)"
    assert item["threshold"] == {"warning": 80, "critical": 90}
    low = r.threshold_check("tls.site", 20, 30, 7, unit=" days", higher_is_worse=False)
    assert low["status"] == "warning" and "(warning < 30 days)" in low["message"]


def test_down_is_p0_critical():
    item = r.down("redis.ping", "connection refused")
    assert (item["status"], item["severity"]) == ("critical", "P0")


def test_check_rejects_unknown_status_and_severity():
    with pytest.raises(ValueError):
        r.check("x", "fine")
    with pytest.raises(ValueError):
        r.check("x", "ok", severity="P9")


def test_build_summarises_failures_and_takes_worst_severity():
    res = r.build(
        [r.check("a", "ok"), r.down("redis.ping", "connection refused"), r.check("q", "warning", "depth 150")],
        {"redis_up": 0},
        subject="redis",
    )
    assert res["schema"] == r.SCHEMA
    assert res["status"] == "critical"
    assert res["severity"] == "P0"
    assert res["summary"] == "redis: redis.ping connection refused; q depth 150"
    assert res["metrics"] == {"redis_up": 0}
    assert r.is_result(res)


def test_build_all_ok_is_p3_and_counts_checks():
    res = r.build([r.check("a", "ok"), r.check("b", "ok")], subject="http")
    assert (res["status"], res["severity"], res["summary"]) == ("ok", "P3", "http: 2 checks ok")
    assert r.build([], subject="logs")["summary"] == "logs: nothing to check"


def test_failure_lines_filters_by_minimum():
    res = r.build([r.check("a", "warning", "slow"), r.down("b", "refused"), r.check("c", "ok")])
    assert r.failure_lines(res) == ["critical b: refused"]
    assert r.failure_lines(res, minimum="warning", prefix="web1: ") == [
        "web1: warning a: slow",
        "web1: critical b: refused",
    ]


def test_metric_key_labels_are_sorted_and_escaped():
    assert r.metric_key("up") == "up"
    assert r.metric_key("lat", b="2", a='x"y') == 'lat{a="x\\"y",b="2"}'
    with pytest.raises(ValueError):
        r.metric_key("bad-name")
    with pytest.raises(ValueError):
        r.metric_key("ok", **{"bad-label": 1})


def test_is_result_rejects_foreign_dicts():
    assert not r.is_result({"status": "ok"})
    assert not r.is_result("ok")
