"""Lock chains and index findings of pg_diagnostics, from recorded rows; no server."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres import diagnostics_plan


def test_lock_chains():
    blocked = [{"pid": 2, "blocked_by": [1]}, {"pid": 3, "blocked_by": [1, 2]}, {"pid": 5, "blocked_by": [4]}]
    graph = diagnostics_plan.lock_chains(blocked)
    assert graph["edges"] == [[1, 2], [1, 3], [2, 3], [4, 5]]
    assert graph["roots"] == [1, 4]
    assert graph["chains"] == [{"blocker": 1, "blocked": [2, 3]}, {"blocker": 4, "blocked": [5]}]
    cycle = diagnostics_plan.lock_chains([{"pid": 1, "blocked_by": [2]}, {"pid": 2, "blocked_by": [1]}])
    assert cycle["roots"] == [] and cycle["chains"] == [{"blocker": None, "blocked": [1, 2]}]


def test_duplicate_and_unused_indexes():
    base = {"schema": "s", "table": "t", "table_oid": 1, "indkey": "2", "indclass": "1978", "indcollation": "0",
            "exprs": "", "pred": "", "amname": "btree", "is_unique": False, "is_primary": False, "is_valid": True,
            "backs_constraint": False, "idx_scan": 0, "bytes": 8192}
    defs = [dict(base, name="a"), dict(base, name="b"), dict(base, name="c", pred="(x > 1)"),
            dict(base, name="pk", is_primary=True, is_unique=True, backs_constraint=True, indkey="1"),
            dict(base, name="used", indkey="3", idx_scan=5)]
    assert diagnostics_plan.duplicate_indexes(defs) == [["s.a", "s.b"]]
    assert [u["index"] for u in diagnostics_plan.unused_indexes(defs)] == ["s.a", "s.b", "s.c"]
    assert diagnostics_plan.unused_indexes(defs, min_bytes=10000) == []


@pytest.mark.parametrize("change, message", [
    ({"top": 0}, "top and query_chars must be at least 1"),
    ({"query_chars": 0}, "top and query_chars must be at least 1"),
    ({"index_bloat_ratio": 3}, "index_bloat_ratio must be between 0 and 1, got 3"),
    ({"statement_timeout": -1}, "statement_timeout must not be negative, got -1"),
])
def test_validate_params(change, message):
    params = {"top": 10, "query_chars": 300, "table_bloat_ratio": 0.5, "index_bloat_ratio": 0.3,
              "statement_timeout": 30.0}
    assert diagnostics_plan.validate_params(params) is None
    assert diagnostics_plan.validate_params(dict(params, **change)) == message


def test_blocking_is_a_warning_then_critical_after_the_limit():
    blocked = [{"pid": 2, "blocked_by": [1], "wait_seconds": 12.0}, {"pid": 3, "blocked_by": [2], "wait_seconds": 3.0}]
    graph = diagnostics_plan.lock_chains(blocked)
    result = diagnostics_plan.blocking_check(blocked, graph, 60)
    assert result["status"] == "warning" and result["value"] == 2
    assert result["message"] == "2 blocked sessions, longest wait 12s: pid 1 blocks 2, 3"
    assert diagnostics_plan.blocking_check(blocked, graph, 10)["status"] == "critical"
    none = diagnostics_plan.blocking_check([], diagnostics_plan.lock_chains([]), 60)
    assert none["status"] == "ok" and none["message"] == "no session waits on another"


def test_transactions_and_slow_queries():
    rows = [{"pid": 1, "state": "active", "xact_seconds": 400.0, "query_seconds": 9.0},
            {"pid": 2, "state": "idle in transaction", "xact_seconds": 500.0, "query_seconds": 500.0},
            {"pid": 3, "state": "active", "xact_seconds": 1.0, "query_seconds": 1.0}]
    checks, metrics, details = diagnostics_plan.transaction_checks(rows, 300, 5)
    assert [(c["name"], c["status"], c["value"]) for c in checks] == [
        ("postgres.long_transactions", "warning", 2), ("postgres.slow_queries", "warning", 1)]
    assert checks[1]["message"] == "1 active query running longer than 5s"
    assert metrics == {"pg_long_transactions": 2, "pg_slow_queries": 1}
    assert [r["pid"] for r in details["slow_queries"]] == [1]


def test_connections_and_top_queries():
    result, metrics, details = diagnostics_plan.connections_check({"active": 85, "idle": 5}, 100, 80, 95)
    assert result["status"] == "warning" and result["value"] == 90.0
    assert metrics == {'pg_connections{state="active"}': 85, 'pg_connections{state="idle"}': 5}
    assert details == {"by_state": {"active": 85, "idle": 5}, "total": 90, "max_connections": 100}
    top = [{"mean_ms": 6000.0}, {"mean_ms": 10.0}]
    assert diagnostics_plan.top_queries_check(top, 5)["message"] == "1 of the top 2 queries average >= 5s"
    assert diagnostics_plan.top_queries_check(top[1:], 5)["status"] == "ok"
    assert "CREATE EXTENSION" in diagnostics_plan.pgss_missing_check("app")["message"]


def test_bloat_checks_report_invalid_indexes():
    index = {"schema": "s", "name": "i_ccnew", "table": "t", "amname": "btree", "is_valid": False,
             "index_bytes": 8192}
    checks, details = diagnostics_plan.bloat_checks([], [index], {"block_size": "8192"}, {})
    assert [(c["name"], c["status"]) for c in checks] == [
        ("postgres.table_bloat", "ok"), ("postgres.index_bloat", "ok"), ("postgres.invalid_indexes", "warning")]
    assert details == {"table_bloat": [], "index_bloat": [], "invalid_indexes": ["s.i_ccnew"]}
