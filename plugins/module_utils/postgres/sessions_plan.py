# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long PostgreSQL sessions, the pure part: which to stop, whether one still runs, the result.

Rows of ``pg_stat_activity`` in, decisions out, so that recorded rows can be replayed
in unit tests; ``sessions_runner`` reads the rows and sends the signals.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.common.lifeline import MAX_WAIT_SECONDS
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, metric_key

# The pg_stat_activity states pg_terminate may act on, and those it acts on by default.
STATES = ["active", "idle in transaction", "idle in transaction (aborted)", "fastpath function call"]
DEFAULT_STATES = ["active", "idle in transaction", "idle in transaction (aborted)"]


def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message for unusable pg_terminate options, else None."""
    if params["min_duration"] < 0:
        return "min_duration must not be negative, got %s" % params["min_duration"]
    if not 0 <= params["grace_seconds"] <= MAX_WAIT_SECONDS:
        return "grace_seconds must be at least 0 and at most %g seconds, got %s" % (
            MAX_WAIT_SECONDS, params["grace_seconds"])
    if not params["states"]:
        return "states must not be empty"
    if params["query_chars"] < 1:
        return "query_chars must be at least 1, got %d" % params["query_chars"]
    return None


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


def none_left(survivors: Sequence[Any]) -> bool:
    """The grace wait's predicate: every cancelled session has let go."""
    return not survivors
