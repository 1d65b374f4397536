# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL health checks, the I/O part: one read-only session, one query per check.

``run(module)`` is the entry point of ``runbook.ops.postgres_check``; ``run_checks(params)``
returns the result (``connector`` stands in for ``client.connect`` in tests).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import build
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, check_plan, client

# All statements are constants; values are bound parameters. Nothing is formatted into SQL.
SQL_SETTINGS = """
SELECT current_setting('max_connections')::int AS max_connections,
       pg_is_in_recovery() AS in_recovery,
       current_setting('server_version') AS server_version
"""
SQL_CONNECTIONS = """
SELECT coalesce(state, 'unknown') AS state, count(*)::int AS count
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1 ORDER BY 1
"""
SQL_LONG_QUERIES = """
SELECT pid, usename AS user, datname AS database, application_name AS application,
       extract(epoch FROM now() - query_start)::float8 AS seconds,
       wait_event_type, left(query, 200) AS query
FROM pg_stat_activity
WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND extract(epoch FROM now() - query_start) > %s
ORDER BY query_start
"""
SQL_IDLE_IN_TRANSACTION = """
SELECT pid, usename AS user, datname AS database, application_name AS application, state,
       extract(epoch FROM now() - state_change)::float8 AS seconds,
       extract(epoch FROM now() - xact_start)::float8 AS transaction_seconds
FROM pg_stat_activity
WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND extract(epoch FROM now() - state_change) > %s
ORDER BY state_change
"""
SQL_REPLICATION = """
SELECT application_name, host(client_addr) AS client_addr, state, sync_state,
       extract(epoch FROM replay_lag)::float8 AS replay_lag,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 END AS replay_lag_bytes
FROM pg_stat_replication
ORDER BY application_name, client_addr
"""
SQL_XID_AGE = """
SELECT datname AS database, age(datfrozenxid)::bigint AS xid_age
FROM pg_database ORDER BY datname
"""
SQL_DATABASE_SIZES = """
SELECT datname AS database,
       CASE WHEN has_database_privilege(oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE')
            THEN pg_database_size(oid) END::bigint AS size_bytes
FROM pg_database WHERE NOT datistemplate ORDER BY datname
"""
SQL_CACHE = """
SELECT coalesce(sum(blks_hit), 0)::bigint AS blks_hit, coalesce(sum(blks_read), 0)::bigint AS blks_read
FROM pg_stat_database
"""


def _guarded(name: str, password: Optional[str], fn: Callable[[], Tuple[Any, Dict[str, Any]]]
             ) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Run one check's queries; a failing query becomes a warning naming the reason."""
    try:
        checks, metrics = fn()
    except client.DatabaseError as exc:  # the session stays usable: autocommit, no aborted transaction
        return [check_plan.failed_query_check(name, client.error_message(exc, password))], {}
    return (checks if isinstance(checks, list) else [checks]), metrics


def run_checks(params: Mapping[str, Any], connector: Callable[..., Any] = client.connect) -> Dict[str, Any]:
    """Open the session described by ``params``, run the selected checks, return the result."""
    selected = [name for name in check_plan.CHECKS if name in set(params.get("checks") or check_plan.CHECKS)]
    password = params.get("login_password")
    started = time.monotonic()
    try:
        conn = connector(params, statement_timeout_ms=int(params["query_timeout"] * 1000))
    except client.PgConnectError as exc:
        return build([check_plan.down_check(exc.message)], {"postgres_up": 0}, subject="postgres")
    try:
        connect_seconds = time.monotonic() - started
        try:
            settings = client.fetch_all(conn, SQL_SETTINGS)[0]
        except client.DatabaseError as exc:  # the session broke right after opening
            return build([check_plan.down_check("session failed: %s" % client.error_message(exc, password))],
                         {"postgres_up": 0}, subject="postgres")
        checks = [check_plan.ping_check(connect_seconds, settings["server_version"],
                                        params.get("login_user") or "postgres", params.get("database") or "postgres")]
        metrics: Dict[str, Any] = {"postgres_up": 1, "postgres_connect_seconds": round(connect_seconds, 4)}
        for name in selected:
            part_checks, part_metrics = _guarded(check_plan.check_name_for(name), password,
                                                 lambda name=name: _RUNNERS[name](conn, params, settings))
            checks.extend(part_checks)
            metrics.update(part_metrics)
    finally:
        conn.close()
    return build(checks, metrics, subject="postgres")


def _run_connections(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    by_state = {row["state"]: int(row["count"]) for row in client.fetch_all(conn, SQL_CONNECTIONS)}
    return check_plan.connections_check(by_state, int(settings["max_connections"]), params["connections_warning"],
                                        params["connections_critical"])


def _run_long_queries(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    rows = client.fetch_all(conn, SQL_LONG_QUERIES, (float(params["long_query_seconds"]),))
    return check_plan.long_queries_check(rows, params["long_query_seconds"], params.get("long_queries_warning"),
                                         params.get("long_queries_critical"), params.get("show_queries", False))


def _run_idle_in_transaction(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    rows = client.fetch_all(conn, SQL_IDLE_IN_TRANSACTION, (float(params["idle_in_transaction_seconds"]),))
    return check_plan.idle_in_transaction_check(rows, params["idle_in_transaction_seconds"],
                                                params.get("idle_in_transaction_warning"),
                                                params.get("idle_in_transaction_critical"))


def _run_replication(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    return check_plan.replication_checks(client.fetch_all(conn, SQL_REPLICATION), bool(settings["in_recovery"]),
                                         params.get("replication_lag_warning"), params.get("replication_lag_critical"),
                                         params.get("min_replicas") or 0)


def _run_xid_age(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    return check_plan.xid_age_check(client.fetch_all(conn, SQL_XID_AGE), params.get("xid_age_warning"),
                                    params.get("xid_age_critical"))


def _run_database_sizes(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    return check_plan.database_size_check(client.fetch_all(conn, SQL_DATABASE_SIZES),
                                          params.get("database_size_warning_bytes"),
                                          params.get("database_size_critical_bytes"))


def _run_cache_hit_ratio(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    row = client.fetch_all(conn, SQL_CACHE)[0]
    return check_plan.cache_hit_check(int(row["blks_hit"]), int(row["blks_read"]),
                                      params.get("cache_hit_ratio_warning"), params.get("cache_hit_ratio_critical"),
                                      params["cache_hit_min_blocks"])


# The queries of each entry of O(checks); every function returns (check or checks, metrics).
_RUNNERS = {
    "connections": _run_connections,
    "long_queries": _run_long_queries,
    "idle_in_transaction": _run_idle_in_transaction,
    "replication": _run_replication,
    "xid_age": _run_xid_age,
    "database_sizes": _run_database_sizes,
    "cache_hit_ratio": _run_cache_hit_ratio,
}


def run(module: Any) -> None:
    """``runbook.ops.postgres_check``: check the options, run the checks, exit (never changed)."""
    argspec.check_module_input(module, check_plan.validate_params)
    module.exit_json(changed=False, **run_checks(module.params))
