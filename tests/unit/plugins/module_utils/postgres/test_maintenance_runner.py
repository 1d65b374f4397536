"""Pure planner decisions with recorded pg_stat / pg_class rows; no server."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2 import sql

from ansible_collections.runbook.ops.plugins.module_utils.postgres import maintenance_runner as pm
from ansible_collections.runbook.ops.plugins.module_utils.postgres import sessions_runner as ps

SETTINGS = {"autovacuum_vacuum_threshold": "50", "autovacuum_vacuum_scale_factor": "0.2",
            "autovacuum_analyze_threshold": "50", "autovacuum_analyze_scale_factor": "0.1", "block_size": "8192"}

# Recorded from PostgreSQL 15 (pg_maintenance.TABLES_SQL) after heavy updates and deletes.
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
    return pm.normalize_config(kw)


def test_split_qualified_hostile_names():
    assert pm.split_qualified("orders") == ("public", "orders")
    assert pm.split_qualified('select.we"ird tab') == ("select", 'we"ird tab')
    assert pm.split_qualified("Mixed Case.Orders Table") == ("Mixed Case", "Orders Table")
    assert pm.split_qualified('"my.schema"."a""b"') == ("my.schema", 'a"b')
    for bad in ("", ".x", "x.", '"open', '"a"b.c'):
        with pytest.raises(pm.PlanError):
            pm.split_qualified(bad)


def test_config_validation():
    with pytest.raises(pm.PlanError, match="maintenance_window"):
        cfg(operations=["vacuum_full"])
    with pytest.raises(pm.PlanError, match="dead_tuple_ratio"):
        cfg(dead_tuple_ratio=1.5)
    with pytest.raises(pm.PlanError, match="unknown operations"):
        cfg(operations=["truncate"])
    assert cfg(operations=["vacuum_full"], maintenance_window=True)["operations"] == ["vacuum_full"]


def test_autovacuum_limits_use_reloptions_over_settings():
    limits = pm.autovacuum_limits(CLEAN, SETTINGS)
    assert limits == {"vacuum": 50 + 0.2 * 5000, "analyze": 50 + 0.1 * 5000}
    tuned = dict(CLEAN, reloptions=["autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_threshold=10"])
    assert pm.autovacuum_limits(tuned, SETTINGS)["vacuum"] == 10 + 0.01 * 5000
    never = dict(CLEAN, reltuples=-1.0)
    assert pm.autovacuum_limits(never, SETTINGS)["vacuum"] == 50


def test_table_decisions():
    needs = pm.table_needs(BLOATED, cfg(), SETTINGS)
    assert needs["vacuum"] and needs["analyze"] and not needs["vacuum_full"]
    assert any("autovacuum limit 10050" in r for r in needs["vacuum"])
    assert pm.table_needs(CLEAN, cfg(), SETTINGS) == {"vacuum": [], "analyze": [], "vacuum_full": []}
    # Just under autovacuum's threshold but over the ratio rule.
    ratio = dict(CLEAN, n_dead_tup=1040, n_live_tup=4000)
    assert pm.table_needs(ratio, cfg(autovacuum_rule=False), SETTINGS)["vacuum"] == ["dead tuple ratio 20.6% >= 20.0%"]
    assert pm.table_needs(ratio, cfg(autovacuum_rule=False, min_dead_tuples=5000), SETTINGS)["vacuum"] == []
    old = dict(CLEAN, n_dead_tup=3, vacuum_age_seconds=10 * 86400)
    assert pm.table_needs(old, cfg(vacuum_max_age_hours=168), SETTINGS)["vacuum"]
    assert not pm.table_needs(old, cfg(), SETTINGS)["vacuum"]
    never = dict(CLEAN, analyze_age_seconds=None)
    assert pm.table_needs(never, cfg(), SETTINGS)["analyze"] == ["never analyzed"]
    full = pm.table_needs(BLOATED, cfg(operations=["vacuum_full"], maintenance_window=True), SETTINGS)
    assert full["vacuum_full"] and "approximate" in full["vacuum_full"][0]


def test_bloat_estimates():
    assert pm.estimate_btree_bloat(BLOATED_INDEX) > 0.9
    assert pm.estimate_btree_bloat(LEAN_INDEX) == 0.0
    assert pm.estimate_btree_bloat(dict(BLOATED_INDEX, key_width=None)) is None
    assert pm.estimate_table_bloat(BLOATED) > 0.9
    assert pm.estimate_table_bloat(CLEAN) < 0.2
    assert pm.estimate_table_bloat(dict(CLEAN, row_width=None)) is None


def test_plan_order_and_actions():
    planned = pm.plan([CLEAN, BLOATED], [LEAN_INDEX, BLOATED_INDEX, LEFTOVER, LEFTOVER_OLD, FAILED_CIC],
                      cfg(operations=["vacuum", "analyze", "reindex", "drop_invalid_indexes"], min_index_size=0),
                      SETTINGS)
    assert [(p["action"], p["name"]) for p in planned] == [
        ("drop_invalid_index", "Mixed Idx_ccnew"), ("drop_invalid_index", "Mixed Idx_ccold1"),
        ("reindex_index", "Mixed Idx"), ("vacuum_analyze", 'we"ird tab')]
    # A leftover whose REINDEX is still running is left alone.
    busy = dict(LEFTOVER, reindex_in_progress=True)
    assert pm.plan([], [busy], cfg(), SETTINGS) == []
    # Schema filter.
    assert pm.plan([CLEAN, BLOATED], [], cfg(schemas=["public"]), SETTINGS) == []
    # Without reindex in operations no index action.
    assert all(p["kind"] == "table" for p in pm.plan([BLOATED], [BLOATED_INDEX], cfg(operations=["vacuum"]), SETTINGS))


def test_explicit_lists():
    planned = pm.plan([CLEAN, BLOATED], [BLOATED_INDEX], cfg(tables=["clean_one"], operations=["vacuum", "reindex"]),
                      SETTINGS)
    assert [(p["action"], p["reason"]) for p in planned] == [("reindex_table", "listed in tables"),
                                                             ("vacuum", "listed in tables")]
    planned = pm.plan([], [BLOATED_INDEX], cfg(indexes=["select.Mixed Idx"], operations=["reindex"]), SETTINGS)
    assert [p["action"] for p in planned] == ["reindex_index"]
    with pytest.raises(pm.PlanError, match="public.nope does not exist"):
        pm.plan([CLEAN], [], cfg(tables=["nope"]), SETTINGS)
    with pytest.raises(pm.PlanError, match="exclusion"):
        pm.plan([], [dict(BLOATED_INDEX, is_exclusion=True)], cfg(indexes=["select.Mixed Idx"], operations=["reindex"]),
                SETTINGS)


def test_statements_quote_identifiers_with_psycopg2_sql():
    action = {"action": "vacuum_analyze", "schema": "select", "name": 'we"ird tab'}
    composed = pm.statement(action)
    assert isinstance(composed, sql.Composed)
    ident = [part for part in composed.seq if isinstance(part, sql.Identifier)]
    assert ident[0].strings == ("select", 'we"ird tab')
    assert composed.seq[0].string == "VACUUM (ANALYZE) "
    for name in ("vacuum", "analyze", "vacuum_full", "vacuum_full_analyze", "reindex_index", "reindex_table",
                 "drop_invalid_index"):
        assert isinstance(pm.statement(dict(action, action=name)), sql.Composed)
    with pytest.raises(pm.PlanError):
        pm.statement(dict(action, action="truncate"))
    assert pm.check_name(action) == 'postgres.vacuum_analyze.select.we"ird tab'


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.connection = conn

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, statement, args=None):
        if isinstance(statement, sql.Composable):
            self.conn.tries += 1
            if self.conn.tries <= self.conn.locked_for:
                raise psycopg2.errors.LockNotAvailable("canceling statement due to lock timeout")
        self.conn.log.append(statement)

    def fetchone(self):
        return (1000,)


class FakeConn:
    closed = False

    def __init__(self, locked_for):
        self.locked_for = locked_for
        self.tries = 0
        self.log = []

    def cursor(self):
        return FakeCursor(self)


def test_execute_retries_lock_timeouts_with_backoff_then_skips():
    action = {"kind": "table", "action": "vacuum", "schema": "public", "name": "t", "table": "t", "reason": "r",
              "sql": 'VACUUM "public"."t"'}
    sleeps = []
    done = pm.execute_action(FakeConn(locked_for=2), action, attempts=3, backoff=0.5, sleep=sleeps.append)
    assert done["status"] == "done" and done["attempts"] == 3 and sleeps == [0.5, 1.0]
    sleeps = []
    skipped = pm.execute_action(FakeConn(locked_for=10), action, attempts=3, backoff=0.5, sleep=sleeps.append)
    assert skipped["status"] == "skipped" and skipped["attempts"] == 3 and sleeps == [0.5, 1.0]
    assert "lock timeout" in skipped["error"]


def test_results():
    item = {"kind": "table", "action": "vacuum", "schema": "public", "name": "t", "table": "t", "reason": "r",
            "sql": 'VACUUM "public"."t"'}
    planned = pm.plan_result([item], "app")
    assert planned["status"] == "ok" and planned["plan"][0]["sql"] == 'VACUUM "public"."t"' and planned["actions"] == []
    done = [dict(item, status="done", attempts=1, duration_seconds=0.1, size_before=100, size_after=40),
            dict(item, name="u", status="skipped", attempts=3, duration_seconds=6.0, size_before=None, size_after=None,
                 error="lock timeout"),
            dict(item, name="v", status="failed", attempts=1, duration_seconds=0.1, size_before=None, size_after=None,
                 error="boom")]
    res = pm.run_result([item], done, "app")
    statuses = {c["name"]: c["status"] for c in res["checks"]}
    assert statuses == {"postgres.maintenance": "ok", "postgres.vacuum.public.t": "ok",
                        "postgres.vacuum.public.u": "warning", "postgres.vacuum.public.v": "critical"}
    assert res["status"] == "critical" and res["severity"] == "P1"
    assert res["metrics"]['pg_maintenance_reclaimed_bytes{database="app"}'] == 60


# ----------------------------------------------------------------- sessions and diagnostics (pg_sessions)

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
    chosen = ps.select_sessions(ACTIVITY, 300, ps.DEFAULT_STATES, exclude_users=["replicator"],
                                exclude_applications=["nightly"], databases=["app"], own_pid=10)
    assert [r["pid"] for r in chosen] == [14]
    assert [r["pid"] for r in ps.select_sessions(ACTIVITY, 300, ["active"])] == [10, 11, 12, 15]


def test_still_running():
    before = {"pid": 1, "backend_start": "b", "xact_start": "x", "query_start": "q"}
    aborted = {"pid": 1, "backend_start": "b", "state": "idle in transaction (aborted)", "xact_start": None,
               "query_start": "q"}
    assert ps.still_running(before, [aborted], ps.DEFAULT_STATES)
    assert not ps.still_running(before, [dict(aborted, state="idle")], ps.DEFAULT_STATES)
    assert not ps.still_running(before, [dict(aborted, query_start="q2")], ps.DEFAULT_STATES)
    assert not ps.still_running(before, [dict(aborted, backend_start="other")], ps.DEFAULT_STATES)
    assert not ps.still_running(before, [], ps.DEFAULT_STATES)


def test_lock_chains():
    blocked = [{"pid": 2, "blocked_by": [1]}, {"pid": 3, "blocked_by": [1, 2]}, {"pid": 5, "blocked_by": [4]}]
    graph = ps.lock_chains(blocked)
    assert graph["edges"] == [[1, 2], [1, 3], [2, 3], [4, 5]]
    assert graph["roots"] == [1, 4]
    assert graph["chains"] == [{"blocker": 1, "blocked": [2, 3]}, {"blocker": 4, "blocked": [5]}]
    cycle = ps.lock_chains([{"pid": 1, "blocked_by": [2]}, {"pid": 2, "blocked_by": [1]}])
    assert cycle["roots"] == [] and cycle["chains"] == [{"blocker": None, "blocked": [1, 2]}]


def test_duplicate_and_unused_indexes():
    base = {"schema": "s", "table": "t", "table_oid": 1, "indkey": "2", "indclass": "1978", "indcollation": "0",
            "exprs": "", "pred": "", "amname": "btree", "is_unique": False, "is_primary": False, "is_valid": True,
            "backs_constraint": False, "idx_scan": 0, "bytes": 8192}
    defs = [dict(base, name="a"), dict(base, name="b"), dict(base, name="c", pred="(x > 1)"),
            dict(base, name="pk", is_primary=True, is_unique=True, backs_constraint=True, indkey="1"),
            dict(base, name="used", indkey="3", idx_scan=5)]
    assert ps.duplicate_indexes(defs) == [["s.a", "s.b"]]
    assert [u["index"] for u in ps.unused_indexes(defs)] == ["s.a", "s.b", "s.c"]
    assert ps.unused_indexes(defs, min_bytes=10000) == []


def test_terminate_result():
    found = [dict(ACTIVITY[0], outcome="terminated"), dict(ACTIVITY[4], outcome="cancelled"),
             dict(ACTIVITY[2], outcome="failed", error="permission denied")]
    res = ps.terminate_result(found, False, 300, 5, True)
    statuses = {c["name"]: c["status"] for c in res["checks"]}
    assert statuses == {"postgres.long_sessions": "ok", "postgres.session.10": "ok", "postgres.session.14": "ok",
                        "postgres.session.12": "critical"}
    planned = ps.terminate_result([dict(ACTIVITY[0])], True, 300, 5, True)
    assert planned["status"] == "warning" and "would cancel" in planned["checks"][1]["message"]


def test_no_reindex_of_a_table_rewritten_by_vacuum_full():
    config = cfg(operations=["vacuum", "vacuum_full", "reindex"], maintenance_window=True,
                 min_table_size=0, min_index_size=0)
    planned = pm.plan([BLOATED], [BLOATED_INDEX], config, SETTINGS)
    assert [p["action"] for p in planned] == ["vacuum_full"]


TOAST_INDEX = dict(LEAN_INDEX, schema="pg_toast", name="pg_toast_16390_index", table="pg_toast_16390",
                   key_width=None, owner_schema="select", owner_table='we"ird tab')
OTHER_SCHEMA_INDEX = dict(LEAN_INDEX, schema="public", name="clean_one_pkey", table="clean_one")
EXCLUSION_INDEX = dict(LEAN_INDEX, name="no_overlap", is_exclusion=True)


def test_reindex_database_is_one_concurrent_reindex_per_valid_index():
    rows = [TOAST_INDEX, LEAN_INDEX, BLOATED_INDEX, OTHER_SCHEMA_INDEX, EXCLUSION_INDEX, LEFTOVER, FAILED_CIC]
    config = cfg(operations=["reindex", "drop_invalid_indexes"], reindex_database=True)
    planned = pm.plan([], rows, config, SETTINGS)
    assert [(p["action"], p["schema"], p["name"]) for p in planned] == [
        ("drop_invalid_index", "select", "Mixed Idx_ccnew"),
        ("reindex_index", "public", "clean_one_pkey"),
        ("reindex_index", "select", "Mixed Idx"),
        ("reindex_index", "select", "lean"),
        ("reindex_index", "pg_toast", "pg_toast_16390_index")]
    assert planned[-1]["reason"] == 'reindex_database (TOAST index of select.we"ird tab)'
    # schemas limits it by the owning table's schema, TOAST indexes included.
    only = pm.plan([], rows, cfg(operations=["reindex"], reindex_database=True, schemas=["select"]), SETTINGS)
    assert [p["name"] for p in only] == ["Mixed Idx", "lean", "pg_toast_16390_index"]
    # A table rewritten by VACUUM FULL in the same run keeps its fresh indexes.
    full = pm.plan([BLOATED], rows, cfg(operations=["vacuum_full", "reindex"], maintenance_window=True,
                                        min_table_size=0, reindex_database=True), SETTINGS)
    assert [p["name"] for p in full] == ['we"ird tab', "clean_one_pkey"]
    # Without reindex_database a TOAST index (no statistics) is never picked by bloat.
    assert [p["name"] for p in pm.plan([], rows, cfg(operations=["reindex"], min_index_size=0), SETTINGS)] == [
        "Mixed Idx"]


def test_reindex_runs_before_the_vacuum_of_the_same_table():
    other = dict(BLOATED, schema="public", name="other")
    other_index = dict(BLOATED_INDEX, schema="public", name="other_idx", table="other")
    lone_index = dict(BLOATED_INDEX, schema="public", name="lone_idx", table="lone")
    planned = pm.plan([BLOATED, other], [lone_index, BLOATED_INDEX, other_index, TOAST_INDEX],
                      cfg(operations=["vacuum", "analyze", "reindex"], reindex_database=True), SETTINGS)
    assert [p["name"] for p in planned] == [
        "Mixed Idx", "pg_toast_16390_index", 'we"ird tab', "other_idx", "other", "lone_idx"]


def test_reindex_database_config_errors():
    with pytest.raises(pm.PlanError, match="needs reindex"):
        cfg(operations=["vacuum"], reindex_database=True)
    with pytest.raises(pm.PlanError, match="do not combine"):
        cfg(operations=["reindex"], reindex_database=True, tables=["t"])
