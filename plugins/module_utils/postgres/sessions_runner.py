# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long PostgreSQL sessions, the I/O part: read pg_stat_activity, cancel, then terminate.

``run(module)`` is the entry point of ``runbook.ops.pg_terminate``; the decisions are
in ``sessions_plan``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Callable, Dict, List, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, down
from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline, waiting
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, client, sessions_plan

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


def _scalar(conn, query: str, args: Sequence[Any]) -> Any:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
    return row[0] if row else None


def current_sessions(conn, query_chars: int = 200) -> List[Dict[str, Any]]:
    """Client backends other than this session, longest running first."""
    return client.fetch_all(conn, SESSIONS_SQL, (query_chars,))


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
        except client.DatabaseError as exc:
            item["outcome"] = "failed"
            item["error"] = client.first_line(exc)
    cancelled = [i for i in out if "outcome" not in i]

    def survivors() -> List[Dict[str, Any]]:
        rows = current_sessions(conn)
        return [i for i in cancelled if sessions_plan.still_running(i, rows, states)]

    pending = waiting.wait_for(survivors, sessions_plan.none_left, grace_seconds, poll,
                               now=clock, sleep=sleep).value if cancelled else []
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
        except client.DatabaseError as exc:
            item["outcome"] = "failed"
            item["error"] = client.first_line(exc)
    return out


def run(module: Any) -> None:
    """``runbook.ops.pg_terminate``: find the long sessions, stop them (list them only in
    check mode) and exit. Bad input fails the task; so does an action that could not be
    carried out (an unreachable server, a database that does not exist, an unreadable
    pg_stat_activity): its failed result keeps the schema with the critical check."""
    params = module.params
    argspec.check_module_input(module, sessions_plan.validate_params)
    try:
        conn = client.connect(params, read_only=False)
    except client.PgConnectError as exc:
        res = build([down("postgres.connection", exc.message)], {}, subject="pg_terminate")
        module.fail_json(msg=res["summary"], changed=False, sessions=[], **res)
    try:
        try:
            rows = current_sessions(conn, params["query_chars"])
            found = sessions_plan.select_sessions(
                rows, params["min_duration"], params["states"], params["exclude_users"],
                params["exclude_applications"], params["databases"], own_pid=conn.get_backend_pid())
            if not module.check_mode:
                found = stop_sessions(conn, found, params["states"], params["grace_seconds"],
                                      terminate=params["terminate"], sleep=lifeline.guarded())
        except lifeline.TaskGone as exc:
            module.fail_json(msg=str(exc), changed=True)
        except client.DatabaseError as exc:
            message = "reading pg_stat_activity failed: %s" % client.error_message(exc, params.get("login_password"))
            res = build([check("postgres.long_sessions", "critical", message)], {}, subject="pg_terminate")
            module.fail_json(msg=res["summary"], changed=False, sessions=[], **res)
    finally:
        if not conn.closed:
            conn.close()
    res = sessions_plan.terminate_result(found, module.check_mode, params["min_duration"], params["grace_seconds"],
                                         params["terminate"])
    changed = (not module.check_mode) and any(item.get("cancel_sent") or item.get("outcome") == "terminated"
                                              for item in found)
    module.exit_json(changed=changed, **res)
