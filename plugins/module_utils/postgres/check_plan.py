# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL health checks, the pure part: query rows and thresholds in, checks out.

One function per check of ``runbook.ops.postgres_check``; each returns the check (or
checks) and its metrics. ``check_runner`` runs the queries.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    check,
    down,
    level_high,
    metric_key,
    threshold_check,
)
from ansible_collections.runbook.ops.plugins.module_utils.common.units import human_bytes, ratio

# The checks O(checks) selects from, in the order they run (postgres.ping always runs first).
CHECKS = ("connections", "long_queries", "idle_in_transaction", "replication", "xid_age", "database_sizes",
          "cache_hit_ratio")


def check_name_for(selected: str) -> str:
    """The check name of one entry of O(checks): ``database_sizes`` reports ``postgres.database_size``."""
    return "postgres.%s" % ("database_size" if selected == "database_sizes" else selected)


def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message for unusable check options, else None (connection options: ``client``)."""
    if params["query_timeout"] <= 0:
        return "query_timeout must be more than 0, got %s" % params["query_timeout"]
    for name in ("connections_warning", "connections_critical"):
        if not 0 < params[name] <= 100:
            return "%s is a percentage between 0 and 100, got %s" % (name, params[name])
    for name in ("cache_hit_ratio_warning", "cache_hit_ratio_critical"):
        if params.get(name) is not None and not 0 <= params[name] <= 1:
            return "%s is a ratio between 0 and 1, got %s" % (name, params[name])
    for name in ("long_query_seconds", "idle_in_transaction_seconds", "replication_lag_warning",
                 "replication_lag_critical", "min_replicas", "cache_hit_min_blocks"):
        if params.get(name) is not None and params[name] < 0:
            return "%s must not be negative, got %s" % (name, params[name])
    return None


def down_check(message: str) -> Dict[str, Any]:
    """``postgres.ping`` when no session could be opened (P0)."""
    return down("postgres.ping", message, value=None)


def ping_check(seconds: float, version: str, user: str, database: str) -> Dict[str, Any]:
    return check("postgres.ping", OK, "PostgreSQL %s, connected as %s to %s in %.0f ms"
                 % (version, user, database, seconds * 1000), value=round(seconds, 4))


def failed_query_check(name: str, message: str) -> Dict[str, Any]:
    """A check whose query failed: a warning saying why."""
    return check(name, WARNING, "could not check: %s" % message)


def connections_check(
    by_state: Mapping[str, int], max_connections: int, warn: float, crit: float,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``postgres.connections``: client connections in percent of max_connections."""
    total = sum(by_state.values())
    metrics: Dict[str, Any] = {"postgres_max_connections": max_connections, "postgres_connections_used": total}
    for state, count in sorted(by_state.items()):
        metrics[metric_key("postgres_connections", state=state)] = count
    percent = round(100.0 * total / max_connections, 2) if max_connections else 0.0
    metrics["postgres_connections_used_ratio"] = ratio(percent)
    result = threshold_check("postgres.connections", percent, warn, crit, unit="%", what="connections")
    result["message"] += " (%d of max_connections %d)" % (total, max_connections)
    return result, metrics


def _session(row: Mapping[str, Any], show_query: bool) -> Dict[str, Any]:
    out = {key: row.get(key) for key in ("pid", "user", "database", "application")}
    out["seconds"] = round(float(row.get("seconds") or 0), 1)
    for key in ("state", "wait_event_type"):
        if row.get(key) is not None:
            out[key] = row[key]
    if show_query and row.get("query") is not None:
        out["query"] = row["query"]
    return out


def sessions_check(
    name: str, what: str, rows: Sequence[Mapping[str, Any]], seconds: float,
    warn: Optional[int], crit: Optional[int], show_query: bool = False,
) -> Dict[str, Any]:
    """A count of sessions over a time limit (long queries, idle in transaction) against thresholds."""
    count = len(rows)
    status = level_high(count, warn, crit)
    sessions = [_session(row, show_query) for row in rows[:10]]
    limit = ("%g" % seconds) + "s"
    if count == 0:
        message = "no %s longer than %s" % (what, limit)
    else:
        first = sessions[0]
        message = "%d %s longer than %s (longest %.0fs: pid %s, user %s, database %s)" % (
            count, what, limit, max(s["seconds"] for s in sessions), first["pid"], first["user"], first["database"])
        if status != OK:
            bound = crit if status == CRITICAL else warn
            message += ", %s at %d" % (status, bound)
    return check(name, status, message, value={"count": count, "sessions": sessions},
                 threshold={"warning": warn, "critical": crit, "seconds": seconds})


def long_queries_check(
    rows: Sequence[Mapping[str, Any]], seconds: float, warn: Optional[int], crit: Optional[int],
    show_query: bool = False,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    result = sessions_check("postgres.long_queries", "queries active", rows, seconds, warn, crit, show_query)
    longest = max([float(r.get("seconds") or 0) for r in rows] or [0.0])
    return result, {"postgres_long_queries": len(rows), "postgres_longest_query_seconds": round(longest, 1)}


def idle_in_transaction_check(
    rows: Sequence[Mapping[str, Any]], seconds: float, warn: Optional[int], crit: Optional[int],
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    result = sessions_check("postgres.idle_in_transaction", "sessions idle in transaction", rows, seconds, warn, crit)
    oldest = max([float(r.get("seconds") or 0) for r in rows] or [0.0])
    return result, {"postgres_idle_in_transaction_sessions": len(rows),
                    "postgres_oldest_idle_in_transaction_seconds": round(oldest, 1)}


def replica_names(rows: Sequence[Mapping[str, Any]]) -> List[str]:
    """A stable, unique name per replica: application_name, with the address when it repeats."""
    names = [row.get("application_name") or row.get("client_addr") or "replica" for row in rows]
    out = []
    for row, name in zip(rows, names):
        if names.count(name) > 1:
            name = "%s@%s" % (name, row.get("client_addr") or "local")
        out.append(name)
    seen: Dict[str, int] = {}
    unique = []
    for name in out:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else "%s#%d" % (name, seen[name]))
    return unique


def replication_checks(
    rows: Sequence[Mapping[str, Any]], in_recovery: bool, warn: Optional[float], crit: Optional[float],
    min_replicas: int = 0,
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """``postgres.replication`` (replica count) and ``postgres.replication.<replica>`` (replay lag)."""
    metrics: Dict[str, Any] = {"postgres_in_recovery": 1 if in_recovery else 0, "postgres_replicas": len(rows)}
    checks: List[Dict[str, Any]] = []
    count = len(rows)
    counted = "%d replica%s connected" % (count, "" if count == 1 else "s")
    if count < min_replicas:
        checks.append(check("postgres.replication", CRITICAL, "%s, expected at least %d" % (counted, min_replicas),
                            value=count, threshold={"min_replicas": min_replicas}))
    elif count == 0 and in_recovery:
        checks.append(check("postgres.replication", OK, "this server is a standby; lag is measured on the primary",
                            value=0, threshold={"min_replicas": min_replicas}))
    else:
        checks.append(check("postgres.replication", OK, counted, value=count, threshold={"min_replicas": min_replicas}))
    for row, name in zip(rows, replica_names(rows)):
        check_name = "postgres.replication.%s" % name
        lag = row.get("replay_lag")
        lag = float(lag) if lag is not None else 0.0
        metrics[metric_key("postgres_replication_lag_seconds", replica=name)] = round(lag, 3)
        if row.get("replay_lag_bytes") is not None:
            metrics[metric_key("postgres_replication_lag_bytes", replica=name)] = float(row["replay_lag_bytes"])
        state = row.get("state")
        if state != "streaming":
            checks.append(check(check_name, WARNING, "replica %s is %s, not streaming" % (name, state or "unknown"),
                                value=round(lag, 3), threshold={"warning": warn, "critical": crit}))
            continue
        result = threshold_check(check_name, round(lag, 3), warn, crit, unit="s", what="replay lag of %s" % name)
        checks.append(result)
    return checks, metrics


def xid_age_check(
    rows: Sequence[Mapping[str, Any]], warn: Optional[int], crit: Optional[int],
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``postgres.xid_age``: the oldest datfrozenxid of all databases."""
    metrics = {metric_key("postgres_xid_age", database=row["database"]): int(row["xid_age"]) for row in rows}
    if not rows:
        return check("postgres.xid_age", OK, "no databases"), metrics
    oldest = max(rows, key=lambda row: int(row["xid_age"]))
    return threshold_check("postgres.xid_age", int(oldest["xid_age"]), warn, crit,
                           what="transaction ID age of database %s" % oldest["database"]), metrics


def database_size_check(
    rows: Sequence[Mapping[str, Any]], warn: Optional[int], crit: Optional[int],
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``postgres.database_size``: the largest database against optional size limits."""
    sized = [row for row in rows if row.get("size_bytes") is not None]
    metrics = {metric_key("postgres_database_size_bytes", database=row["database"]): int(row["size_bytes"])
               for row in sized}
    if not sized:
        return check("postgres.database_size", OK, "no database sizes readable"), metrics
    largest = max(sized, key=lambda row: int(row["size_bytes"]))
    size = int(largest["size_bytes"])
    result = threshold_check("postgres.database_size", size, warn, crit)
    message = "largest database %s is %s" % (largest["database"], human_bytes(size))
    if result["status"] != OK:
        bound = crit if result["status"] == CRITICAL else warn
        message += " (%s at %s)" % (result["status"], human_bytes(bound))
    result["message"] = message
    return result, metrics


def cache_hit_check(
    blks_hit: int, blks_read: int, warn: Optional[float], crit: Optional[float], min_blocks: int,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``postgres.cache_hit_ratio``: judged only once ``min_blocks`` blocks were accessed."""
    metrics: Dict[str, Any] = {"postgres_blocks_hit_total": blks_hit, "postgres_blocks_read_total": blks_read}
    total = blks_hit + blks_read
    threshold = {"warning": warn, "critical": crit}
    if total == 0:
        return check("postgres.cache_hit_ratio", OK, "no blocks accessed yet", threshold=threshold), metrics
    ratio = round(blks_hit / float(total), 4)
    metrics["postgres_cache_hit_ratio"] = ratio
    if total < min_blocks:
        return check("postgres.cache_hit_ratio", OK, "cache hit ratio %.4f over only %d blocks, not judged below %d"
                     % (ratio, total, min_blocks), value=ratio, threshold=threshold), metrics
    result = threshold_check("postgres.cache_hit_ratio", ratio, warn, crit, higher_is_worse=False,
                             what="cache hit ratio")
    result["message"] += " (%d hits, %d reads)" % (blks_hit, blks_read)
    return result, metrics
