# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident timeline from real timestamps.

Pure: each ``*_events`` function turns what one collector read (container attributes and the
engine's events, deploy records, log lines, pg_stat_activity rows, earlier reports, alerts)
into events ``{"time": epoch seconds, "at": ISO 8601 UTC, "source", "kind", "message"}``;
``build(events, limit)`` orders them by time (then by source and kind, so equal times keep a
stable order), drops duplicates, and keeps the first and the last events when there are more
than ``limit``. Nothing reads a clock: ``now`` is passed in.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.host import log_plan

# Docker's zero time, for a container that never started or never finished.
_ZERO = "0001-01-01T00:00:00Z"
_ERROR = re.compile(r"\b(?:ERROR|CRITICAL|FATAL|PANIC|Traceback)\b")


def iso(epoch: float) -> str:
    """``2026-12-02T07:41:03.120Z`` for an epoch time."""
    stamp = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (stamp.microsecond // 1000)


def parse_time(value: Any) -> Optional[float]:
    """Epoch seconds of an ISO 8601 string (Docker's nanoseconds accepted), a number, or None."""
    if value is None or value == "" or value == _ZERO:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    text = str(value).strip()
    if text.startswith("0001-01-01"):
        return None
    return log_plan.parse_iso(text)


def event(time: Optional[float], source: str, kind: str, message: str) -> Optional[Dict[str, Any]]:
    """One event, or None when the time is unknown (an event without a real time is left out)."""
    if time is None:
        return None
    return {"time": round(float(time), 6), "at": iso(float(time)), "source": source, "kind": kind, "message": message}


def container_events(attrs: Mapping[str, Any], engine_events: Sequence[Mapping[str, Any]] = ()) -> List[Dict[str, Any]]:
    """Created, started, finished (with the exit code) from ``inspect``, and every start, die,
    restart, kill and OOM from the engine's event stream."""
    name = str(attrs.get("Name") or "").lstrip("/") or str(attrs.get("Id", ""))[:12]
    state = attrs.get("State") or {}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    image = (attrs.get("Config") or {}).get("Image") or attrs.get("Image")
    seen_engine = {str(e.get("Action") or e.get("status") or "").split(":", maxsplit=1)[0] for e in engine_events}
    out = []
    if "create" not in seen_engine:
        out.append(event(parse_time(attrs.get("Created")), "docker", "container.create",
                         "container %s created from %s" % (name, image)))
    if labels.get("runbook.ops.previous-image-ref") or labels.get("runbook.ops.previous-image"):
        out.append(event(parse_time(attrs.get("Created")), "docker", "deploy.docker",
                         "deploy: %s replaced %s by %s (runbook.ops.docker_rollout)"
                         % (name, labels.get("runbook.ops.previous-image-ref") or labels.get("runbook.ops.previous-image"), image)))
    if "start" not in seen_engine:
        out.append(event(parse_time(state.get("StartedAt")), "docker", "container.start",
                         "container %s started (restart count %s)" % (name, state.get("RestartCount", attrs.get("RestartCount", 0)))))
    if "die" not in seen_engine and state.get("Status") != "running":
        out.append(event(parse_time(state.get("FinishedAt")), "docker", "container.die",
                         "container %s exited with code %s%s" % (name, state.get("ExitCode"), " (OOM killed)" if state.get("OOMKilled") else "")))
    for item in engine_events:
        action = str(item.get("Action") or item.get("status") or "").split(":", maxsplit=1)[0]
        attributes = (item.get("Actor") or {}).get("Attributes") or {}
        nano = item.get("timeNano")
        when = nano / 1e9 if isinstance(nano, (int, float)) and nano else item.get("time")
        if action == "die":
            message = "container %s exited with code %s" % (name, attributes.get("exitCode", "?"))
        elif action == "oom":
            message = "container %s ran out of memory (OOM)" % name
        elif action == "create":
            message = "container %s created from %s" % (name, image)
        elif action in ("start", "restart", "kill", "stop", "destroy"):
            message = "container %s: %s" % (name, action + ("" if action != "kill" else " (signal %s)" % attributes.get("signal", "?")))
        elif action == "health_status":
            message = "container %s: %s" % (name, str(item.get("Action") or item.get("status")).replace(": ", " "))
        else:
            continue
        out.append(event(parse_time(when), "docker", "container." + action, message))
    return [e for e in out if e]


def k8s_revision_events(deployment: str, history: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """A deploy event per recorded revision of a Deployment (k8s_rollout's history)."""
    out = []
    for rev in history:
        images = rev.get("images") or {}
        shown = ", ".join("%s=%s" % (k, v) for k, v in sorted(images.items())) if isinstance(images, Mapping) else str(images)
        cause = (": " + rev["change_cause"]) if rev.get("change_cause") else ""
        out.append(event(parse_time(rev.get("created")), "deploy", "deploy.kubernetes",
                         "deploy: %s revision %s (%s)%s" % (deployment, rev.get("revision"), shown, cause)))
    return [e for e in out if e]


def first_error_events(source: str, lines: Iterable[str], now: float, docker_timestamps: bool = False,
                       limit: int = 1) -> List[Dict[str, Any]]:
    """The first ``limit`` ERROR (or CRITICAL, FATAL, PANIC, Traceback) lines with a time."""
    out = []
    for line in lines:
        if not _ERROR.search(line):
            continue
        text = line
        if docker_timestamps:
            stamp, _sep, text = line.partition(" ")
            when = parse_time(stamp)
        else:
            when = log_plan.parse_timestamp(line, now)
        item = event(when, source, "log.error", "first ERROR in %s: %s" % (source, text.strip()[:300]))
        if item:
            out.append(item)
            if len(out) >= limit:
                break
    return out


def postgres_events(activity: Sequence[Mapping[str, Any]], blocked: Sequence[Mapping[str, Any]],
                    chains: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The blockers' transaction starts and the blocked sessions' waits, from pg_stat_activity."""
    by_pid = {int(row["pid"]): row for row in activity if row.get("pid") is not None}
    out = []
    for chain in chains:
        pid = chain.get("blocker")
        row = by_pid.get(int(pid)) if pid is not None else None
        if row:
            out.append(event(parse_time(row.get("xact_start")), "postgres", "postgres.blocker",
                             "pid %s (%s) began the transaction that blocks %d session(s): %s"
                             % (pid, row.get("user"), len(chain.get("blocked") or []), str(row.get("query") or "")[:200])))
    for row in blocked:
        pid = int(row["pid"])
        start = by_pid.get(pid, {}).get("query_start") or row.get("query_start")
        out.append(event(parse_time(start), "postgres", "postgres.lock_wait",
                         "pid %s waits for a lock held by pid %s" % (pid, ", ".join(str(p) for p in row.get("blocked_by") or []))))
    return [e for e in out if e]


def report_events(reports: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Earlier runs' reports (runbook.ops.report) that were not ok, and alerts sent."""
    out = []
    for rep in reports:
        run = rep.get("run") or {}
        if rep.get("status") in ("warning", "critical"):
            out.append(event(parse_time(run.get("started")), "report", "report." + str(rep.get("status")),
                             "%s run of %s: %s" % (rep.get("status"), run.get("playbook") or "a playbook", str(rep.get("summary") or "")[:200])))
    return [e for e in out if e]


def alert_events(alerts: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Alerts given to the triage (``{time, summary, source}``), e.g. the page that started it."""
    return [e for e in (event(parse_time(a.get("time")), str(a.get("source") or "alert"), "alert",
                              "alert: %s" % (a.get("summary") or a.get("message") or "")) for a in alerts) if e]


def build(events: Iterable[Optional[Mapping[str, Any]]], limit: int = 200) -> List[Dict[str, Any]]:
    """The events in time order without duplicates; past ``limit``, the first half and the last half."""
    unique: Dict[Any, Dict[str, Any]] = {}
    for item in events:
        if not item:
            continue
        key = (item["time"], item["source"], item["kind"], item["message"])
        unique.setdefault(key, dict(item))
    ordered = sorted(unique.values(), key=lambda e: (e["time"], e["source"], e["kind"], e["message"]))
    if len(ordered) > limit > 1:
        head = limit // 2
        ordered = ordered[:head] + ordered[len(ordered) - (limit - head):]
    return ordered
