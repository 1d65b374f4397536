"""Lock chains and index findings of pg_diagnostics, from recorded rows; no server."""

from __future__ import annotations

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
