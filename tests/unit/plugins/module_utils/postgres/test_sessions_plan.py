"""Choosing the long sessions to stop and the pg_terminate result, from recorded rows; no server."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres import sessions_plan


ACTIVITY = [
    {"pid": 10, "user": "app", "application": "web", "database": "app", "state": "active", "duration_seconds": 900.0},
    {"pid": 11, "user": "replicator", "application": "", "database": "app", "state": "active", "duration_seconds": 900.0},
    {"pid": 12, "user": "app", "application": "nightly", "database": "app", "state": "active", "duration_seconds": 900.0},
    {"pid": 13, "user": "app", "application": "web", "database": "app", "state": "idle", "duration_seconds": 900.0},
    {"pid": 14, "user": "app", "application": "web", "database": "app", "state": "idle in transaction",
     "duration_seconds": 400.0},
    {"pid": 15, "user": "app", "application": "web", "database": "other", "state": "active", "duration_seconds": 900.0},
    {"pid": 16, "user": "app", "application": "web", "database": "app", "state": "active", "duration_seconds": 5.0},
]


def test_select_sessions():
    chosen = sessions_plan.select_sessions(ACTIVITY, 300, sessions_plan.DEFAULT_STATES, exclude_users=["replicator"],
                                           exclude_applications=["nightly"], databases=["app"], own_pid=10)
    assert [r["pid"] for r in chosen] == [14]
    assert [r["pid"] for r in sessions_plan.select_sessions(ACTIVITY, 300, ["active"])] == [10, 11, 12, 15]


def test_still_running():
    before = {"pid": 1, "backend_start": "b", "xact_start": "x", "query_start": "q"}
    aborted = {"pid": 1, "backend_start": "b", "state": "idle in transaction (aborted)", "xact_start": None,
               "query_start": "q"}
    assert sessions_plan.still_running(before, [aborted], sessions_plan.DEFAULT_STATES)
    assert not sessions_plan.still_running(before, [dict(aborted, state="idle")], sessions_plan.DEFAULT_STATES)
    assert not sessions_plan.still_running(before, [dict(aborted, query_start="q2")], sessions_plan.DEFAULT_STATES)
    assert not sessions_plan.still_running(before, [dict(aborted, backend_start="other")], sessions_plan.DEFAULT_STATES)
    assert not sessions_plan.still_running(before, [], sessions_plan.DEFAULT_STATES)


def test_terminate_result():
    found = [dict(ACTIVITY[0], outcome="terminated"), dict(ACTIVITY[4], outcome="cancelled"),
             dict(ACTIVITY[2], outcome="failed", error="permission denied")]
    res = sessions_plan.terminate_result(found, False, 300, 5, True)
    statuses = {c["name"]: c["status"] for c in res["checks"]}
    assert statuses == {"postgres.long_sessions": "ok", "postgres.session.10": "ok", "postgres.session.14": "ok",
                        "postgres.session.12": "critical"}
    planned = sessions_plan.terminate_result([dict(ACTIVITY[0])], True, 300, 5, True)
    assert planned["status"] == "warning" and "would cancel" in planned["checks"][1]["message"]


@pytest.mark.parametrize("change, message", [
    ({"min_duration": -1}, "min_duration must not be negative, got -1"),
    ({"grace_seconds": -0.5}, "grace_seconds must be at least 0 and at most 3600 seconds, got -0.5"),
    # the grace wait is bounded
    ({"grace_seconds": 1e9}, "grace_seconds must be at least 0 and at most 3600 seconds, got 1000000000.0"),
    ({"grace_seconds": float("inf")}, "grace_seconds must be at least 0 and at most 3600 seconds, got inf"),
    ({"states": []}, "states must not be empty"),
    ({"query_chars": 0}, "query_chars must be at least 1, got 0"),
])
def test_validate_params(change, message):
    params = {"min_duration": 300.0, "grace_seconds": 5.0, "states": list(sessions_plan.DEFAULT_STATES),
              "query_chars": 200}
    assert sessions_plan.validate_params(params) is None
    assert sessions_plan.validate_params(dict(params, **change)) == message
