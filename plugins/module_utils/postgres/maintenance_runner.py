# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL maintenance, the I/O part: read the catalog, plan, run the statements.

``run(module)`` is the entry point of ``runbook.ops.pg_maintenance``. The executor
runs in autocommit (VACUUM and REINDEX CONCURRENTLY cannot run in a transaction)
with a session lock_timeout, retries lock timeouts with exponential backoff and
skips (reports) what is still locked.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

try:
    import psycopg2
    import psycopg2.errors  # noqa: F401  (errors module is a lazy attribute on old versions)
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    psycopg2 = None

from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline
from ansible_collections.runbook.ops.plugins.module_utils.common.retry import backoff_delays
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, catalog_runner, client, maintenance_plan

TABLE_SIZE_SQL = """
SELECT pg_catalog.pg_total_relation_size(c.oid) FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
"""

INDEX_SIZE_SQL = """
SELECT pg_catalog.pg_relation_size(c.oid) FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
"""


# --------------------------------------------------------------------------- executor


def render(action: Mapping[str, Any], context: Any) -> str:
    """The exact statement text (``sql.Composed.as_string`` on a connection or cursor)."""
    return maintenance_plan.statement(action).as_string(context)


def set_timeouts(cursor, lock_timeout: float, statement_timeout: float) -> None:
    cursor.execute("SELECT pg_catalog.set_config('lock_timeout', %s, false), "
                   "pg_catalog.set_config('statement_timeout', %s, false)",
                   ("%dms" % int(round(lock_timeout * 1000)), "%dms" % int(round(statement_timeout * 1000))))


def _size(cursor, action: Mapping[str, Any], lock_timeout: Optional[float] = None) -> Optional[int]:
    """pg_total_relation_size (table) or pg_relation_size (index); None when the object is
    locked (the size functions need a lock: they wait at most 100 ms) or gone."""
    query = INDEX_SIZE_SQL if action["kind"] == "index" else TABLE_SIZE_SQL
    row = None
    try:
        cursor.execute("SELECT pg_catalog.set_config('lock_timeout', '100ms', false)")
        cursor.execute(query, (action["schema"], action["name"]))
        row = cursor.fetchone()
    except psycopg2.Error:
        row = None
    finally:
        if lock_timeout is not None and not cursor.connection.closed:
            try:
                cursor.execute("SELECT pg_catalog.set_config('lock_timeout', %s, false)",
                               ("%dms" % int(round(lock_timeout * 1000)),))
            except psycopg2.Error:
                pass
    return int(row[0]) if row and row[0] is not None else None


def execute_action(
    conn,
    action: Dict[str, Any],
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    lock_timeout: float = 2.0,
) -> Dict[str, Any]:
    """Run one planned action; return it with status done/skipped/failed and figures.

    Lock timeouts (SQLSTATE 55P03) are retried ``attempts`` times with exponential
    backoff; still locked after that the action is ``skipped``. Any other error marks it
    ``failed``. The session lock_timeout/statement_timeout must already be set.
    """
    out = dict(action)
    text = action.get("sql") or render(action, conn)
    out["sql"] = text
    stmt = maintenance_plan.statement(action)
    with conn.cursor() as cur:
        out["size_before"] = _size(cur, action, lock_timeout)
        start = clock()
        tries = 0
        delays = backoff_delays(max(1, attempts), backoff)
        error: Optional[Exception] = None
        status = "failed"
        while True:
            tries += 1
            try:
                cur.execute(stmt)
                status = "done"
                error = None
                break
            except psycopg2.errors.LockNotAvailable as exc:
                error = exc
                status = "skipped"
                if tries > len(delays):
                    break
                sleep(delays[tries - 1])
            except psycopg2.Error as exc:
                error = exc
                status = "failed"
                break
        out["duration_seconds"] = round(clock() - start, 3)
        out["attempts"] = tries
        out["status"] = status
        if error is not None:
            out["error"] = client.first_line(error)
        if conn.closed:
            out["size_after"] = None
        else:
            out["size_after"] = _size(cur, action, lock_timeout)
    return out


def leftover_indexes_for(conn, schema: str, table: str) -> List[Dict[str, Any]]:
    """INVALID *_ccnew / *_ccold indexes of one table (after a failed REINDEX CONCURRENTLY)."""
    rows = catalog_runner.index_rows(conn, toast=True)
    return [{"kind": "index", "action": "drop_invalid_index", "schema": r["schema"], "name": r["name"],
             "table": r["table"], "reason": "INVALID index left by the failed REINDEX CONCURRENTLY above"}
            for r in rows if r["schema"] == schema and r["table"] == table and not r["is_valid"]
            and maintenance_plan.LEFTOVER_INDEX.search(r["name"]) and not r.get("reindex_in_progress")]


def execute_plan(
    conn,
    actions: Sequence[Dict[str, Any]],
    lock_timeout: float = 2.0,
    statement_timeout: float = 0.0,
    attempts: int = 3,
    backoff: float = 1.0,
    drop_leftovers: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> List[Dict[str, Any]]:
    """Run the actions in order; a REINDEX that fails gets its leftovers dropped at once."""
    with conn.cursor() as cur:
        set_timeouts(cur, lock_timeout, statement_timeout)
    done: List[Dict[str, Any]] = []
    for index, action in enumerate(actions):
        if conn.closed:
            for rest in actions[index:]:
                item = dict(rest)
                item.update(status="failed", error="connection lost before this statement ran",
                            duration_seconds=0.0, attempts=0, size_before=None, size_after=None)
                done.append(item)
            break
        result = execute_action(conn, action, attempts=attempts, backoff=backoff, sleep=sleep,
                                lock_timeout=lock_timeout)
        done.append(result)
        if (result["status"] != "done" and result["action"] in ("reindex_index", "reindex_table")
                and drop_leftovers and not conn.closed):
            for extra in leftover_indexes_for(conn, result["schema"], result["table"]):
                extra["sql"] = render(extra, conn)
                done.append(execute_action(conn, extra, attempts=attempts, backoff=backoff, sleep=sleep,
                                           lock_timeout=lock_timeout))
    return done


# --------------------------------------------------------------------------- entry point


def run(module: Any) -> None:
    """``runbook.ops.pg_maintenance``: check the options, plan, run (or only plan in check
    mode) and exit. Bad input fails the task; so does maintenance that could not be carried
    out (an unreachable server, a database that does not exist, unreadable statistics): its
    failed result keeps the schema with the critical check. Statements that ran and failed,
    or were skipped for a lock, are checks of a successful result (the health gate judges)."""
    params = module.params
    argspec.check_module_input(module, maintenance_plan.validate_run_options)
    try:
        cfg = maintenance_plan.normalize_config(params)
    except maintenance_plan.PlanError as exc:
        module.fail_json(msg=str(exc))
    database = params["database"]
    try:
        conn = client.connect(params, statement_timeout_ms=int(params["statement_timeout"] * 1000),
                              lock_timeout_ms=int(params["lock_timeout"] * 1000), read_only=module.check_mode)
    except client.PgConnectError as exc:
        res = maintenance_plan.unreachable_result(exc.message)
        module.fail_json(msg=res["summary"], changed=False, **res)
    try:
        try:
            tables, indexes, settings = catalog_runner.collect(
                conn, toast="drop_invalid_indexes" in cfg["operations"] or cfg["reindex_database"])
            planned = maintenance_plan.plan(tables, indexes, cfg, settings)
            for item in planned:
                item["sql"] = render(item, conn)
        except maintenance_plan.PlanError as exc:
            module.fail_json(msg=str(exc))
        except client.DatabaseError as exc:
            res = maintenance_plan.error_result(
                "reading statistics failed: %s" % client.error_message(exc, params.get("login_password")))
            module.fail_json(msg=res["summary"], changed=False, **res)
        if module.check_mode:
            module.exit_json(changed=False, **maintenance_plan.plan_result(planned, database))
        try:
            done = execute_plan(
                conn, planned, lock_timeout=params["lock_timeout"], statement_timeout=params["statement_timeout"],
                attempts=params["lock_retries"], backoff=params["retry_backoff"],
                drop_leftovers="drop_invalid_indexes" in cfg["operations"], sleep=lifeline.guarded())
        except lifeline.TaskGone as exc:
            module.fail_json(msg=str(exc), changed=True)
    finally:
        if not conn.closed:
            conn.close()
    changed = any(item["status"] == "done" for item in done)
    module.exit_json(changed=changed, **maintenance_plan.run_result(planned, done, database))
