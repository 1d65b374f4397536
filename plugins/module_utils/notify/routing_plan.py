# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which alerts a run opens, updates, resolves or holds back, and on which channels (pure).

An *alert* is one check of one runbook on one platform: its ``dedup_key`` is built from the
platform, the runbook and the check name, so the same check failing run after run is one alert
(updated), and the first run that sees it ok resolves it. The state of the open alerts travels
between runs as a plain dict (the state file, read and written by ``state_runner``)::

    {"schema": "runbook.ops/notify-state/v1",
     "alerts": {dedup_key: {"platform", "runbook", "check", "status", "severity", "hosts",
                            "message", "failures", "first_failed", "last_seen", "active", "held",
                            "channels": {channel: {"status", "severity", "sent", "ts"?, "to"?}}}}}

``failures`` counts the consecutive failed runs of the check; an alert becomes *active* once it
reaches the threshold N. An active alert below P0 on a platform that has an active P0 is *held*:
nothing is sent for it until the P0 is resolved. A channel receives an alert when the alert's
severity is routed to it; once an alert is open on a channel it stays there until it is resolved.

Nothing here reads a file, a clock or the network: times come in as ISO strings.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import copy
import hashlib
from typing import Any, Dict, List, Mapping, Optional, Sequence

STATE_SCHEMA = "runbook.ops/notify-state/v1"

CHANNELS = ("pagerduty", "slack", "slack_webhook", "webhook", "email")
SEVERITIES = ("P0", "P1", "P2", "P3")
DEFAULT_ROUTES = {
    "pagerduty": ["P0", "P1"],
    "slack": ["P0", "P1", "P2"],
    "slack_webhook": ["P0", "P1", "P2"],
    "webhook": ["P0", "P1", "P2"],
    "email": ["P0", "P1"],
}
# Channels whose receiver edits one alert in place (PagerDuty by dedup_key, Slack by the
# message's ts, a webhook receiver by dedup_key) get every run's update; the others (an e-mail,
# a Slack incoming webhook: each send is a new message) only when status or severity changed.
IN_PLACE = ("pagerduty", "slack", "webhook")

TRIGGER = "trigger"
UPDATE = "update"
RESOLVE = "resolve"

DEDUP_KEY_MAX = 255  # PagerDuty's limit
# Checks that exist only while something fails: once their host is back in a run without them,
# they are over (a failed task that now passes, a host that is reachable again).
ABSENT_MEANS_OK = ("host.reachable", "task.")


def empty_state() -> Dict[str, Any]:
    """The state before the first run."""
    return {"schema": STATE_SCHEMA, "alerts": {}}


def runbook_name(report: Mapping[str, Any]) -> str:
    """``health_check.yml`` -> ``health_check`` (the run's playbook names the runbook)."""
    name = str((report.get("run") or {}).get("playbook") or "run")
    for ext in (".yml", ".yaml"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return name or "run"


def dedup_key(platform: str, runbook: str, check: str) -> str:
    """``runbook.ops/<platform>/<runbook>/<check>``, at most 255 characters.

    A longer key keeps its start and ends with a hash of the whole, so two long keys that share
    their first 230 characters still differ.
    """
    key = "runbook.ops/%s/%s/%s" % (platform, runbook, check)
    if len(key) <= DEDUP_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return key[: DEDUP_KEY_MAX - 17] + "#" + digest


def platform_of(host: str, platforms: Mapping[str, str]) -> str:
    """The platform a host belongs to (its inventory group), or the host itself."""
    return str(platforms.get(host) or host)


def platforms_from_groups(groups: Mapping[str, Sequence[str]], platform_groups: Sequence[str]) -> Dict[str, str]:
    """host -> platform: the first of ``platform_groups`` (in that order) that holds the host."""
    out: Dict[str, str] = {}
    for group in platform_groups:
        for host in groups.get(group) or ():
            out.setdefault(str(host), str(group))
    return out


def _rank(status: str) -> int:
    return {"ok": 0, "warning": 1, "critical": 2}.get(status, 2)


def observe(report: Mapping[str, Any], platforms: Mapping[str, str]) -> Dict[str, Dict[str, Any]]:
    """Every check of the report folded per alert: worst status and severity over its hosts.

    Returns ``{dedup_key: {"platform", "runbook", "check", "status", "severity", "hosts",
    "message"}}`` where ``hosts`` are the hosts on which the check failed (all of them when ok).
    """
    runbook = runbook_name(report)
    seen: Dict[str, Dict[str, Any]] = {}
    for host in sorted(report.get("hosts") or {}):
        platform = platform_of(host, platforms)
        for res in (report["hosts"][host] or {}).get("results") or []:
            for item in res.get("checks") or []:
                check = str(item.get("name") or "")
                if not check:
                    continue
                key = dedup_key(platform, runbook, check)
                obs = seen.setdefault(key, {"platform": platform, "runbook": runbook, "check": check,
                                            "status": "ok", "severity": "P3", "hosts": [], "all_hosts": [],
                                            "message": ""})
                status = str(item.get("status") or "critical")
                if host not in obs["all_hosts"]:
                    obs["all_hosts"].append(host)
                if status == "ok":
                    continue
                severity = str(item.get("severity") or "P1")
                if host not in obs["hosts"]:
                    obs["hosts"].append(host)
                if _rank(status) > _rank(obs["status"]) or (
                        _rank(status) == _rank(obs["status"]) and severity < obs["severity"]):
                    obs["status"] = status
                    obs["severity"] = severity
                    obs["message"] = "%s: %s" % (host, " ".join(str(item.get("message") or "").split())[:500])
    for obs in seen.values():
        if obs["status"] == "ok":
            obs["hosts"] = list(obs["all_hosts"])
        del obs["all_hosts"]
    return seen


def absent_resolved(state: Mapping[str, Any], report: Mapping[str, Any],
                    observed: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Alerts of checks that exist only while failing (``host.reachable``, ``task.*``) and are gone.

    Such an alert is over when this run's report has results for every host it failed on, none of
    them unreachable, and the check is not among them. Any other check that is missing from a run
    (a ``--tags`` or ``--limit`` run) leaves its alert as it was.
    """
    runbook = runbook_name(report)
    hosts = report.get("hosts") or {}
    out: Dict[str, Dict[str, Any]] = {}
    for key, alert in (state.get("alerts") or {}).items():
        if key in observed or alert.get("runbook") != runbook or not alert.get("failures"):
            continue
        check = str(alert.get("check") or "")
        if not any(check == p or (p.endswith(".") and check.startswith(p)) for p in ABSENT_MEANS_OK):
            continue
        alert_hosts = alert.get("hosts") or []
        if not alert_hosts or any(h not in hosts or _unreachable(hosts[h]) for h in alert_hosts):
            continue
        out[key] = {"platform": alert.get("platform"), "runbook": runbook, "check": check, "status": "ok",
                    "severity": "P3", "hosts": list(alert_hosts), "message": "no longer failing"}
    return out


def _unreachable(host_data: Mapping[str, Any]) -> bool:
    return any(c.get("name") == "host.reachable" and c.get("status") != "ok"
               for r in host_data.get("results") or [] for c in r.get("checks") or [])


def evaluate(state: Mapping[str, Any], observed: Mapping[str, Mapping[str, Any]], threshold: int,
             now: str) -> Dict[str, Any]:
    """The state after this run's observations: failure counts, active and held alerts.

    Returns a new state (the input is not changed). Alerts not observed keep their counts.
    """
    new = copy.deepcopy(dict(state)) if state else empty_state()
    new["schema"] = STATE_SCHEMA
    alerts = new.setdefault("alerts", {})
    threshold = max(1, int(threshold))
    for key, obs in observed.items():
        alert = alerts.get(key)
        if alert is None:
            if obs["status"] == "ok":
                continue
            alert = alerts[key] = {"channels": {}, "failures": 0, "first_failed": None}
        alert.update(platform=obs["platform"], runbook=obs["runbook"], check=obs["check"], last_seen=now)
        if obs["status"] == "ok":
            alert["failures"] = 0
            alert["active"] = False
            alert["status"] = "ok"
            alert["message"] = obs.get("message") or ""
        else:
            alert["failures"] = int(alert.get("failures") or 0) + 1
            alert["first_failed"] = alert.get("first_failed") or now
            alert.update(status=obs["status"], severity=obs["severity"], hosts=list(obs["hosts"]),
                         message=obs["message"])
            alert["active"] = alert["failures"] >= threshold
        alert.setdefault("severity", obs["severity"])
        alert.setdefault("hosts", list(obs["hosts"]))
    paging = {a.get("platform") for a in alerts.values() if a.get("active") and a.get("severity") == "P0"}
    for alert in alerts.values():
        alert["held"] = bool(alert.get("active") and alert.get("severity") != "P0" and alert.get("platform") in paging)
    return new


def route(routes: Mapping[str, Sequence[str]], channel: str, severity: str) -> bool:
    """True when ``severity`` goes to ``channel``."""
    return severity in (routes.get(channel) or ())


def events(state: Mapping[str, Any], keys: Sequence[str], channels: Sequence[str],
           routes: Mapping[str, Sequence[str]]) -> List[Dict[str, Any]]:
    """The sends of this run, for the alerts in ``keys`` (those the run observed), per channel.

    - active, not held: ``trigger`` on a routed channel it is not open on; ``update`` on the
      channels it is open on (every run for :data:`IN_PLACE` channels, else only when its status
      or severity changed since the last send there);
    - no longer failing: ``resolve`` on every channel it is open on;
    - held, or failing below the threshold: nothing.
    """
    out = []
    alerts = state.get("alerts") or {}
    for key in sorted(keys):
        alert = alerts.get(key)
        if alert is None:
            continue
        opened = alert.get("channels") or {}
        for channel in channels:
            here = opened.get(channel)
            action = None
            if alert.get("active") and not alert.get("held"):
                if here is None:
                    if route(routes, channel, alert.get("severity")):
                        action = TRIGGER
                elif channel in IN_PLACE or (here.get("status"), here.get("severity")) != (
                        alert.get("status"), alert.get("severity")):
                    action = UPDATE
            elif not alert.get("failures") and here is not None:
                action = RESOLVE
            if action:
                out.append({"channel": channel, "action": action, "key": key, "alert": snapshot(alert),
                            "previous": dict(here) if here else None})
    return out


def snapshot(alert: Mapping[str, Any]) -> Dict[str, Any]:
    """What a payload needs of an alert (no channel bookkeeping)."""
    return {k: copy.deepcopy(alert.get(k)) for k in
            ("platform", "runbook", "check", "status", "severity", "hosts", "message", "failures", "first_failed")}


def record(state: Dict[str, Any], event: Mapping[str, Any], now: str,
           extra: Optional[Mapping[str, Any]] = None) -> None:
    """Write a delivered event into ``state`` (in place): open/updated on the channel, or gone."""
    alert = (state.get("alerts") or {}).get(event["key"])
    if alert is None:
        return
    channels = alert.setdefault("channels", {})
    if event["action"] == RESOLVE:
        channels.pop(event["channel"], None)
        return
    entry = dict(channels.get(event["channel"]) or {})
    entry.update(status=alert.get("status"), severity=alert.get("severity"), sent=now)
    entry.update(dict(extra or {}))
    channels[event["channel"]] = entry


def prune(state: Dict[str, Any], channels: Sequence[str]) -> None:
    """Forget alerts that no longer fail and are open on no configured channel."""
    alerts = state.get("alerts") or {}
    for key in list(alerts):
        alert = alerts[key]
        open_here = [c for c in (alert.get("channels") or {}) if c in channels]
        if not alert.get("failures") and not open_here:
            del alerts[key]


def retry_delay(attempt: int, backoff: float, retry_after: Optional[float], max_wait: float) -> Optional[float]:
    """The pause before the next attempt (``attempt`` counts from 0), or None to give up.

    Exponential backoff (``backoff``, 2x, 4x ...), never shorter than the receiver's Retry-After;
    a Retry-After longer than ``max_wait`` is not waited for: the send gives up at once.
    """
    delay = float(backoff) * (2 ** attempt)
    if retry_after is not None:
        if retry_after > max_wait:
            return None
        delay = max(delay, float(retry_after))
    return min(delay, float(max_wait))
