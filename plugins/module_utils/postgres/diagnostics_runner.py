# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL performance diagnostics, the I/O part: the read-only queries.

``run(module)`` is the entry point of ``runbook.ops.pg_diagnostics``; every check is
built by ``diagnostics_plan``. A diagnostic whose query fails becomes a critical
check of its own; the others still run.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Callable, Dict, List, Mapping

try:
    import psycopg2.errors  # noqa: F401  (errors module is a lazy attribute on old versions)
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib
    psycopg2 = None

from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, down, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, catalog_runner, client, diagnostics_plan

CONNECTIONS_SQL = """
SELECT coalesce(state, 'unknown') AS state, count(*) AS count
FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 1
"""

LONG_XACT_SQL = """
SELECT pid, usename AS "user", application_name AS application, datname AS database, state,
       EXTRACT(EPOCH FROM now() - xact_start)::float8 AS xact_seconds,
       EXTRACT(EPOCH FROM now() - query_start)::float8 AS query_seconds,
       left(query, %s) AS query
FROM pg_catalog.pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_catalog.pg_backend_pid() AND xact_start IS NOT NULL
ORDER BY xact_start
"""

BLOCKED_SQL = """
SELECT pid, usename AS "user", application_name AS application, state, wait_event_type, wait_event,
       pg_catalog.pg_blocking_pids(pid) AS blocked_by,
       EXTRACT(EPOCH FROM now() - coalesce(query_start, xact_start))::float8 AS wait_seconds,
       left(query, %s) AS query
FROM pg_catalog.pg_stat_activity
WHERE cardinality(pg_catalog.pg_blocking_pids(pid)) > 0
"""

ACTIVITY_SQL = """
SELECT pid, usename AS "user", application_name AS application, state, left(query, %s) AS query
FROM pg_catalog.pg_stat_activity WHERE pid = ANY(%s)
"""

LARGEST_TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name,
       CASE WHEN x.locked THEN (c.relpages::bigint + coalesce(tt.relpages, 0)
            + coalesce((SELECT sum(ic.relpages) FROM pg_catalog.pg_index ii JOIN pg_catalog.pg_class ic
                        ON ic.oid = ii.indexrelid WHERE ii.indrelid = c.oid), 0))
            * current_setting('block_size')::bigint
            ELSE pg_catalog.pg_total_relation_size(c.oid) END AS total_bytes,
       CASE WHEN x.locked THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_catalog.pg_relation_size(c.oid) END AS table_bytes,
       x.locked AS estimated_from_relpages
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class tt ON tt.oid = c.reltoastrelid
CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.relation = c.oid
                                   AND l.mode = 'AccessExclusiveLock') AS locked) x
WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY 3 DESC, 1, 2 LIMIT %s
"""

LARGEST_INDEXES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, t.relname AS "table",
       """ + catalog_runner.INDEX_BYTES_SQL + """ AS bytes
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY 4 DESC, 1, 2 LIMIT %s
"""

INDEX_DEFS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, t.relname AS "table",
       i.indrelid::bigint AS table_oid, i.indkey::text AS indkey, i.indclass::text AS indclass,
       i.indcollation::text AS indcollation, coalesce(pg_catalog.pg_get_expr(i.indexprs, i.indrelid), '') AS exprs,
       coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '') AS pred, am.amname,
       i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.conindid = c.oid) AS backs_constraint,
       coalesce(s.idx_scan, 0) AS idx_scan,
       """ + catalog_runner.INDEX_BYTES_SQL + """ AS bytes
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = c.relam
LEFT JOIN pg_catalog.pg_stat_all_indexes s ON s.indexrelid = c.oid
WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY 1, 3, 2
"""

PGSS_INSTALLED_SQL = "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements'"

# Executed only once the extension is known to exist (its view lives in the extension's schema).
TOP_QUERIES_SQL = """
SELECT s.queryid::text AS queryid, d.datname AS database, r.rolname AS "user", s.calls,
       round(s.total_exec_time::numeric, 3)::float8 AS total_ms, round(s.mean_exec_time::numeric, 3)::float8 AS mean_ms,
       s.rows, left(s.query, %s) AS query
FROM pg_stat_statements s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid
WHERE d.datname = current_database()
ORDER BY s.total_exec_time DESC LIMIT %s
"""


def diagnose(conn: Any, opts: Mapping[str, Any]) -> Dict[str, Any]:
    """Run every read-only diagnostic; each becomes one or more checks. Errors of one query
    become a critical check of that diagnostic, never an exception."""
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, Any] = {}
    details: Dict[str, Any] = {}
    qchars = int(opts.get("query_chars", 300))
    top = int(opts.get("top", 10))
    slow = float(opts.get("slow_query_seconds", 5))

    def rows(query: str, args: Any = None) -> List[Dict[str, Any]]:
        return client.fetch_all(conn, query, args)

    def top_queries() -> None:
        if not rows(PGSS_INSTALLED_SQL):
            details["top_queries"] = []
            checks.append(diagnostics_plan.pgss_missing_check(opts.get("database")))
            return
        try:
            found = rows(TOP_QUERIES_SQL, (qchars, top))
        except psycopg2.errors.ObjectNotInPrerequisiteState:
            details["top_queries"] = []
            checks.append(diagnostics_plan.pgss_not_loaded_check())
            return
        details["top_queries"] = found
        checks.append(diagnostics_plan.top_queries_check(found, opts.get("slow_query_seconds", 5)))

    def connections() -> None:
        by_state = {r["state"]: int(r["count"]) for r in rows(CONNECTIONS_SQL)}
        maximum = int(rows("SELECT setting FROM pg_catalog.pg_settings WHERE name = 'max_connections'")[0]["setting"])
        result, found, details["connections"] = diagnostics_plan.connections_check(
            by_state, maximum, opts.get("connections_warning_pct", 80), opts.get("connections_critical_pct", 95))
        checks.append(result)
        metrics.update(found)

    def long_transactions() -> None:
        found, counts, lists = diagnostics_plan.transaction_checks(
            rows(LONG_XACT_SQL, (qchars,)), float(opts.get("long_transaction_seconds", 300)), slow)
        checks.extend(found)
        metrics.update(counts)
        details.update(lists)

    def blocking() -> None:
        blocked = rows(BLOCKED_SQL, (qchars,))
        graph = diagnostics_plan.lock_chains(blocked)
        pids = sorted({p for e in graph["edges"] for p in e})
        info = {r["pid"]: r for r in rows(ACTIVITY_SQL, (qchars, pids))} if pids else {}
        graph["sessions"] = [info[p] for p in pids if p in info]
        graph["blocked"] = blocked
        details["blocking"] = graph
        checks.append(diagnostics_plan.blocking_check(blocked, graph, float(opts.get("blocking_critical_seconds", 60))))
        metrics[metric_key("pg_blocked_sessions")] = len(blocked)

    def largest() -> None:
        details["largest_tables"] = rows(LARGEST_TABLES_SQL, (top,))
        details["largest_indexes"] = rows(LARGEST_INDEXES_SQL, (top,))
        checks.append(check("postgres.largest_tables", "ok", "%d largest tables listed" % len(details["largest_tables"])))
        checks.append(check("postgres.largest_indexes", "ok", "%d largest indexes listed" % len(details["largest_indexes"])))

    def bloat() -> None:
        tables, indexes, settings = catalog_runner.collect(conn)
        found, lists = diagnostics_plan.bloat_checks(tables, indexes, settings, opts)
        checks.extend(found)
        details.update(lists)

    def index_usage() -> None:
        found, lists = diagnostics_plan.index_usage_checks(rows(INDEX_DEFS_SQL), int(opts.get("min_unused_index_size", 0)))
        checks.extend(found)
        details.update(lists)

    steps: List[Any] = [("postgres.top_queries", top_queries), ("postgres.connections", connections),
                        ("postgres.long_transactions", long_transactions), ("postgres.blocking_locks", blocking),
                        ("postgres.largest_tables", largest), ("postgres.bloat", bloat),
                        ("postgres.index_usage", index_usage)]
    for name, step in steps:
        _guarded(checks, name, step)
    res = build(checks, metrics, subject="pg_diagnostics")
    res["diagnostics"] = details
    return res


def _guarded(checks: List[Dict[str, Any]], name: str, step: Callable[[], None]) -> None:
    try:
        step()
    except client.DatabaseError as exc:
        checks.append(check(name, "critical", "query failed: %s" % client.first_line(exc)))


def run(module: Any) -> None:
    """``runbook.ops.pg_diagnostics``: check the options, diagnose in one read-only session, exit."""
    params = module.params
    argspec.check_module_input(module, diagnostics_plan.validate_params)
    try:
        conn = client.connect(params, statement_timeout_ms=int(params["statement_timeout"] * 1000), read_only=True)
    except client.PgConnectError as exc:
        res = build([down("postgres.connection", exc.message)], {}, subject="pg_diagnostics")
        module.exit_json(changed=False, diagnostics={}, **res)
    try:
        res = diagnose(conn, params)
    finally:
        conn.close()
    module.exit_json(changed=False, **res)
