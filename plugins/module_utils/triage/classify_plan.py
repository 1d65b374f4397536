# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proposed severity of an incident, from seed 002's matrix, with the evidence for it.

Pure: ``evidence(findings, rules)`` turns what the collectors found (a plain dict, see
``classify``) into evidence items ``{"name", "severity", "source", "message"}``;
``classify(findings, rules)`` picks the most urgent one and returns the level with the
matrix's description and response time.

The matrix (Incident Response Runbook, "Severity Levels"):

======  ========  ====================================================  =============
level   name      description                                           response time
======  ========  ====================================================  =============
P0      Critical  System down, data breach, security incident            15 minutes
P1      High      Major feature broken, performance degraded            1 hour
P2      Medium    Minor feature issues, workarounds available           4 hours
P3      Low       Cosmetic issues, enhancement requests                 24 hours
======  ========  ====================================================  =============

What counts as what (``DEFAULT_RULES``; each threshold can be overridden):

- P0 "system down": a service that does not answer (Redis, PostgreSQL, an HTTP endpoint: a
  health check with severity P0), a container that crash-loops (restarting, or at least
  ``crash_loop_restarts`` restarts in the window) or that exited with an error, an
  OOM-killed container; "security incident" / "data breach" / "data loss": a log line matching
  ``security_patterns`` or ``data_loss_patterns``.
- P1 "performance degraded": any other critical health check (a Celery queue past its
  critical depth: the seeds' "P1: High Task Queue Depth"), sessions blocked by a lock for at
  least ``blocking_seconds``, a transaction open longer than ``long_transaction_seconds``,
  connections at or above ``connections_critical`` percent.
- P2: warnings (a queue above its warning depth, sessions waiting on a lock for less time,
  ERROR lines in the logs).
- P3: nothing found.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Mapping, Optional

MATRIX: Dict[str, Dict[str, str]] = {
    "P0": {"name": "Critical", "description": "System down, data breach, security incident", "response_time": "15 minutes"},
    "P1": {"name": "High", "description": "Major feature broken, performance degraded", "response_time": "1 hour"},
    "P2": {"name": "Medium", "description": "Minor feature issues, workarounds available", "response_time": "4 hours"},
    "P3": {"name": "Low", "description": "Cosmetic issues, enhancement requests", "response_time": "24 hours"},
}

DEFAULT_RULES: Dict[str, Any] = {
    "crash_loop_restarts": 3,
    "blocking_seconds": 30,
    "long_transaction_seconds": 300,
    "connections_critical": 95,
    "error_lines_warning": 10,
}


def _item(name: str, severity: str, source: str, message: str, service: Optional[str] = None) -> Dict[str, Any]:
    return {"name": name, "severity": severity, "source": source, "message": message, "service": service or source}


def _health(findings: Mapping[str, Any]) -> List[Dict[str, Any]]:
    out = []
    for label, res in sorted((findings.get("health") or {}).items()):
        for chk in (res or {}).get("checks") or []:
            status = chk.get("status")
            if status not in ("warning", "critical"):
                continue
            severity = chk.get("severity") or ("P1" if status == "critical" else "P2")
            out.append(_item(str(chk.get("name")), severity, "health." + label,
                             "%s %s: %s" % (status, chk.get("name"), chk.get("message") or "no detail"),
                             service=str(chk.get("name", "")).split(".", maxsplit=1)[0]))
    return out


def _containers(findings: Mapping[str, Any], rules: Mapping[str, Any]) -> List[Dict[str, Any]]:
    out = []
    for item in findings.get("containers") or []:
        name = item.get("name")
        restarts = int(item.get("restart_count") or 0)
        window_restarts = int(item.get("restarts_in_window") or 0)
        status = item.get("status")
        exit_code = item.get("exit_code")
        if status == "restarting" or max(restarts, window_restarts) >= int(rules["crash_loop_restarts"]):
            out.append(_item("container.%s.crash_loop" % name, "P0", "docker",
                             "container %s is crash-looping: %s, %d restarts (%d in the window), last exit code %s"
                             % (name, status, restarts, window_restarts, exit_code), service=name))
        elif item.get("oom_killed"):
            out.append(_item("container.%s.oom_killed" % name, "P0", "docker",
                             "container %s was killed for lack of memory (OOM)" % name, service=name))
        elif status in ("exited", "dead") and exit_code not in (0, None):
            out.append(_item("container.%s.exited" % name, "P0", "docker",
                             "container %s is down: exited with code %s" % (name, exit_code), service=name))
        elif item.get("health") == "unhealthy":
            out.append(_item("container.%s.unhealthy" % name, "P1", "docker",
                             "container %s runs but fails its health check" % name, service=name))
        elif restarts > 0:
            out.append(_item("container.%s.restarts" % name, "P2", "docker",
                             "container %s restarted %d time(s)" % (name, restarts), service=name))
    return out


def _redis(findings: Mapping[str, Any]) -> List[Dict[str, Any]]:
    found = findings.get("redis")
    if not found:
        return []
    if not found.get("reachable"):
        return [_item("redis.ping", "P0", "redis", "Redis does not answer: %s" % (found.get("error") or "unreachable"),
                      service="redis")]
    out = []
    for queue in found.get("queues") or []:
        depth, warn, crit = queue.get("depth"), queue.get("warning"), queue.get("critical")
        if depth is None:
            continue
        if crit is not None and depth >= crit:
            out.append(_item("redis.queue.%s" % queue["name"], "P1", "redis",
                             "queue %s holds %d tasks (critical at %d): High Task Queue Depth" % (queue["name"], depth, crit),
                             service="celery"))
        elif warn is not None and depth >= warn:
            out.append(_item("redis.queue.%s" % queue["name"], "P2", "redis",
                             "queue %s holds %d tasks (warning at %d)" % (queue["name"], depth, warn), service="celery"))
    return out


def _postgres(findings: Mapping[str, Any], rules: Mapping[str, Any]) -> List[Dict[str, Any]]:
    found = findings.get("postgres")
    if not found:
        return []
    if not found.get("reachable"):
        return [_item("postgres.connection", "P0", "postgres",
                      "PostgreSQL does not answer: %s" % (found.get("error") or "unreachable"), service="postgres")]
    out = []
    blocked = found.get("blocked") or []
    if blocked:
        longest = max(float(b.get("wait_seconds") or 0) for b in blocked)
        roots = sorted({c.get("blocker") for c in found.get("chains") or [] if c.get("blocker") is not None})
        severity = "P1" if longest >= float(rules["blocking_seconds"]) else "P2"
        out.append(_item("postgres.blocking_locks", severity, "postgres",
                         "%d session(s) blocked by a lock held by pid %s, the longest for %.0f s"
                         % (len(blocked), ", ".join(str(r) for r in roots) or "?", longest), service="postgres"))
    long_xacts = [x for x in found.get("transactions") or []
                  if float(x.get("xact_seconds") or 0) >= float(rules["long_transaction_seconds"])]
    if long_xacts:
        out.append(_item("postgres.long_transactions", "P1", "postgres",
                         "%d transaction(s) open longer than %s s (pid %s)"
                         % (len(long_xacts), rules["long_transaction_seconds"], ", ".join(str(x.get("pid")) for x in long_xacts[:5])),
                         service="postgres"))
    pct = found.get("connections_pct")
    if pct is not None and pct >= float(rules["connections_critical"]):
        out.append(_item("postgres.connections", "P1", "postgres", "connections at %.0f%% of max_connections" % pct,
                         service="postgres"))
    return out


def _logs(findings: Mapping[str, Any], rules: Mapping[str, Any]) -> List[Dict[str, Any]]:
    out = []
    for item in findings.get("logs") or []:
        name = item.get("name")
        if item.get("security"):
            out.append(_item("logs.%s.security" % name, "P0", "logs",
                             "%d line(s) in %s match a security incident pattern" % (item["security"], name), service=name))
        if item.get("data_loss"):
            out.append(_item("logs.%s.data_loss" % name, "P0", "logs",
                             "%d line(s) in %s match a data loss pattern" % (item["data_loss"], name), service=name))
        if int(item.get("errors") or 0) >= int(rules["error_lines_warning"]):
            out.append(_item("logs.%s.errors" % name, "P2", "logs",
                             "%d ERROR line(s) in the collected part of %s" % (item["errors"], name), service=name))
    return out


def evidence(findings: Mapping[str, Any], rules: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Every evidence item, most urgent first, then by name (one per name: the most urgent)."""
    merged = dict(DEFAULT_RULES, **{k: v for k, v in (rules or {}).items() if v is not None})
    items = (_health(findings) + _containers(findings, merged) + _redis(findings)
             + _postgres(findings, merged) + _logs(findings, merged))
    best: Dict[str, Dict[str, Any]] = {}
    for item in items:
        if item["name"] not in best or item["severity"] < best[item["name"]]["severity"]:
            best[item["name"]] = item
    return sorted(best.values(), key=lambda i: (i["severity"], i["name"]))


def classify(findings: Mapping[str, Any], rules: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """``{"severity", "name", "description", "response_time", "evidence", "services", "summary"}``.

    ``findings`` keys (all optional): ``health`` {label: result}, ``containers`` [{name, status,
    restart_count, restarts_in_window, exit_code, oom_killed, health}], ``redis`` {reachable,
    error, queues [{name, depth, warning, critical}]}, ``postgres`` {reachable, error, blocked
    [{pid, wait_seconds}], chains, transactions [{pid, xact_seconds}], connections_pct},
    ``logs`` [{name, errors, security, data_loss}].
    """
    found = evidence(findings, rules)
    severity = found[0]["severity"] if found else "P3"
    deciding = [i for i in found if i["severity"] == severity]
    services = sorted({i["service"] for i in found if i["severity"] <= "P2" and i.get("service")})
    if deciding:
        summary = "%s (%s): %s" % (severity, MATRIX[severity]["name"], "; ".join(i["message"] for i in deciding[:3]))
    else:
        summary = "P3 (Low): no failing check, no crash loop, no blocked session: nothing urgent found"
    return dict(MATRIX[severity], severity=severity, evidence=found, services=services, summary=summary)
