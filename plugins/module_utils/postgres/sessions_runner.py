# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL sessions: finding and stopping long queries, and the read-only diagnostics
of the "P1: Database Performance Degradation" runbook.

Pure functions (selection, lock chains, duplicate detection, result assembly) are kept apart
from the few functions that talk to the server, so that recorded rows can be replayed in
unit tests.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

try:
    import psycopg2
    import psycopg2.errors  # noqa: F401
    HAS_PSYCOPG2 = True
except ImportError:  # pragma: no cover
    psycopg2 = None
    HAS_PSYCOPG2 = False

from ansible_collections.runbook.ops.plugins.module_utils.postgres import maintenance_runner as pm
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    build,
    check,
    metric_key,
    threshold_check,
)

DEFAULT_STATES = ["active", "idle in transaction", "idle in transaction (aborted)"]

# --------------------------------------------------------------------------- terminate

SESSIONS_SQL = """
SELECT a.pid, a.usename AS "user", a.application_name AS application, a.datname AS database,
       a.state, a.wait_event_type, a.wait_event,
       a.backend_start::text AS backend_start,
       a.xact_start::text AS xact_start, a.query_start::text AS query_start,
       EXTRACT(EPOCH FROM now() - CASE WHEN a.state = 'active' THEN a.query_start
                                       ELSE coalesce(a.xact_start, a.state_change) END)::float8 AS duration_seconds,
       left(a.query, %s) AS query
FROM pg_catalog.pg_stat_activity a
WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()
ORDER BY duration_seconds DESC NULLS LAST
"""


def select_sessions(
    rows: Sequence[Mapping[str, Any]],
    min_duration: float,
    states: Sequence[str],
    exclude_users: Sequence[str] = (),
    exclude_applications: Sequence[str] = (),
    databases: Sequence[str] = (),
    own_pid: Optional[int] = None,
) -> List[Dict[str, Any]]:
    """Sessions in ``states`` running (or idle in transaction) for at least ``min_duration`` s.

    Active sessions count from query_start, idle-in-transaction ones from xact_start.
    Never the caller's own pid, never an excluded user or application name.
    """
    chosen = []
    for row in rows:
        if own_pid is not None and row["pid"] == own_pid:
            continue
        if row.get("state") not in states:
            continue
        if row.get("user") in exclude_users or row.get("application") in exclude_applications:
            continue
        if databases and row.get("database") not in databases:
            continue
        duration = row.get("duration_seconds")
        if duration is None or float(duration) < min_duration:
            continue
        chosen.append(dict(row))
    return chosen


def still_running(before: Mapping[str, Any], now_rows: Sequence[Mapping[str, Any]], states: Sequence[str]) -> bool:
    """True when the same backend is still in one of ``states`` and in the same query or the
    same transaction (a cancelled query inside a transaction leaves it open and aborted:
    pg_stat_activity then shows no xact_start, but the same query_start)."""
    for row in now_rows:
        if row["pid"] == before["pid"] and row.get("backend_start") == before.get("backend_start"):
            if row.get("state") not in states:
                return False
            same_query = row.get("query_start") is not None and row.get("query_start") == before.get("query_start")
            same_xact = row.get("xact_start") is not None and row.get("xact_start") == before.get("xact_start")
            return same_query or same_xact
    return False


def _scalar(conn, query: str, args: Sequence[Any]) -> Any:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
    return row[0] if row else None


def current_sessions(conn, query_chars: int = 200) -> List[Dict[str, Any]]:
    with conn.cursor() as cur:
        return pm.fetch_dicts(cur, SESSIONS_SQL, (query_chars,))


def stop_sessions(
    conn,
    victims: Sequence[Dict[str, Any]],
    states: Sequence[str],
    grace_seconds: float,
    terminate: bool = True,
    poll: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> List[Dict[str, Any]]:
    """pg_cancel_backend every victim, wait up to ``grace_seconds``, then pg_terminate_backend
    those still in the same transaction. Each victim gets ``outcome``: cancelled, terminated,
    still_running (terminate disabled or it did not exit) or failed (with ``error``)."""
    out = [dict(v) for v in victims]
    for item in out:
        try:
            item["cancel_sent"] = bool(_scalar(conn, "SELECT pg_catalog.pg_cancel_backend(%s)", (item["pid"],)))
        except psycopg2.Error as exc:
            item["outcome"] = "failed"
            item["error"] = pm._first_line(exc)
    pending = [i for i in out if "outcome" not in i]
    deadline = clock() + grace_seconds
    while pending:
        rows = current_sessions(conn)
        pending = [i for i in pending if still_running(i, rows, states)]
        if not pending or clock() >= deadline:
            break
        sleep(min(poll, max(0.0, deadline - clock())))
    pending_pids = {i["pid"] for i in pending}
    for item in out:
        if "outcome" in item:
            continue
        if item["pid"] not in pending_pids:
            item["outcome"] = "cancelled"
            continue
        if not terminate:
            item["outcome"] = "still_running"
            continue
        try:
            gone = _scalar(conn, "SELECT pg_catalog.pg_terminate_backend(%s, %s)",
                           (item["pid"], int(max(1.0, grace_seconds) * 1000)))
            item["outcome"] = "terminated" if gone else "still_running"
        except psycopg2.Error as exc:
            item["outcome"] = "failed"
            item["error"] = pm._first_line(exc)
    return out


def _session_entry(item: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: item.get(k) for k in ("pid", "user", "application", "database", "state", "duration_seconds",
                                     "wait_event_type", "wait_event", "query", "outcome", "error")}


def terminate_result(found: Sequence[Mapping[str, Any]], check_mode: bool, min_duration: float,
                     grace_seconds: float, terminate: bool) -> Dict[str, Any]:
    """One check per session plus ``postgres.long_sessions``; ``sessions`` lists them."""
    checks = []
    counts = {"cancelled": 0, "terminated": 0, "still_running": 0, "failed": 0}
    for item in found:
        who = "pid %s (%s, %s, %s, %.0fs)" % (
            item["pid"], item.get("user"), item.get("application") or "-", item.get("state"),
            float(item.get("duration_seconds") or 0))
        name = "postgres.session.%s" % item["pid"]
        if check_mode:
            plan = "would cancel" + (", then terminate after %gs if still running" % grace_seconds if terminate else "")
            checks.append(check(name, "warning", "%s %s" % (plan, who), value=item.get("query")))
            continue
        outcome = item.get("outcome")
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "cancelled":
            checks.append(check(name, "ok", "cancelled " + who))
        elif outcome == "terminated":
            checks.append(check(name, "ok", "terminated %s (still running %gs after the cancel)" % (who, grace_seconds)))
        elif outcome == "still_running":
            checks.append(check(name, "warning", "still running after the cancel: " + who))
        else:
            checks.append(check(name, "critical", "could not stop %s: %s" % (who, item.get("error"))))
    head = check("postgres.long_sessions", "ok" if not found or not check_mode else "warning",
                 "%d session%s longer than %gs" % (len(found), "" if len(found) == 1 else "s", min_duration),
                 value=len(found), threshold=min_duration)
    metrics = {metric_key("pg_long_sessions"): len(found)}
    if not check_mode:
        for key, value in counts.items():
            metrics[metric_key("pg_sessions_stopped", outcome=key)] = value
    res = build([head] + checks, metrics, subject="pg_terminate")
    res["sessions"] = [_session_entry(i) for i in found]
    return res


# --------------------------------------------------------------------------- diagnostics

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
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.relation IN (c.oid, t.oid)
                         AND l.mode = 'AccessExclusiveLock')
            THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_catalog.pg_relation_size(c.oid) END AS bytes
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
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.relation IN (c.oid, t.oid)
                         AND l.mode = 'AccessExclusiveLock')
            THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_catalog.pg_relation_size(c.oid) END AS bytes
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


def lock_chains(blocked: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Who blocks whom: ``edges`` [blocker, blocked], ``roots`` (blockers that wait on nobody)
    and ``chains``: for each root, the pids it holds up directly or transitively."""
    waits = {int(r["pid"]): [int(p) for p in (r.get("blocked_by") or [])] for r in blocked}
    edges = sorted({(b, w) for w, bs in waits.items() for b in bs})
    blockers = {edge[0] for edge in edges}
    roots = sorted(b for b in blockers if not waits.get(b))
    children: Dict[int, List[int]] = {}
    for b, w in edges:
        children.setdefault(b, []).append(w)
    chains = []
    for root in roots:
        seen: List[int] = []
        stack = [root]
        while stack:
            node = stack.pop()
            for child in sorted(children.get(node, []), reverse=True):
                if child not in seen and child != root:
                    seen.append(child)
                    stack.append(child)
        chains.append({"blocker": root, "blocked": sorted(seen)})
    if not roots and edges:  # a pure cycle (a deadlock about to be detected)
        chains.append({"blocker": None, "blocked": sorted(waits)})
    return {"edges": [list(e) for e in edges], "roots": roots, "chains": chains}


def duplicate_indexes(defs: Sequence[Mapping[str, Any]]) -> List[List[str]]:
    """Groups of indexes of the same table with the same columns, operator classes,
    collations, expressions, predicate and access method."""
    groups: Dict[tuple, List[str]] = {}
    for d in defs:
        if not d.get("is_valid", True):
            continue
        key = (d["table_oid"], d["indkey"], d["indclass"], d["indcollation"], d["exprs"], d["pred"], d["amname"])
        groups.setdefault(key, []).append(pm.display_name(d["schema"], d["name"]))
    return [sorted(v) for v in groups.values() if len(v) > 1]


def unused_indexes(defs: Sequence[Mapping[str, Any]], min_bytes: int = 0) -> List[Dict[str, Any]]:
    """Valid indexes never scanned (idx_scan = 0) that back no unique/primary key or constraint."""
    return [{"index": pm.display_name(d["schema"], d["name"]), "table": d["table"], "bytes": d["bytes"]}
            for d in defs
            if d.get("is_valid", True) and int(d.get("idx_scan") or 0) == 0 and not d.get("is_unique")
            and not d.get("is_primary") and not d.get("backs_constraint") and int(d.get("bytes") or 0) >= min_bytes]


def diagnose(conn, opts: Mapping[str, Any]) -> Dict[str, Any]:
    """Run every read-only diagnostic; each becomes one check. Errors of one query become
    a critical check of that diagnostic, never an exception."""
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, Any] = {}
    details: Dict[str, Any] = {}
    qchars = int(opts.get("query_chars", 300))

    def rows(query: str, args: Any = None) -> List[Dict[str, Any]]:
        with conn.cursor() as cur:
            return pm.fetch_dicts(cur, query, args)

    def guarded(name: str, func: Callable[[], None]) -> None:
        try:
            func()
        except psycopg2.Error as exc:
            checks.append(check(name, "critical", "query failed: %s" % pm._first_line(exc)))

    def top_queries() -> None:
        installed = rows(PGSS_INSTALLED_SQL)
        if not installed:
            details["top_queries"] = []
            checks.append(check("postgres.top_queries", "warning",
                                "pg_stat_statements is not installed in database %s: add it to "
                                "shared_preload_libraries and run CREATE EXTENSION pg_stat_statements"
                                % opts.get("database")))
            return
        try:
            top = rows(TOP_QUERIES_SQL, (qchars, int(opts.get("top", 10))))
        except psycopg2.errors.ObjectNotInPrerequisiteState:
            details["top_queries"] = []
            checks.append(check("postgres.top_queries", "warning",
                                "pg_stat_statements is installed but not loaded: add it to shared_preload_libraries "
                                "and restart PostgreSQL"))
            return
        details["top_queries"] = top
        slow = [q for q in top if float(q["mean_ms"] or 0) >= float(opts.get("slow_query_seconds", 5)) * 1000]
        checks.append(check("postgres.top_queries", "warning" if slow else "ok",
                            "%d of the top %d queries average >= %gs" % (len(slow), len(top), opts.get("slow_query_seconds", 5))
                            if slow else "top %d queries by total time read" % len(top),
                            value=len(slow), threshold=opts.get("slow_query_seconds", 5)))

    def connections() -> None:
        by_state = {r["state"]: int(r["count"]) for r in rows(CONNECTIONS_SQL)}
        maximum = int(rows("SELECT setting FROM pg_catalog.pg_settings WHERE name = 'max_connections'")[0]["setting"])
        total = sum(by_state.values())
        details["connections"] = {"by_state": by_state, "total": total, "max_connections": maximum}
        pct = 100.0 * total / maximum if maximum else 0.0
        checks.append(threshold_check("postgres.connections", round(pct, 1), opts.get("connections_warning_pct", 80),
                                      opts.get("connections_critical_pct", 95), unit="%",
                                      what="connections %d of %d" % (total, maximum)))
        for state, count in by_state.items():
            metrics[metric_key("pg_connections", state=state)] = count

    def long_transactions() -> None:
        limit = float(opts.get("long_transaction_seconds", 300))
        found = [r for r in rows(LONG_XACT_SQL, (qchars,)) if float(r["xact_seconds"] or 0) >= limit]
        details["long_transactions"] = found
        slow = float(opts.get("slow_query_seconds", 5))
        active = [r for r in rows(LONG_XACT_SQL, (qchars,))
                  if r["state"] == "active" and float(r["query_seconds"] or 0) >= slow]
        details["slow_queries"] = active
        checks.append(check("postgres.long_transactions", "warning" if found else "ok",
                            "%d transaction%s open longer than %gs" % (len(found), "" if len(found) == 1 else "s", limit),
                            value=len(found), threshold=limit))
        checks.append(check("postgres.slow_queries", "warning" if active else "ok",
                            "%d active quer%s running longer than %gs" % (len(active), "y" if len(active) == 1 else "ies", slow),
                            value=len(active), threshold=slow))
        metrics[metric_key("pg_long_transactions")] = len(found)
        metrics[metric_key("pg_slow_queries")] = len(active)

    def blocking() -> None:
        blocked = rows(BLOCKED_SQL, (qchars,))
        graph = lock_chains(blocked)
        pids = sorted({p for e in graph["edges"] for p in e})
        info = {r["pid"]: r for r in rows(ACTIVITY_SQL, (qchars, pids))} if pids else {}
        graph["sessions"] = [info[p] for p in pids if p in info]
        graph["blocked"] = blocked
        details["blocking"] = graph
        longest = max([float(r["wait_seconds"] or 0) for r in blocked] or [0.0])
        crit = float(opts.get("blocking_critical_seconds", 60))
        status = "ok" if not blocked else ("critical" if longest >= crit else "warning")
        text = "; ".join("pid %s blocks %s" % (c["blocker"], ", ".join(str(p) for p in c["blocked"]))
                         for c in graph["chains"])
        checks.append(check("postgres.blocking_locks", status,
                            ("%d blocked session%s, longest wait %.0fs: %s" % (
                                len(blocked), "" if len(blocked) == 1 else "s", longest, text)) if blocked
                            else "no session waits on another", value=len(blocked), threshold=crit))
        metrics[metric_key("pg_blocked_sessions")] = len(blocked)

    def largest() -> None:
        top = int(opts.get("top", 10))
        details["largest_tables"] = rows(LARGEST_TABLES_SQL, (top,))
        details["largest_indexes"] = rows(LARGEST_INDEXES_SQL, (top,))
        checks.append(check("postgres.largest_tables", "ok", "%d largest tables listed" % len(details["largest_tables"])))
        checks.append(check("postgres.largest_indexes", "ok", "%d largest indexes listed" % len(details["largest_indexes"])))

    def bloat() -> None:
        tables, indexes, settings = pm.collect(conn)
        block = int(float(settings.get("block_size") or 8192))
        t_ratio = float(opts.get("table_bloat_ratio", 0.5))
        i_ratio = float(opts.get("index_bloat_ratio", 0.3))
        min_size = int(opts.get("min_bloat_size", 1048576))
        bloated_t = []
        for t in tables:
            est = pm.estimate_table_bloat(t, block)
            if est is not None and est >= t_ratio and int(t["table_bytes"] or 0) >= min_size:
                bloated_t.append({"table": pm.display_name(t["schema"], t["name"]), "bytes": t["table_bytes"],
                                  "estimated_bloat": round(est, 3), "n_dead_tup": t.get("n_dead_tup")})
        bloated_i = []
        for i in indexes:
            if i.get("amname") != "btree" or not i.get("is_valid"):
                continue
            est = pm.estimate_btree_bloat(i, block)
            if est is not None and est >= i_ratio and int(i["index_bytes"] or 0) >= min_size:
                bloated_i.append({"index": pm.display_name(i["schema"], i["name"]), "table": i["table"],
                                  "bytes": i["index_bytes"], "estimated_bloat": round(est, 3)})
        details["table_bloat"] = bloated_t
        details["index_bloat"] = bloated_i
        checks.append(check("postgres.table_bloat", "warning" if bloated_t else "ok",
                            "%d table%s with estimated bloat >= %.0f%% (approximate)" % (
                                len(bloated_t), "" if len(bloated_t) == 1 else "s", t_ratio * 100),
                            value=len(bloated_t), threshold=t_ratio))
        checks.append(check("postgres.index_bloat", "warning" if bloated_i else "ok",
                            "%d btree index%s with estimated bloat >= %.0f%% (approximate)" % (
                                len(bloated_i), "" if len(bloated_i) == 1 else "es", i_ratio * 100),
                            value=len(bloated_i), threshold=i_ratio))
        invalid = [pm.display_name(i["schema"], i["name"]) for i in indexes if not i.get("is_valid")]
        details["invalid_indexes"] = invalid
        checks.append(check("postgres.invalid_indexes", "warning" if invalid else "ok",
                            ("INVALID indexes: %s" % ", ".join(invalid)) if invalid else "no INVALID index",
                            value=len(invalid)))

    def index_usage() -> None:
        defs = rows(INDEX_DEFS_SQL)
        unused = unused_indexes(defs, int(opts.get("min_unused_index_size", 0)))
        dups = duplicate_indexes(defs)
        details["unused_indexes"] = unused
        details["duplicate_indexes"] = dups
        checks.append(check("postgres.unused_indexes", "warning" if unused else "ok",
                            ("%d never-scanned index%s: %s" % (len(unused), "" if len(unused) == 1 else "es",
                                                               ", ".join(u["index"] for u in unused[:10])))
                            if unused else "every non-unique index has been scanned", value=len(unused)))
        checks.append(check("postgres.duplicate_indexes", "warning" if dups else "ok",
                            ("duplicate indexes: %s" % "; ".join(" = ".join(g) for g in dups)) if dups
                            else "no duplicate index", value=len(dups)))

    guarded("postgres.top_queries", top_queries)
    guarded("postgres.connections", connections)
    guarded("postgres.long_transactions", long_transactions)
    guarded("postgres.blocking_locks", blocking)
    guarded("postgres.largest_tables", largest)
    guarded("postgres.bloat", bloat)
    guarded("postgres.index_usage", index_usage)
    res = build(checks, metrics, subject="pg_diagnostics")
    res["diagnostics"] = details
    return res
