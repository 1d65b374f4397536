# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one entry point of the notifications: a written run report in, the sends of this run out.

:func:`notify_report` is called by the report callback after it wrote the report, and by the
``notify`` module (:func:`run`) for a report.json on disk. It locks the state file, folds the
report's checks into alerts (``routing_plan``), builds each channel's requests
(``payload_plan``), sends them (``delivery_runner``, nothing in check mode), records what got
through and writes the state back. A send that fails is a ``notify.<channel>`` warning check
of the outcome, never an exception: the run's own result is not this code's to change.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import json
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline, validation
from ansible_collections.runbook.ops.plugins.module_utils.common import result as schema
from ansible_collections.runbook.ops.plugins.module_utils.notify import (
    argspec, client, delivery_runner, payload_plan, routing_plan, state_runner)


def settings_from(options: Mapping[str, Any]) -> Dict[str, Any]:
    """The settings from options named as in ``argspec.OPTIONS`` (missing ones take their default)."""
    out: Dict[str, Any] = {}
    for name, spec in argspec.OPTIONS.items():
        value = options.get(name)
        out[name] = spec.get("default") if value is None else value
    for name in ("state_file", "track"):
        out[name] = options.get(name)
    return out


def channels_of(settings: Mapping[str, Any]) -> Dict[str, Optional[str]]:
    """The configured channels, each with the problem of its settings (None when it can send)."""
    out: Dict[str, Optional[str]] = {}
    if settings.get("pagerduty_routing_key"):
        out["pagerduty"] = None
    if settings.get("slack_token") or settings.get("slack_channel"):
        out["slack"] = None if settings.get("slack_token") and settings.get("slack_channel") else \
            "slack_token and slack_channel are both needed"
    if settings.get("slack_webhook_url"):
        out["slack_webhook"] = None
    if settings.get("webhook_url"):
        out["webhook"] = None if settings.get("webhook_secret") else \
            "webhook_secret is needed: the webhook's requests are always signed"
    if settings.get("smtp_host") or settings.get("email_to"):
        out["email"] = None if settings.get("smtp_host") and settings.get("email_to") and \
            settings.get("email_from") else "smtp_host, email_from and email_to are all needed"
    return out


def secrets_of(settings: Mapping[str, Any]) -> List[str]:
    """Every secret value of the settings (to mask wherever text leaves this code)."""
    return [str(settings[name]) for name in argspec.SECRETS if settings.get(name)]


def _iso(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(timespec="seconds")


def _requests(events: List[Dict[str, Any]], settings: Mapping[str, Any], report: Mapping[str, Any],
              link: str, now: str) -> List[Dict[str, Any]]:
    """One request per event (e-mail: one for all of the run's e-mail events), each with its events."""
    out = []
    mails = []
    for event in events:
        channel = event["channel"]
        if channel == "pagerduty":
            request = payload_plan.pagerduty(event, settings["pagerduty_routing_key"], settings["pagerduty_url"],
                                             report, link, now)
        elif channel == "slack":
            request = payload_plan.slack(event, settings["slack_token"], settings["slack_channel"],
                                         settings["slack_api_url"], report, link)
        elif channel == "slack_webhook":
            request = payload_plan.slack_webhook(event, settings["slack_webhook_url"], report, link)
        elif channel == "webhook":
            request = payload_plan.webhook(event, settings["webhook_url"], settings["webhook_header"], report,
                                           link, now)
        else:
            mails.append(event)
            continue
        out.append({"request": request, "events": [event]})
    if mails:
        request = payload_plan.email(mails, settings["email_from"], settings["email_to"], report, link)
        out.append({"request": request, "events": mails})
    return out


def _show(request: Mapping[str, Any], secrets: List[str]) -> Dict[str, Any]:
    return payload_plan.masked(request, secrets, secret_url=request.get("channel") == "slack_webhook")


def notify_report(report: Mapping[str, Any], settings: Mapping[str, Any], state_file: str,
                  link: str = "", check_mode: bool = False, track: bool = True,
                  sleep: Callable[[float], None] = time.sleep, now: Optional[float] = None) -> Dict[str, Any]:
    """Send this run's notifications; return the outcome (never raises for a failed send).

    The outcome: ``checks`` (``notify.<channel>`` per channel used, warning when a send failed
    or the channel is misconfigured; ``notify.state`` when the state file failed), ``events``
    (channel, action, dedup_key, check, sent), ``requests`` (masked, in check mode the ones that
    would be sent), ``held`` (dedup_keys held behind a P0), ``changed`` (something was sent).
    """
    secrets = secrets_of(settings)
    channels = channels_of(settings)
    outcome: Dict[str, Any] = {"checks": [], "events": [], "requests": [], "held": [], "changed": False,
                               "state_file": state_file if track else None, "check_mode": bool(check_mode)}
    usable = [c for c in routing_plan.CHANNELS if c in channels and channels[c] is None]
    for channel, problem in channels.items():
        if problem:
            outcome["checks"].append(schema.check("notify.%s" % channel, schema.WARNING, problem))
    if not usable:
        return outcome
    stamp = _iso(time.time() if now is None else now)
    routes = {c: list(settings.get("%s_severities" % c) or []) for c in routing_plan.CHANNELS}
    platforms = dict(settings.get("platforms") or {})
    outcome["platforms"] = platforms
    try:
        if track and not check_mode:
            with state_runner.session(state_file, timeout=float(settings["lock_timeout"]), sleep=sleep) as box:
                box["state"] = _run(report, box["state"], settings, usable, routes, platforms, link, stamp,
                                    False, secrets, outcome, sleep)
        elif track:
            with state_runner.locked(state_file, timeout=float(settings["lock_timeout"]), sleep=sleep):
                state = state_runner.read(state_file)
            _run(report, state, settings, usable, routes, platforms, link, stamp, True, secrets, outcome, sleep)
        else:
            # Stateless (testing a route, re-sending): every failing check is new, no threshold.
            stateless = dict(settings, threshold=1)
            _run(report, routing_plan.empty_state(), stateless, usable, routes, platforms, link, stamp,
                 check_mode, secrets, outcome, sleep)
    except state_runner.StateError as exc:
        outcome["checks"].append(schema.check("notify.state", schema.WARNING,
                                              payload_plan.mask_text(exc, secrets)))
    return outcome


def _run(report, state, settings, usable, routes, platforms, link, stamp, check_mode, secrets, outcome,
         sleep) -> Dict[str, Any]:
    observed = routing_plan.observe(report, platforms)
    observed.update(routing_plan.absent_resolved(state, report, observed))
    new = routing_plan.evaluate(state, observed, int(settings["threshold"]), stamp)
    events = routing_plan.events(new, list(observed), usable, routes)
    outcome["held"] = sorted(k for k in observed if (new["alerts"].get(k) or {}).get("held"))
    failed: Dict[str, List[str]] = {}
    sent: Dict[str, int] = {}
    delivered = set()
    unreachable: Dict[str, int] = {}
    for item in _requests(events, settings, report, link, stamp):
        request = item["request"]
        channel = request["channel"]
        outcome["requests"].append(_show(request, secrets))
        if check_mode:
            continue
        if channel in unreachable:
            # The receiver did not answer after all retries: the run's end is not held any longer
            # for it; the next run sends these again.
            unreachable[channel] += 1
            continue
        try:
            receipt = delivery_runner.deliver(request, settings, sleep=sleep)
        except client.SendError as exc:
            failed.setdefault(channel, []).append(
                "%s %s: %s" % (item["events"][0]["action"], item["events"][0]["alert"].get("check"),
                               payload_plan.mask_text(exc, secrets)))
            if exc.retryable:
                unreachable[channel] = 0
            continue
        sent[channel] = sent.get(channel, 0) + len(item["events"])
        outcome["changed"] = True
        for event in item["events"]:
            routing_plan.record(new, event, stamp, receipt)
            delivered.add((event["channel"], event["key"]))
    for event in events:
        ok = (event["channel"], event["key"]) in delivered
        outcome["events"].append({"channel": event["channel"], "action": event["action"], "dedup_key": event["key"],
                                  "check": event["alert"].get("check"), "severity": event["alert"].get("severity"),
                                  "sent": ok})
    for channel in usable:
        if channel in failed:
            skipped = unreachable.get(channel, 0)
            message = "%d of %d notification(s) not delivered: %s%s" % (
                len(failed[channel]) + skipped, len(failed[channel]) + skipped + sent.get(channel, 0),
                "; ".join(failed[channel])[:900],
                "; %d more not attempted after the receiver failed" % skipped if skipped else "")
            outcome["checks"].append(schema.check("notify.%s" % channel, schema.WARNING, message,
                                                  value=sent.get(channel, 0)))
        elif channel in sent:
            outcome["checks"].append(schema.check("notify.%s" % channel, schema.OK,
                                                  "%d notification(s) delivered" % sent[channel],
                                                  value=sent[channel]))
    routing_plan.prune(new, usable)
    return new


def annotate(report: Dict[str, Any], outcome: Mapping[str, Any]) -> Dict[str, Any]:
    """The report with the notifications added: a ``notify`` section and a line per warning.

    The run's ``status``, ``severity`` and ``summary`` stay as they were: a notification that
    failed is reported beside the run's result, it does not change it.
    """
    warnings = [c for c in outcome.get("checks") or [] if c["status"] != schema.OK]
    report["notify"] = {
        "status": schema.WARNING if warnings else schema.OK,
        "checks": list(outcome.get("checks") or []),
        "events": list(outcome.get("events") or []),
        "held": list(outcome.get("held") or []),
        "check_mode": bool(outcome.get("check_mode")),
        "platforms": dict(outcome.get("platforms") or {}),
    }
    lines = schema.failure_lines({"checks": warnings}, minimum=schema.WARNING, prefix="notify: ")
    report["failures"] = list(report.get("failures") or []) + lines
    return report


def run(module: Any) -> None:
    """The ``notify`` module: send a report.json (check mode: show the requests, send nothing)."""
    validation.validate(module, argspec.RULES)
    params = module.params
    path = params["report"]
    if os.path.isdir(path):
        path = os.path.join(path, "report.json")
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="report: cannot read a report from %s: %s" % (path, getattr(exc, "strerror", None) or exc))
    if not isinstance(report, dict) or report.get("schema") != "runbook.ops/report/v1":
        module.fail_json(msg="report: %s is not a runbook.ops/report/v1 report" % path)
    settings = settings_from(params)
    if not settings.get("platforms"):
        settings["platforms"] = dict((report.get("notify") or {}).get("platforms") or {})
    run_dir = os.path.dirname(os.path.realpath(path))  # reports/latest -> the run's own directory
    state_file = params.get("state_file") or state_runner.default_path(os.path.dirname(run_dir))
    link = payload_plan.link_for(settings.get("report_url"), os.path.basename(run_dir),
                                 os.path.join(run_dir, "report.md"))
    if not channels_of(settings):
        module.fail_json(msg="no channel configured: set pagerduty_routing_key, slack_token, slack_webhook_url, "
                             "webhook_url or smtp_host")
    try:
        outcome = notify_report(report, settings, state_file, link=link, check_mode=module.check_mode,
                                track=bool(params.get("track")), sleep=lifeline.guarded())
    except lifeline.TaskGone as exc:
        module.fail_json(msg=str(exc))
    checks = outcome["checks"] or [schema.check("notify.run", schema.OK, "nothing to send")]
    result = schema.build(checks, {"notify_sent": sum(1 for e in outcome["events"] if e["sent"])}, subject="notify")
    result.update(changed=bool(outcome["changed"] or (module.check_mode and outcome["requests"])),
                  events=outcome["events"], requests=outcome["requests"], held=outcome["held"],
                  state_file=outcome["state_file"])
    if result["status"] != schema.OK:
        module.fail_json(msg=result["summary"], **result)
    module.exit_json(**result)
