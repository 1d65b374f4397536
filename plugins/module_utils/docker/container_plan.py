# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions about Docker containers: is this one healthy?

Each function judges a container from its ``docker inspect`` attributes (plain dicts):
state, HEALTHCHECK status, restart count and restart loops, and log lines matching a
pattern. No engine call, no clock (``now`` is passed in), so container_check and the
rolling deploy share them and tests replay recorded attributes.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import calendar
import re
from typing import Any, Dict, List, Mapping, Optional, Pattern, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    check,
    down,
    level_high,
    metric_key,
)
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import DockerClientError, client_kwargs

ENGINE_CHECK = "docker.engine"


def engine_down_check(reason: str) -> Dict[str, Any]:
    """The ``docker.engine`` check for an engine that did not answer (P0)."""
    return down(ENGINE_CHECK, "docker engine unreachable: %s" % reason)


def short_text(text: str, size: int = 300) -> str:
    """``text`` on one line, cut to ``size`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 3] + "..."


_DOCKER_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def parse_docker_time(value: Optional[str]) -> Optional[float]:
    """Epoch seconds of a Docker RFC 3339 time (nanoseconds allowed); None for empty or the zero time."""
    if not value:
        return None
    match = _DOCKER_TIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if int(year) <= 1:
        return None
    epoch = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0))
    epoch += float("0." + fraction[:9]) if fraction else 0.0
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        epoch -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return epoch


def container_name(attrs: Mapping[str, Any]) -> str:
    """The container's name without its leading slash, else its short ID."""
    return str(attrs.get("Name") or str(attrs.get("Id", ""))[:12]).lstrip("/")


def label_filters(labels: List[str]) -> List[str]:
    """Validate ``key`` / ``key=value`` selectors for the engine's label filter (all must match)."""
    cleaned = []
    for label in labels:
        key = label.split("=", 1)[0].strip()
        if not key:
            raise DockerClientError("label selector %r needs a key (key or key=value)" % label)
        cleaned.append(label.strip())
    return cleaned


def state_check(name: str, attrs: Mapping[str, Any], now: float, last_logs: Optional[List[str]] = None
                ) -> Dict[str, Any]:
    """``container.<name>.state``: running is ok, paused a warning, restarting critical (P1),
    exited / dead / created / removing critical P0 (the service is not running).
    """
    state = attrs.get("State") or {}
    status = state.get("Status") or ("running" if state.get("Running") else "unknown")
    restarts = int(attrs.get("RestartCount") or 0)
    value: Dict[str, Any] = {
        "status": status,
        "running": bool(state.get("Running")),
        "exit_code": state.get("ExitCode"),
        "oom_killed": bool(state.get("OOMKilled")),
        "error": state.get("Error") or "",
        "started_at": state.get("StartedAt"),
        "finished_at": state.get("FinishedAt"),
        "restart_count": restarts,
        "image": (attrs.get("Config") or {}).get("Image"),
    }
    check_name = "container.%s.state" % name
    if status == "running" and not state.get("Restarting"):
        if state.get("Paused"):
            return check(check_name, WARNING, "paused", value=value)
        started = parse_docker_time(state.get("StartedAt"))
        up = " for %s" % duration(now - started) if started and now >= started else ""
        return check(check_name, OK, "running%s" % up, value=value)
    if status == "paused":
        return check(check_name, WARNING, "paused", value=value)
    if last_logs:
        value["last_logs"] = last_logs
    if status == "restarting" or state.get("Restarting"):
        return check(check_name, CRITICAL, "restarting (exit code %s, %d restarts)" % (state.get("ExitCode"), restarts),
                     value=value)
    detail = status
    if status in ("exited", "dead"):
        detail += " with code %s" % state.get("ExitCode")
        finished = parse_docker_time(state.get("FinishedAt"))
        if finished and now >= finished:
            detail += " %s ago" % duration(now - finished)
    elif status == "created":
        detail = "created but never started"
    if state.get("OOMKilled"):
        detail += " (OOM killed)"
    if state.get("Error"):
        detail += ": %s" % short_text(state["Error"], 200)
    return down(check_name, "not running: %s" % detail, value=value)


def health_check(name: str, attrs: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """``container.<name>.health`` from the HEALTHCHECK status; None when the container is not running.

    healthy is ok, starting a warning, unhealthy critical with the last probe output.
    Without a HEALTHCHECK the check is ok with value ``none``.
    """
    state = attrs.get("State") or {}
    if not state.get("Running") or state.get("Restarting"):
        return None
    check_name = "container.%s.health" % name
    health = state.get("Health")
    if not health:
        return check(check_name, OK, "no HEALTHCHECK defined", value={"status": "none"})
    status = health.get("Status") or "none"
    log = health.get("Log") or []
    last = log[-1] if log else {}
    output = short_text(str(last.get("Output") or ""), 300)
    value = {"status": status, "failing_streak": health.get("FailingStreak", 0),
             "last_exit_code": last.get("ExitCode"), "last_output": output}
    if status == "healthy":
        return check(check_name, OK, "healthy", value=value)
    if status == "starting":
        return check(check_name, WARNING, "health check starting (not yet healthy)", value=value)
    if status == "unhealthy":
        message = "unhealthy (%d failing probes in a row)" % int(health.get("FailingStreak") or 0)
        if output:
            message += ": %s" % output
        return check(check_name, CRITICAL, message, value=value)
    return check(check_name, WARNING, "health status %s" % status, value=value)


def restarts_check(name: str, attrs: Mapping[str, Any], now: float, warning: Optional[float],
                   critical: Optional[float], loop_seconds: float = 300.0, loop_restarts: int = 2) -> Dict[str, Any]:
    """``container.<name>.restarts``: the restart count against thresholds (at or above), and
    restart loops: critical while the engine is restarting the container, or when it has
    restarted at least ``loop_restarts`` times and the current run began less than
    ``loop_seconds`` ago.
    """
    state = attrs.get("State") or {}
    restarts = int(attrs.get("RestartCount") or 0)
    policy = ((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    started = parse_docker_time(state.get("StartedAt"))
    up_for = (now - started) if started is not None else None
    check_name = "container.%s.restarts" % name
    value = {"restart_count": restarts, "restart_policy": policy,
             "seconds_since_start": round(up_for, 1) if up_for is not None else None}
    threshold = {"warning": warning, "critical": critical, "loop_seconds": loop_seconds,
                 "loop_restarts": loop_restarts}
    looping = restarts >= max(loop_restarts, 1) and (
        state.get("Restarting") or state.get("Status") == "restarting"
        or (up_for is not None and up_for < loop_seconds))
    if looping:
        since = " (last start %s ago)" % duration(up_for) if up_for is not None and up_for >= 0 else ""
        return check(check_name, CRITICAL,
                     "restart loop: %d restarts, exit code %s%s" % (restarts, state.get("ExitCode"), since),
                     value=value, threshold=threshold)
    status = level_high(restarts, warning, critical)
    message = "%d restart%s (policy %s)" % (restarts, "" if restarts == 1 else "s", policy)
    if status == CRITICAL:
        message += " (critical >= %g)" % critical
    elif status == WARNING:
        message += " (warning >= %g)" % warning
    return check(check_name, status, message, value=value, threshold=threshold)


def count_matching(lines: List[str], pattern: Pattern[str], sample_lines: int = 5) -> Tuple[int, List[str]]:
    """How many lines match, and the last ``sample_lines`` of them (each cut to 500 characters)."""
    matched = [line for line in lines if pattern.search(line)]
    return len(matched), [line[:500] for line in matched[-sample_lines:]] if sample_lines > 0 else []


def log_errors_check(name: str, lines: Optional[List[str]], pattern: Pattern[str], since_hours: float,
                     warning: Optional[float], critical: Optional[float], max_lines: int, sample_lines: int = 5,
                     error: str = "") -> Dict[str, Any]:
    """``container.<name>.log_errors``: lines matching ``pattern`` in the window, more than a threshold.

    ``lines`` is None when the logs could not be read (``error`` says why): a warning.
    """
    check_name = "container.%s.log_errors" % name
    threshold = {"warning": warning, "critical": critical}
    hours = ("%g" % since_hours) + "h"
    if lines is None:
        return check(check_name, WARNING, "cannot read logs: %s" % error, value={"count": None},
                     threshold=threshold)
    count, sample = count_matching(lines, pattern, sample_lines)
    capped = len(lines) >= max_lines
    value = {"count": count, "pattern": pattern.pattern, "since_hours": since_hours, "lines_read": len(lines),
             "capped": capped, "sample": sample}
    message = "%d log line%s match%s %r in the last %s" % (
        count, "" if count == 1 else "s", "es" if count == 1 else "", pattern.pattern, hours)
    if critical is not None and count > critical:
        status, message = CRITICAL, message + " (critical above %g)" % critical
    elif warning is not None and count > warning:
        status, message = WARNING, message + " (warning above %g)" % warning
    else:
        status = OK
    if capped:
        message += " (read only the last %d lines)" % max_lines
    return check(check_name, status, message, value=value, threshold=threshold)


def container_metrics(name: str, attrs: Mapping[str, Any], log_count: Optional[int]) -> Dict[str, float]:
    state = attrs.get("State") or {}
    running = bool(state.get("Running")) and not state.get("Restarting")
    metrics = {
        metric_key("container_up", container=name): 1.0 if running else 0.0,
        metric_key("container_restarts_total", container=name): float(attrs.get("RestartCount") or 0),
    }
    health = (state.get("Health") or {}).get("Status")
    if health and running:
        metrics[metric_key("container_healthy", container=name)] = 1.0 if health == "healthy" else 0.0
    if log_count is not None:
        metrics[metric_key("container_log_errors", container=name)] = float(log_count)
    return metrics


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    if seconds < 172800:
        return "%.1fh" % (seconds / 3600.0)
    return "%.1fd" % (seconds / 86400.0)


def normalize_container_params(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Validated selection and thresholds; DockerClientError on bad input."""
    names = [n.strip().lstrip("/") for n in params.get("names") or [] if n and n.strip()]
    labels = label_filters(params.get("labels") or [])
    if not names and not labels:
        raise DockerClientError("give names and/or labels to select containers")
    try:
        pattern = re.compile(params.get("log_pattern") or "ERROR", re.IGNORECASE if params.get("log_ignore_case") else 0)
    except re.error as exc:
        raise DockerClientError("invalid log_pattern %r: %s" % (params.get("log_pattern"), exc))
    for key in ("log_since_hours", "log_max_lines"):
        if params.get(key) is not None and params[key] <= 0:
            raise DockerClientError("%s must be positive" % key)
    for prefix in ("restarts", "log_errors"):
        warn, crit = params.get(prefix + "_warning"), params.get(prefix + "_critical")
        if warn is not None and crit is not None and warn > crit:
            raise DockerClientError("%s_warning (%s) is above %s_critical (%s)" % (prefix, warn, prefix, crit))
    client_kwargs(params)
    return {"names": names, "labels": labels, "pattern": pattern}
