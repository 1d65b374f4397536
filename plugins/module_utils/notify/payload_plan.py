# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The requests each channel sends for an event, and their masked form for people (pure).

A request is ``{"channel", "method", "url", "headers", "body"}`` (``body`` a dict sent as JSON)
or, for e-mail, ``{"channel": "email", "subject", "from", "to", "text"}``. :func:`masked` is
what check mode prints and what a warning may quote: every secret (routing key, token, webhook
URL, signature) replaced by ``********``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import copy
import hashlib
import hmac
import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.notify import routing_plan

MASK = "********"
NOTIFICATION_SCHEMA = "runbook.ops/notification/v1"
SIGNATURE_HEADER = "X-Runbook-Ops-Signature"
PAGERDUTY_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
PAGERDUTY_SUMMARY_MAX = 1024
SLACK_TEXT_MAX = 3000
ICON = {"trigger": ":red_circle:", "update": ":large_orange_circle:", "resolve": ":large_green_circle:"}


def headline(alert: Mapping[str, Any], action: str) -> str:
    """``[P0] sandbox/health_check: critical redis.ping: localhost: connection refused``."""
    if action == routing_plan.RESOLVE:
        return "[resolved] %s/%s: %s is ok again" % (alert.get("platform"), alert.get("runbook"), alert.get("check"))
    return "[%s] %s/%s: %s %s: %s" % (alert.get("severity"), alert.get("platform"), alert.get("runbook"),
                                      alert.get("status"), alert.get("check"), alert.get("message") or "no detail")


def report_summary(report: Mapping[str, Any], link: str) -> Dict[str, Any]:
    """The part of the run's report every notification carries."""
    run = report.get("run") or {}
    return {
        "status": report.get("status"),
        "severity": report.get("severity"),
        "summary": report.get("summary"),
        "failures": list(report.get("failures") or [])[:20],
        "playbook": run.get("playbook"),
        "started": run.get("started"),
        "finished": run.get("finished"),
        "link": link,
    }


def pagerduty(event: Mapping[str, Any], routing_key: str, url: str, report: Mapping[str, Any], link: str,
              now: str) -> Dict[str, Any]:
    """Events API v2: ``trigger`` (an update is a trigger with the same dedup_key) or ``resolve``."""
    alert = event["alert"]
    body: Dict[str, Any] = {"routing_key": routing_key, "dedup_key": event["key"]}
    if event["action"] == routing_plan.RESOLVE:
        body["event_action"] = "resolve"
    else:
        body["event_action"] = "trigger"
        body["payload"] = {
            "summary": headline(alert, event["action"])[:PAGERDUTY_SUMMARY_MAX],
            "source": ", ".join(alert.get("hosts") or []) or str(alert.get("platform")),
            "severity": PAGERDUTY_SEVERITY.get(alert.get("severity"), "error"),
            "timestamp": now,
            "component": alert.get("check"),
            "group": alert.get("platform"),
            "class": alert.get("runbook"),
            "custom_details": {
                "status": alert.get("status"),
                "incident_level": alert.get("severity"),
                "failed_runs": alert.get("failures"),
                "failing_since": alert.get("first_failed"),
                "hosts": alert.get("hosts"),
                "message": alert.get("message"),
                "report_summary": report.get("summary"),
            },
        }
        body["client"] = "runbook.ops"
        if link:
            body["links"] = [{"href": link, "text": "runbook.ops report"}]
    return {"channel": "pagerduty", "method": "POST", "url": url,
            "headers": {"Content-Type": "application/json"}, "body": body}


def slack_text(event: Mapping[str, Any], report: Mapping[str, Any], link: str) -> str:
    """The message text (Slack mrkdwn), the same for a new message and its updates."""
    alert = event["alert"]
    lines = ["%s *%s*" % (ICON.get(event["action"], ""), _slack_escape(headline(alert, event["action"])))]
    if event["action"] != routing_plan.RESOLVE:
        lines.append("failed %s run%s in a row, since %s; hosts: %s" % (
            alert.get("failures"), "" if alert.get("failures") == 1 else "s", alert.get("first_failed"),
            _slack_escape(", ".join(alert.get("hosts") or []))))
    lines.append("run: %s" % _slack_escape(str(report.get("summary") or "")))
    if link:
        lines.append("report: %s" % link)
    return "\n".join(lines)[:SLACK_TEXT_MAX]


def _slack_escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(event: Mapping[str, Any], token: str, channel: str, api_url: str, report: Mapping[str, Any],
          link: str) -> Dict[str, Any]:
    """Web API: ``chat.postMessage`` for a new alert, ``chat.update`` of its message (``ts``) after."""
    previous = event.get("previous") or {}
    text = slack_text(event, report, link)
    body: Dict[str, Any] = {"channel": previous.get("to") or channel, "text": text}
    method = "chat.postMessage"
    if previous.get("ts"):
        method = "chat.update"
        body["ts"] = previous["ts"]
    else:
        body["unfurl_links"] = False
    return {"channel": "slack", "method": "POST", "url": api_url.rstrip("/") + "/" + method,
            "headers": {"Content-Type": "application/json; charset=utf-8", "Authorization": "Bearer " + token},
            "body": body}


def slack_webhook(event: Mapping[str, Any], url: str, report: Mapping[str, Any], link: str) -> Dict[str, Any]:
    """Incoming webhook: a new message each time (it cannot edit one)."""
    return {"channel": "slack_webhook", "method": "POST", "url": url,
            "headers": {"Content-Type": "application/json"}, "body": {"text": slack_text(event, report, link)}}


def webhook(event: Mapping[str, Any], url: str, header: str, report: Mapping[str, Any], link: str,
            now: str) -> Dict[str, Any]:
    """Generic webhook: the event, the alert and the report summary as JSON (signed when sent)."""
    body = {
        "schema": NOTIFICATION_SCHEMA,
        "event": event["action"],
        "dedup_key": event["key"],
        "sent": now,
        "alert": dict(event["alert"]),
        "report": report_summary(report, link),
    }
    return {"channel": "webhook", "method": "POST", "url": url,
            "headers": {"Content-Type": "application/json", header: ""}, "body": body, "sign_header": header}


def encode(request: Mapping[str, Any]) -> bytes:
    """The exact bytes sent as the body (and signed)."""
    return json.dumps(request["body"], sort_keys=True, separators=(",", ":")).encode("utf-8")


def signature(secret: str, data: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the body bytes with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def email(events: Sequence[Mapping[str, Any]], sender: str, recipients: Sequence[str], report: Mapping[str, Any],
          link: str) -> Dict[str, Any]:
    """One message per run for all of the run's e-mail events."""
    opened = [e for e in events if e["action"] == routing_plan.TRIGGER]
    resolved = [e for e in events if e["action"] == routing_plan.RESOLVE]
    changed = [e for e in events if e["action"] == routing_plan.UPDATE]
    worst = min((e["alert"].get("severity") or "P3" for e in events if e["action"] != routing_plan.RESOLVE),
                default="resolved")
    runbook = events[0]["alert"].get("runbook") if events else ""
    parts = []
    for what, group in (("opened", opened), ("changed", changed), ("resolved", resolved)):
        if group:
            parts.append("%d %s" % (len(group), what))
    subject = "[runbook.ops] %s %s: %s" % (worst, runbook, ", ".join(parts))
    lines = [str(report.get("summary") or ""), ""]
    for event in events:
        lines.append("%-8s %s" % (event["action"], headline(event["alert"], event["action"])))
        if event["action"] != routing_plan.RESOLVE:
            lines.append("         hosts: %s; failed %s run(s) in a row since %s" % (
                ", ".join(event["alert"].get("hosts") or []), event["alert"].get("failures"),
                event["alert"].get("first_failed")))
    if link:
        lines.extend(["", "report: %s" % link])
    return {"channel": "email", "subject": " ".join(subject.split())[:250], "from": sender,
            "to": list(recipients), "text": "\n".join(lines) + "\n"}


def mask_text(text: Any, secrets: Iterable[str]) -> str:
    """``text`` with every secret (at least 4 characters long) replaced by ``********``."""
    out = str(text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


def masked(request: Mapping[str, Any], secrets: Iterable[str], secret_url: bool = False) -> Dict[str, Any]:
    """A request as people may see it: secrets, Authorization and signatures masked."""
    secrets = list(secrets)
    out = copy.deepcopy(dict(request))
    out.pop("sign_header", None)
    if secret_url and out.get("url"):
        out["url"] = MASK
    headers = out.get("headers") or {}
    for name in list(headers):
        if name.lower() == "authorization" or name == request.get("sign_header"):
            headers[name] = MASK
    text = json.dumps(out, sort_keys=True)
    return json.loads(mask_text(text, secrets + [json.dumps(s)[1:-1] for s in secrets]))


def printable(requests: Sequence[Mapping[str, Any]]) -> List[str]:
    """Lines for check mode: one JSON document per request."""
    return [json.dumps(r, indent=2, sort_keys=True) for r in requests]


def link_for(report_url: Optional[str], run_dir: Optional[str], local_path: Optional[str]) -> str:
    """The report's address: ``report_url`` + the run's directory name + ``/report.md``, else a file URI."""
    if report_url and run_dir:
        return "%s/%s/report.md" % (report_url.rstrip("/"), run_dir)
    if report_url:
        return report_url
    return "file://" + local_path if local_path else ""
