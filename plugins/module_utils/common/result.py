# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one result schema shared by every runbook.ops check and action.

A result is a plain dict so that it travels through Ansible unchanged::

    {
      "schema": "runbook.ops/result/v1",
      "status": "ok" | "warning" | "critical",
      "severity": "P0" | "P1" | "P2" | "P3",
      "summary": "one line for people",
      "checks": [{"name", "status", "value", "threshold", "message", "severity"}],
      "metrics": {"metric_name": 1.0, 'metric_name{label="x"}': 2.0},
    }

Severity follows the seeds' incident levels: P0 when a service is down (an
availability check is critical), P1 for any other critical check, P2 for a
warning, P3 when everything is ok (informational, the daily summary).

Everything here is pure: no I/O, no Ansible imports, so the same functions
serve the modules (on the managed host), the action plugins and the report
callback (on the controller).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional

SCHEMA = "runbook.ops/result/v1"

OK = "ok"
WARNING = "warning"
CRITICAL = "critical"
STATUSES = (OK, WARNING, CRITICAL)
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}

SEVERITIES = ("P0", "P1", "P2", "P3")
_DEFAULT_SEVERITY = {CRITICAL: "P1", WARNING: "P2", OK: "P3"}

_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def status_rank(status: str) -> int:
    """Order statuses so that the worst one compares highest."""
    return _RANK[status]


def worst(statuses: Iterable[str]) -> str:
    """The worst of several statuses; ``ok`` when there are none."""
    result = OK
    for status in statuses:
        if _RANK[status] > _RANK[result]:
            result = status
    return result


def worst_severity(severities: Iterable[Optional[str]]) -> str:
    """The most urgent severity (P0 beats P1 ...); ``P3`` when there are none."""
    found = [s for s in severities if s]
    return min(found) if found else "P3"


def check(
    name: str,
    status: str,
    message: str = "",
    value: Any = None,
    threshold: Any = None,
    severity: Optional[str] = None,
) -> Dict[str, Any]:
    """Build one check entry of the schema.

    ``severity`` defaults from the status; pass ``"P0"`` for availability
    failures (a service down, a database unreachable).
    """
    if status not in _RANK:
        raise ValueError("unknown status %r" % (status,))
    if severity is not None and severity not in SEVERITIES:
        raise ValueError("unknown severity %r" % (severity,))
    return {
        "name": name,
        "status": status,
        "value": value,
        "threshold": threshold,
        "message": message,
        "severity": severity or _DEFAULT_SEVERITY[status],
    }


def down(name: str, message: str, value: Any = None, threshold: Any = None) -> Dict[str, Any]:
    """A critical availability check: the thing is not there at all (P0)."""
    return check(name, CRITICAL, message, value=value, threshold=threshold, severity="P0")


def level_high(value: Optional[float], warn: Optional[float], crit: Optional[float]) -> str:
    """Status for a value where higher is worse (disk %, latency, queue depth).

    A threshold of ``None`` is disabled. The boundary counts as crossed
    (``value >= crit`` is critical), matching "90% or more is critical".
    """
    if value is None:
        return OK
    if crit is not None and value >= crit:
        return CRITICAL
    if warn is not None and value >= warn:
        return WARNING
    return OK


def level_low(value: Optional[float], warn: Optional[float], crit: Optional[float]) -> str:
    """Status for a value where lower is worse (days to expiry, hit ratio)."""
    if value is None:
        return OK
    if crit is not None and value < crit:
        return CRITICAL
    if warn is not None and value < warn:
        return WARNING
    return OK


def threshold_check(
    name: str,
    value: Optional[float],
    warn: Optional[float],
    crit: Optional[float],
    unit: str = "",
    higher_is_worse: bool = True,
    what: Optional[str] = None,
) -> Dict[str, Any]:
    """A check that compares ``value`` with warn/critical thresholds.

    The message says what was measured and which threshold it crossed, e.g.
    ``disk / at 91.2% (critical at 90%)``.
    """
    status = (level_high if higher_is_worse else level_low)(value, warn, crit)
    label = what or name
    shown = _fmt(value, unit)
    if status == CRITICAL:
        message = "%s at %s (critical %s %s)" % (label, shown, ">=" if higher_is_worse else "<", _fmt(crit, unit))
    elif status == WARNING:
        message = "%s at %s (warning %s %s)" % (label, shown, ">=" if higher_is_worse else "<", _fmt(warn, unit))
    else:
        message = "%s at %s" % (label, shown)
    return check(name, status, message, value=value, threshold={"warning": warn, "critical": crit})


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = ("%.2f" % value).rstrip("0").rstrip(".")
    else:
        text = str(value)
    return text + unit


def metric_key(name: str, **labels: Any) -> str:
    """A metrics key: a Prometheus metric name, with optional labels.

    Name it by Prometheus's conventions, which the report's textfile follows and promtool checks:
    a cumulative value (it only grows) ends in ``_total`` and becomes a counter, a level does not
    and becomes a gauge; base units at the end (``_seconds``, ``_bytes``); never ``_count``,
    ``_sum`` or ``_bucket``. Say what it means in ``plugin_utils/metric_help.py`` and docs/reports.md.

    >>> metric_key("http_latency_seconds", endpoint="api")
    'http_latency_seconds{endpoint="api"}'
    """
    if not _METRIC_NAME.match(name):
        raise ValueError("invalid metric name %r" % (name,))
    if not labels:
        return name
    parts = []
    for key in sorted(labels):
        if not _LABEL_NAME.match(key):
            raise ValueError("invalid label name %r" % (key,))
        text = str(labels[key]).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append('%s="%s"' % (key, text))
    return "%s{%s}" % (name, ",".join(parts))


def build(
    checks: List[Dict[str, Any]],
    metrics: Optional[Mapping[str, Any]] = None,
    subject: str = "",
) -> Dict[str, Any]:
    """Assemble a result from its checks and metrics.

    ``subject`` names what was checked ("http", "postgres") and starts the summary.
    """
    status = worst(c["status"] for c in checks)
    failing = [c for c in checks if c["status"] != OK]
    severity = worst_severity(c.get("severity") for c in checks) if checks else "P3"
    if not failing:
        severity = "P3"
    prefix = (subject + ": ") if subject else ""
    if not checks:
        summary = prefix + "nothing to check"
    elif not failing:
        summary = prefix + "%d check%s ok" % (len(checks), "" if len(checks) == 1 else "s")
    else:
        summary = prefix + "; ".join("%s %s" % (c["name"], c["message"]) if c["message"] else c["name"] for c in failing)
    return {
        "schema": SCHEMA,
        "status": status,
        "severity": severity,
        "summary": summary,
        "checks": list(checks),
        "metrics": dict(metrics or {}),
    }


def is_result(value: Any) -> bool:
    """True when ``value`` is (a registered task result carrying) our schema."""
    return isinstance(value, Mapping) and value.get("schema") == SCHEMA and "checks" in value


def failure_lines(result: Mapping[str, Any], minimum: str = CRITICAL, prefix: str = "") -> List[str]:
    """One line per check at or above ``minimum``: ``critical redis.ping: connection refused``."""
    floor = _RANK[minimum]
    lines = []
    for item in result.get("checks", []):
        if _RANK.get(item.get("status"), 0) >= floor and item.get("status") != OK:
            lines.append("%s%s %s: %s" % (prefix, item["status"], item["name"], item.get("message") or "no detail"))
    return lines
