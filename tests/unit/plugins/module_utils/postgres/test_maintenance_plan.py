"""Pure planner decisions with recorded pg_stat / pg_class rows; no server."""

from __future__ import annotations

import pytest
from psycopg2 import sql

from ansible_collections.runbook.ops.plugins.module_utils.postgres import bloat_plan, maintenance_plan

SETTINGS = {"autovacuum_vacuum_threshold": "50", "autovacuum_vacuum_scale_factor": "0.2",
            "autovacuum_analyze_threshold": "50", "autovacuum_analyze_scale_factor": "0.1", "block_size": "8192"}

# Recorded from PostgreSQL 15 (catalog_runner.TABLES_SQL) after heavy updates and deletes.
BLOATED = {"schema": "select", "name": 'we"ird tab', "reltuples": 50000.0, "reloptions": ["autovacuum_enabled=false"],
           "n_live_tup": 5000, "n_dead_tup": 145000, "n_mod_since_analyze": 195000,
           "vacuum_age_seconds": 3.2, "analyze_age_seconds": 3.1, "table_bytes": 13615104, "total_bytes": 25501696,
           "row_width": 37.0, "locked": False}
CLEAN = {"schema": "public", "name": "clean_one", "reltuples": 5000.0, "reloptions": None,
         "n_live_tup": 5000, "n_dead_tup": 0, "n_mod_since_analyze": 0, "vacuum_age_seconds": 10.0,
         "analyze_age_seconds": 10.0, "table_bytes": 229376, "total_bytes": 360448, "row_width": 6.0, "locked": False}
# An index after vacuum: 40000 rows in 1.2 MB would need ~0.1 MB.
BLOATED_INDEX = {"schema": "select", "name": "Mixed Idx", "table": 'we"ird tab', "is_valid": True, "is_unique": False,
                 "is_primary": False, "is_partial": False, "amname": "btree", "reloptions": None,
                 "index_reltuples": 4000.0, "table_reltuples": 4000.0, "index_bytes": 4915200,
                 "is_exclusion": False, "reindex_in_progress": False, "key_width": 33.0, "max_null_frac": 0.0}
LEAN_INDEX = dict(BLOATED_INDEX, name="lean", index_bytes=8192 * 30, table_reltuples=4000.0)
LEFTOVER = dict(BLOATED_INDEX, name="Mixed Idx_ccnew", is_valid=False)
LEFTOVER_OLD = dict(BLOATED_INDEX, name="Mixed Idx_ccold1", is_valid=False)
FAILED_CIC = dict(BLOATED_INDEX, name="built_concurrently_failed", is_valid=False)


def cfg(**kw):
    return maintenance_plan.normalize_config(kw)


def test_split_qualified_hostile_names():
    assert maintenance_plan.split_qualified("orders") == ("public", "orders")
    assert maintenance_plan.split_qualified('select.we"ird tab') == ("select", 'we"ird tab')
    assert maintenance_plan.split_qualified("Mixed Case.Orders Table") == ("Mixed Case", "Orders Table")
    assert maintenance_plan.split_qualified('"my.schema"."a""b"') == ("my.schema", 'a"b')
    for bad in ("", ".x", "x.", '"open', '"a"b.c'):
        with pytest.raises(maintenance_plan.PlanError):
            maintenance_plan.split_qualified(bad)


def test_config_validation():
    with pytest.raises(maintenance_plan.PlanError, match="maintenance_window"):
        cfg(operations=["vacuum_full"])
    with pytest.raises(maintenance_plan.PlanError, match="dead_tuple_ratio"):
        cfg(dead_tuple_ratio=1.5)
    with pytest.raises(maintenance_plan.PlanError, match="unknown operations"):
        cfg(operations=["truncate"])
    assert cfg(operations=["vacuum_full"], maintenance_window=True)["operations"] == ["vacuum_full"]


def test_autovacuum_limits_use_reloptions_over_settings():
    limits = maintenance_plan.autovacuum_limits(CLEAN, SETTINGS)
    assert limits == {"vacuum": 50 + 0.2 * 5000, "analyze": 50 + 0.1 * 5000}
    tuned = dict(CLEAN, reloptions=["autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_threshold=10"])
    assert maintenance_plan.autovacuum_limits(tuned, SETTINGS)["vacuum"] == 10 + 0.01 * 5000
    never = dict(CLEAN, reltuples=-1.0)
    assert maintenance_plan.autovacuum_limits(never, SETTINGS)["vacuum"] == 50


def test_table_decisions():
    needs = maintenance_plan.table_needs(BLOATED, cfg(), SETTINGS)
    assert needs["vacuum"] and needs["analyze"] and not needs["vacuum_full"]
    assert any("autovacuum limit 10050" in r for r in needs["vacuum"])
    assert maintenance_plan.table_needs(CLEAN, cfg(), SETTINGS) == {"vacuum": [], "analyze": [], "vacuum_full": []}
    # Just under autovacuum's threshold but over the ratio rule.
    ratio = dict(CLEAN, n_dead_tup=1040, n_live_tup=4000)
    assert maintenance_plan.table_needs(ratio, cfg(autovacuum_rule=False), SETTINGS)["vacuum"] == ["dead tuple ratio 20.6% >= 20.0%"]
    assert maintenance_plan.table_needs(ratio, cfg(autovacuum_rule=False, min_dead_tuples=5000), SETTINGS)["vacuum"] == []
    old = dict(CLEAN, n_dead_tup=3, vacuum_age_seconds=10 * 86400)
    assert maintenance_plan.table_needs(old, cfg(vacuum_max_age_hours=168), SETTINGS)["vacuum"]
    assert not maintenance_plan.table_needs(old, cfg(), SETTINGS)["vacuum"]
    never = dict(CLEAN, analyze_age_seconds=None)
    assert maintenance_plan.table_needs(never, cfg(), SETTINGS)["analyze"] == ["never analyzed"]
    full = maintenance_plan.table_needs(BLOATED, cfg(operations=["vacuum_full"], maintenance_window=True), SETTINGS)
    assert full["vacuum_full"] and "approximate" in full["vacuum_full"][0]


def test_bloat_estimates():
    assert bloat_plan.estimate_btree_bloat(BLOATED_INDEX) > 0.9
    assert bloat_plan.estimate_btree_bloat(LEAN_INDEX) == 0.0
    assert bloat_plan.estimate_btree_bloat(dict(BLOATED_INDEX, key_width=None)) is None
    assert bloat_plan.estimate_table_bloat(BLOATED) > 0.9
    assert bloat_plan.estimate_table_bloat(CLEAN) < 0.2
    assert bloat_plan.estimate_table_bloat(dict(CLEAN, row_width=None)) is None


def test_plan_order_and_actions():
    planned = maintenance_plan.plan(
        [CLEAN, BLOATED], [LEAN_INDEX, BLOATED_INDEX, LEFTOVER, LEFTOVER_OLD, FAILED_CIC],
        cfg(operations=["vacuum", "analyze", "reindex", "drop_invalid_indexes"], min_index_size=0), SETTINGS)
    assert [(p["action"], p["name"]) for p in planned] == [
        ("drop_invalid_index", "Mixed Idx_ccnew"), ("drop_invalid_index", "Mixed Idx_ccold1"),
        ("reindex_index", "Mixed Idx"), ("vacuum_analyze", 'we"ird tab')]
    # A leftover whose REINDEX is still running is left alone.
    busy = dict(LEFTOVER, reindex_in_progress=True)
    assert maintenance_plan.plan([], [busy], cfg(), SETTINGS) == []
    # Schema filter.
    assert maintenance_plan.plan([CLEAN, BLOATED], [], cfg(schemas=["public"]), SETTINGS) == []
    # Without reindex in operations no index action.
    assert all(p["kind"] == "table" for p in maintenance_plan.plan([BLOATED], [BLOATED_INDEX], cfg(operations=["vacuum"]), SETTINGS))


def test_explicit_lists():
    planned = maintenance_plan.plan([CLEAN, BLOATED], [BLOATED_INDEX],
                                    cfg(tables=["clean_one"], operations=["vacuum", "reindex"]), SETTINGS)
    assert [(p["action"], p["reason"]) for p in planned] == [("reindex_table", "listed in tables"),
                                                             ("vacuum", "listed in tables")]
    planned = maintenance_plan.plan([], [BLOATED_INDEX], cfg(indexes=["select.Mixed Idx"], operations=["reindex"]),
                                    SETTINGS)
    assert [p["action"] for p in planned] == ["reindex_index"]
    with pytest.raises(maintenance_plan.PlanError, match="public.nope does not exist"):
        maintenance_plan.plan([CLEAN], [], cfg(tables=["nope"]), SETTINGS)
    with pytest.raises(maintenance_plan.PlanError, match="exclusion"):
        maintenance_plan.plan([], [dict(BLOATED_INDEX, is_exclusion=True)],
                              cfg(indexes=["select.Mixed Idx"], operations=["reindex"]), SETTINGS)


def test_statements_quote_identifiers_with_psycopg2_sql():
    action = {"action": "vacuum_analyze", "schema": "select", "name": 'we"ird tab'}
    composed = maintenance_plan.statement(action)
    assert isinstance(composed, sql.Composed)
    ident = [part for part in composed.seq if isinstance(part, sql.Identifier)]
    assert ident[0].strings == ("select", 'we"ird tab')
    assert composed.seq[0].string == "VACUUM (ANALYZE) "
    for name in ("vacuum", "analyze", "vacuum_full", "vacuum_full_analyze", "reindex_index", "reindex_table",
                 "drop_invalid_index"):
        assert isinstance(maintenance_plan.statement(dict(action, action=name)), sql.Composed)
    with pytest.raises(maintenance_plan.PlanError):
        maintenance_plan.statement(dict(action, action="truncate"))
    assert maintenance_plan.check_name(action) == 'postgres.vacuum_analyze.select.we"ird tab'


def test_results():
    item = {"kind": "table", "action": "vacuum", "schema": "public", "name": "t", "table": "t", "reason": "r",
            "sql": 'VACUUM "public"."t"'}
    planned = maintenance_plan.plan_result([item], "app")
    assert planned["status"] == "ok" and planned["plan"][0]["sql"] == 'VACUUM "public"."t"' and planned["actions"] == []
    done = [dict(item, status="done", attempts=1, duration_seconds=0.1, size_before=100, size_after=40),
            dict(item, name="u", status="skipped", attempts=3, duration_seconds=6.0, size_before=None, size_after=None,
                 error="lock timeout"),
            dict(item, name="v", status="failed", attempts=1, duration_seconds=0.1, size_before=None, size_after=None,
                 error="boom")]
    res = maintenance_plan.run_result([item], done, "app")
    statuses = {c["name"]: c["status"] for c in res["checks"]}
    assert statuses == {"postgres.maintenance": "ok", "postgres.vacuum.public.t": "ok",
                        "postgres.vacuum.public.u": "warning", "postgres.vacuum.public.v": "critical"}
    assert res["status"] == "critical" and res["severity"] == "P1"
    assert res["metrics"]['pg_maintenance_reclaimed_bytes{database="app"}'] == 60


def test_no_reindex_of_a_table_rewritten_by_vacuum_full():
    config = cfg(operations=["vacuum", "vacuum_full", "reindex"], maintenance_window=True,
                 min_table_size=0, min_index_size=0)
    planned = maintenance_plan.plan([BLOATED], [BLOATED_INDEX], config, SETTINGS)
    assert [p["action"] for p in planned] == ["vacuum_full"]


TOAST_INDEX = dict(LEAN_INDEX, schema="pg_toast", name="pg_toast_16390_index", table="pg_toast_16390",
                   key_width=None, owner_schema="select", owner_table='we"ird tab')
OTHER_SCHEMA_INDEX = dict(LEAN_INDEX, schema="public", name="clean_one_pkey", table="clean_one")
EXCLUSION_INDEX = dict(LEAN_INDEX, name="no_overlap", is_exclusion=True)


def test_reindex_database_is_one_concurrent_reindex_per_valid_index():
    rows = [TOAST_INDEX, LEAN_INDEX, BLOATED_INDEX, OTHER_SCHEMA_INDEX, EXCLUSION_INDEX, LEFTOVER, FAILED_CIC]
    config = cfg(operations=["reindex", "drop_invalid_indexes"], reindex_database=True)
    planned = maintenance_plan.plan([], rows, config, SETTINGS)
    assert [(p["action"], p["schema"], p["name"]) for p in planned] == [
        ("drop_invalid_index", "select", "Mixed Idx_ccnew"),
        ("reindex_index", "public", "clean_one_pkey"),
        ("reindex_index", "select", "Mixed Idx"),
        ("reindex_index", "select", "lean"),
        ("reindex_index", "pg_toast", "pg_toast_16390_index")]
    assert planned[-1]["reason"] == 'reindex_database (TOAST index of select.we"ird tab)'
    # schemas limits it by the owning table's schema, TOAST indexes included.
    only = maintenance_plan.plan([], rows, cfg(operations=["reindex"], reindex_database=True, schemas=["select"]), SETTINGS)
    assert [p["name"] for p in only] == ["Mixed Idx", "lean", "pg_toast_16390_index"]
    # A table rewritten by VACUUM FULL in the same run keeps its fresh indexes.
    full = maintenance_plan.plan([BLOATED], rows, cfg(operations=["vacuum_full", "reindex"], maintenance_window=True,
                                                      min_table_size=0, reindex_database=True), SETTINGS)
    assert [p["name"] for p in full] == ['we"ird tab', "clean_one_pkey"]
    # Without reindex_database a TOAST index (no statistics) is never picked by bloat.
    assert [p["name"] for p in maintenance_plan.plan([], rows, cfg(operations=["reindex"], min_index_size=0), SETTINGS)] == [
        "Mixed Idx"]


def test_reindex_runs_before_the_vacuum_of_the_same_table():
    other = dict(BLOATED, schema="public", name="other")
    other_index = dict(BLOATED_INDEX, schema="public", name="other_idx", table="other")
    lone_index = dict(BLOATED_INDEX, schema="public", name="lone_idx", table="lone")
    planned = maintenance_plan.plan([BLOATED, other], [lone_index, BLOATED_INDEX, other_index, TOAST_INDEX],
                                    cfg(operations=["vacuum", "analyze", "reindex"], reindex_database=True), SETTINGS)
    assert [p["name"] for p in planned] == [
        "Mixed Idx", "pg_toast_16390_index", 'we"ird tab', "other_idx", "other", "lone_idx"]


def test_reindex_database_config_errors():
    with pytest.raises(maintenance_plan.PlanError, match="needs reindex"):
        cfg(operations=["vacuum"], reindex_database=True)
    with pytest.raises(maintenance_plan.PlanError, match="do not combine"):
        cfg(operations=["reindex"], reindex_database=True, tables=["t"])


@pytest.mark.parametrize("change, message", [
    ({"lock_timeout": 0}, "lock_timeout must be positive, got 0"),
    ({"statement_timeout": -1}, "statement_timeout must not be negative, got -1"),
    ({"lock_retries": 0}, "lock_retries must be at least 1, got 0"),
    ({"retry_backoff": -1}, "retry_backoff must not be negative, got -1"),
])
def test_validate_run_options(change, message):
    params = {"lock_timeout": 2.0, "statement_timeout": 0.0, "lock_retries": 3, "retry_backoff": 1.0}
    assert maintenance_plan.validate_run_options(params) is None
    assert maintenance_plan.validate_run_options(dict(params, **change)) == message
