#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: postgres_check
short_description: Read-only health checks of a PostgreSQL server
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Opens one read-only session (C(default_transaction_read_only=on), autocommit, C(statement_timeout)
    from O(query_timeout), C(application_name=runbook.ops)) and reports one check per aspect of the
    server's health. A role that is a member of C(pg_monitor) is enough.
  - C(postgres.ping) is critical with severity P0 when no session can be opened (connection refused,
    authentication failed, unknown host, timeout, database missing, too many connections); the other
    checks are then not run.
  - C(postgres.connections) compares the client connections with C(max_connections) in percent.
  - C(postgres.long_queries) counts queries active for longer than O(long_query_seconds).
  - C(postgres.idle_in_transaction) counts sessions idle inside a transaction for longer than
    O(idle_in_transaction_seconds).
  - C(postgres.replication) counts the connected replicas (critical below O(min_replicas)) and
    C(postgres.replication.<replica>) compares each replica's C(replay_lag) with the lag thresholds.
    A replica that is not streaming is a warning.
  - C(postgres.xid_age) is the highest transaction-ID age (C(age) of C(datfrozenxid)) of all databases,
    which approaches wraparound. C(postgres.database_size) is the largest database.
  - C(postgres.cache_hit_ratio) is C(blks_hit) divided by the sum of C(blks_hit) and C(blks_read) over
    all databases since the statistics were reset, not judged before O(cache_hit_min_blocks) blocks.
  - A check whose query fails (for example permission denied or cancelled by the statement timeout)
    is a warning that says why; the other checks still run.
extends_documentation_fragment:
  - runbook.ops.postgres
options:
  checks:
    description:
      - Which checks to run besides C(postgres.ping), which always runs.
    type: list
    elements: str
    choices: [connections, long_queries, idle_in_transaction, replication, xid_age, database_sizes, cache_hit_ratio]
    default: [connections, long_queries, idle_in_transaction, replication, xid_age, database_sizes, cache_hit_ratio]
  query_timeout:
    description:
      - C(statement_timeout) of the session in seconds.
    type: float
    default: 10
  connections_warning:
    description:
      - Warning at this percentage of C(max_connections) in use.
    type: float
    default: 80
  connections_critical:
    description:
      - Critical at this percentage of C(max_connections) in use.
    type: float
    default: 95
  long_query_seconds:
    description:
      - A query counts as long-running when it has been active for more than this many seconds.
    type: float
    default: 300
  long_queries_warning:
    description:
      - Warning at this many long-running queries or more.
    type: int
    default: 1
  long_queries_critical:
    description:
      - Critical at this many long-running queries or more. Not judged when not set.
    type: int
  idle_in_transaction_seconds:
    description:
      - A session counts when it has been idle inside a transaction for more than this many seconds.
    type: float
    default: 60
  idle_in_transaction_warning:
    description:
      - Warning at this many such sessions or more.
    type: int
    default: 1
  idle_in_transaction_critical:
    description:
      - Critical at this many such sessions or more. Not judged when not set.
    type: int
  replication_lag_warning:
    description:
      - Warning at this replay lag in seconds or more.
    type: float
    default: 1
  replication_lag_critical:
    description:
      - Critical at this replay lag in seconds or more.
    type: float
    default: 30
  min_replicas:
    description:
      - Critical when fewer replicas than this are connected.
    type: int
    default: 0
  xid_age_warning:
    description:
      - Warning at this transaction-ID age of any database or more.
    type: int
    default: 500000000
  xid_age_critical:
    description:
      - Critical at this transaction-ID age of any database or more (wraparound happens near 2.1 billion).
    type: int
    default: 1500000000
  database_size_warning_bytes:
    description:
      - Warning when a database is this large or larger. Not judged when not set.
    type: int
  database_size_critical_bytes:
    description:
      - Critical when a database is this large or larger. Not judged when not set.
    type: int
  cache_hit_ratio_warning:
    description:
      - Warning when the buffer cache hit ratio (0 to 1) is below this.
    type: float
    default: 0.9
  cache_hit_ratio_critical:
    description:
      - Critical when the buffer cache hit ratio (0 to 1) is below this. Not judged when not set.
    type: float
  cache_hit_min_blocks:
    description:
      - Fewest blocks (hit plus read) before the cache hit ratio is judged.
    type: int
    default: 10000
  show_queries:
    description:
      - Include the first 200 characters of each long-running query's text in the check value.
        Off by default because query text can hold personal data or secrets.
    type: bool
    default: false
notes:
  - Check mode runs the same read-only probes. C(changed) is always false.
  - No identifier is ever formatted into SQL; all values are bound parameters.
seealso:
  - module: community.postgresql.postgresql_ping
  - module: community.postgresql.postgresql_info
  - module: runbook.ops.redis_check
"""

EXAMPLES = r"""
- name: Database health with the monitoring role
  runbook.ops.postgres_check:
    login_host: db.internal
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    database: finchat
  register: pg

- name: Only connections and slow queries, stricter, over TLS
  runbook.ops.postgres_check:
    login_host: db.internal
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/private-ca.pem
    checks: [connections, long_queries]
    connections_warning: 70
    long_query_seconds: 60

- name: Over the local Unix socket on the database host
  runbook.ops.postgres_check:
    login_unix_socket: /var/run/postgresql
    login_user: postgres
    min_replicas: 1
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P0 when PostgreSQL is unreachable, P1 for other critical checks, P2 for warnings, P3 when all is ok.
  returned: always
  type: str
  sample: P2
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "postgres: postgres.long_queries 2 queries active longer than 300s (longest 912s, pid 4242)"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: >-
    C(postgres.ping), then as selected by O(checks) C(postgres.connections), C(postgres.long_queries),
    C(postgres.idle_in_transaction), C(postgres.replication) and C(postgres.replication.<replica>),
    C(postgres.xid_age), C(postgres.database_size), C(postgres.cache_hit_ratio).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: postgres.connections
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was found, for example C(connection refused by 127.0.0.1:5432).
      type: str
    value:
      description: >-
        The measured value: connect time in seconds, connections in percent, replay lag in seconds,
        XID age, size in bytes, hit ratio; for long queries and idle transactions a dict with C(count)
        and C(sessions) (pid, user, database, application, seconds, and C(query) with O(show_queries)).
      type: raw
    threshold:
      description: C(warning) and C(critical) limits, when the check has them.
      type: dict
metrics:
  description: >-
    C(postgres_up) (1 or 0) always; when reachable C(postgres_connect_seconds), C(postgres_max_connections),
    C(postgres_connections_total), C(postgres_connections{state="..."}), C(postgres_connections_used_percent),
    C(postgres_long_queries), C(postgres_longest_query_seconds), C(postgres_idle_in_transaction_sessions),
    C(postgres_oldest_idle_in_transaction_seconds), C(postgres_in_recovery), C(postgres_replicas),
    C(postgres_replication_lag_seconds{replica="..."}), C(postgres_replication_lag_bytes{replica="..."}),
    C(postgres_xid_age{database="..."}), C(postgres_database_size_bytes{database="..."}),
    C(postgres_blocks_hit_total), C(postgres_blocks_read_total), C(postgres_cache_hit_ratio).
  returned: always
  type: dict
  sample: {"postgres_up": 1, "postgres_connections{state=\"active\"}": 3, "postgres_xid_age{database=\"app\"}": 742}
changed:
  description: Always false.
  returned: always
  type: bool
"""

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.postgres.client import (
    CONNECTION_ARGUMENT_SPEC,
    HAS_PSYCOPG2,
    PSYCOPG2_IMPORT_ERROR,
    DatabaseError,
    PgConnectError,
    connect,
    error_message,
    fetch_all,
    validate_params as validate_connection,
)
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    build,
    check,
    down,
    level_high,
    metric_key,
    threshold_check,
)

CHECKS = ("connections", "long_queries", "idle_in_transaction", "replication", "xid_age", "database_sizes",
          "cache_hit_ratio")

ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(CONNECTION_ARGUMENT_SPEC)
ARGUMENT_SPEC.update(
    checks=dict(type="list", elements="str", choices=list(CHECKS), default=list(CHECKS)),
    query_timeout=dict(type="float", default=10),
    connections_warning=dict(type="float", default=80),
    connections_critical=dict(type="float", default=95),
    long_query_seconds=dict(type="float", default=300),
    long_queries_warning=dict(type="int", default=1),
    long_queries_critical=dict(type="int"),
    idle_in_transaction_seconds=dict(type="float", default=60),
    idle_in_transaction_warning=dict(type="int", default=1),
    idle_in_transaction_critical=dict(type="int"),
    replication_lag_warning=dict(type="float", default=1),
    replication_lag_critical=dict(type="float", default=30),
    min_replicas=dict(type="int", default=0),
    xid_age_warning=dict(type="int", default=500000000),
    xid_age_critical=dict(type="int", default=1500000000),
    database_size_warning_bytes=dict(type="int"),
    database_size_critical_bytes=dict(type="int"),
    cache_hit_ratio_warning=dict(type="float", default=0.9),
    cache_hit_ratio_critical=dict(type="float"),
    cache_hit_min_blocks=dict(type="int", default=10000),
    show_queries=dict(type="bool", default=False),
)

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


# --------------------------------------------------------------------------- #
# Pure decisions
# --------------------------------------------------------------------------- #

def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message for unusable options, else None."""
    error = validate_connection(params)
    if error:
        return error
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


def down_check(error: PgConnectError) -> Dict[str, Any]:
    """``postgres.ping`` when no session could be opened (P0)."""
    return down("postgres.ping", error.message, value=None)


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
    metrics: Dict[str, Any] = {"postgres_max_connections": max_connections, "postgres_connections_total": total}
    for state, count in sorted(by_state.items()):
        metrics[metric_key("postgres_connections", state=state)] = count
    percent = round(100.0 * total / max_connections, 2) if max_connections else 0.0
    metrics["postgres_connections_used_percent"] = percent
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


def human_bytes(value: Optional[float]) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if value is None:
        return "n/a"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return ("%d B" % amount) if unit == "B" else ("%.1f %s" % (amount, unit))
        amount /= 1024
    return "%d B" % value  # pragma: no cover


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


# --------------------------------------------------------------------------- #
# I/O
# --------------------------------------------------------------------------- #

def _guarded(name: str, password: Optional[str], fn: Callable[[], Tuple[Any, Dict[str, Any]]]
             ) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Run one check's queries; a failing query becomes a warning naming the reason."""
    try:
        checks, metrics = fn()
    except DatabaseError as exc:  # the session stays usable: autocommit, no aborted transaction
        return [failed_query_check(name, error_message(exc, password))], {}
    return (checks if isinstance(checks, list) else [checks]), metrics


def run(params: Mapping[str, Any], connector: Callable[..., Any] = connect) -> Dict[str, Any]:
    """Open the session described by ``params``, run the selected checks, return the result."""
    selected = [name for name in CHECKS if name in set(params.get("checks") or CHECKS)]
    password = params.get("login_password")
    started = time.monotonic()
    try:
        conn = connector(params, statement_timeout_ms=int(params["query_timeout"] * 1000))
    except PgConnectError as exc:
        return build([down_check(exc)], {"postgres_up": 0}, subject="postgres")
    try:
        connect_seconds = time.monotonic() - started
        try:
            settings = fetch_all(conn, SQL_SETTINGS)[0]
        except DatabaseError as exc:  # the session broke right after opening
            return build([down("postgres.ping", "session failed: %s" % error_message(exc, password))],
                         {"postgres_up": 0}, subject="postgres")
        checks = [ping_check(connect_seconds, settings["server_version"], params.get("login_user") or "postgres",
                             params.get("database") or "postgres")]
        metrics: Dict[str, Any] = {"postgres_up": 1, "postgres_connect_seconds": round(connect_seconds, 4)}
        for name in selected:
            part_checks, part_metrics = _guarded("postgres.%s" % _CHECK_NAMES[name], password,
                                                 lambda name=name: _RUNNERS[name](conn, params, settings))
            checks.extend(part_checks)
            metrics.update(part_metrics)
    finally:
        conn.close()
    return build(checks, metrics, subject="postgres")


def _run_connections(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    rows = fetch_all(conn, SQL_CONNECTIONS)
    by_state = {row["state"]: int(row["count"]) for row in rows}
    return connections_check(by_state, int(settings["max_connections"]), params["connections_warning"],
                             params["connections_critical"])


def _run_long_queries(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    rows = fetch_all(conn, SQL_LONG_QUERIES, (float(params["long_query_seconds"]),))
    return long_queries_check(rows, params["long_query_seconds"], params.get("long_queries_warning"),
                              params.get("long_queries_critical"), params.get("show_queries", False))


def _run_idle_in_transaction(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    rows = fetch_all(conn, SQL_IDLE_IN_TRANSACTION, (float(params["idle_in_transaction_seconds"]),))
    return idle_in_transaction_check(rows, params["idle_in_transaction_seconds"],
                                     params.get("idle_in_transaction_warning"),
                                     params.get("idle_in_transaction_critical"))


def _run_replication(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    rows = fetch_all(conn, SQL_REPLICATION)
    return replication_checks(rows, bool(settings["in_recovery"]), params.get("replication_lag_warning"),
                              params.get("replication_lag_critical"), params.get("min_replicas") or 0)


def _run_xid_age(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    return xid_age_check(fetch_all(conn, SQL_XID_AGE), params.get("xid_age_warning"), params.get("xid_age_critical"))


def _run_database_sizes(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    return database_size_check(fetch_all(conn, SQL_DATABASE_SIZES), params.get("database_size_warning_bytes"),
                               params.get("database_size_critical_bytes"))


def _run_cache_hit_ratio(conn: Any, params: Mapping[str, Any], settings: Mapping[str, Any]):
    row = fetch_all(conn, SQL_CACHE)[0]
    return cache_hit_check(int(row["blks_hit"]), int(row["blks_read"]), params.get("cache_hit_ratio_warning"),
                           params.get("cache_hit_ratio_critical"), params["cache_hit_min_blocks"])


_RUNNERS = {
    "connections": _run_connections,
    "long_queries": _run_long_queries,
    "idle_in_transaction": _run_idle_in_transaction,
    "replication": _run_replication,
    "xid_age": _run_xid_age,
    "database_sizes": _run_database_sizes,
    "cache_hit_ratio": _run_cache_hit_ratio,
}
_CHECK_NAMES = dict((name, "database_size" if name == "database_sizes" else name) for name in CHECKS)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)
    error = validate_params(module.params)
    if error:
        module.fail_json(msg=error)
    result = run(module.params)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
