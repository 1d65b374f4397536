# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sending the requests of one run: each channel's transport, with retries, backoff and a timeout.

:func:`deliver` sends one request (built by ``payload_plan``) and returns what the state keeps of
it (Slack's ``ts`` and channel id), or raises ``client.SendError`` after the last attempt. Retries
are for what can pass on a second try (refused connections, timeouts, 5xx, 429 and Slack's
``ratelimited``), after the backoff of ``routing_plan.retry_delay`` and never before the
receiver's Retry-After; a wrong request (PagerDuty's 400 "invalid event", Slack's
``invalid_auth``) fails at once.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Callable, Dict, Mapping

from ansible_collections.runbook.ops.plugins.module_utils.http import http_client
from ansible_collections.runbook.ops.plugins.module_utils.notify import client, payload_plan, routing_plan

# Slack answers HTTP 200 with ok:false; these errors pass on a later try.
SLACK_RETRYABLE = ("ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                   "request_timeout")
# chat.update cannot edit the message any more: post a new one (its ts replaces the old).
SLACK_REPOST = ("message_not_found", "cant_update_message", "edit_window_closed")


def with_retries(attempt: Callable[[], Dict[str, Any]], retries: int, backoff: float, max_wait: float,
                 sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """Call ``attempt`` until it returns, at most ``retries + 1`` times; re-raise the last SendError."""
    tries = 0
    while True:
        try:
            return attempt()
        except client.SendError as exc:
            if not exc.retryable or tries >= retries:
                raise
            delay = routing_plan.retry_delay(tries, backoff, exc.retry_after, max_wait)
            if delay is None:
                raise client.SendError("%s; the receiver asked to retry after %ss, more than max_retry_after %ss"
                                       % (exc, int(exc.retry_after or 0), max_wait), status=exc.status) from None
            tries += 1
            sleep(delay)


def _context(settings: Mapping[str, Any]):
    if settings.get("ca_file") or not settings.get("validate_certs", True):
        return http_client.ssl_context(bool(settings.get("validate_certs", True)), settings.get("ca_file"))
    return None


def _post(request: Mapping[str, Any], settings: Mapping[str, Any], secret: str = "") -> Dict[str, Any]:
    data = payload_plan.encode(request)
    headers = dict(request.get("headers") or {})
    if request.get("sign_header"):
        headers[request["sign_header"]] = payload_plan.signature(secret, data)
    return client.post_json(request["url"], data, headers, float(settings["timeout"]), context=_context(settings))


def _pagerduty(request: Mapping[str, Any], settings: Mapping[str, Any]) -> Dict[str, Any]:
    answer = _post(request, settings)
    data = answer.get("json") or {}
    if isinstance(data, dict) and data.get("status") not in (None, "success"):
        raise client.SendError("PagerDuty answered %s: %s" % (data.get("status"), data.get("message")))
    return {}


def _slack_once(request: Mapping[str, Any], settings: Mapping[str, Any]) -> Dict[str, Any]:
    answer = _post(request, settings)
    data = answer.get("json")
    if not isinstance(data, dict):
        raise client.SendError("Slack answered without JSON (HTTP %s)" % answer.get("status"), retryable=True)
    if not data.get("ok"):
        error = str(data.get("error") or "unknown_error")
        retry_after = client.parse_retry_after(answer["headers"].get("retry-after"))
        raise client.SendError("Slack error %s" % error, retryable=error in SLACK_RETRYABLE,
                               retry_after=retry_after, status=answer.get("status"))
    return {"ts": data.get("ts"), "to": data.get("channel")}


def deliver(request: Mapping[str, Any], settings: Mapping[str, Any],
            sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """Send one request with the settings' retries; the channel's receipt for the state."""
    channel = request["channel"]
    retries, backoff = int(settings["retries"]), float(settings["backoff"])
    max_wait = float(settings["max_retry_after"])

    def run(attempt: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
        return with_retries(attempt, retries, backoff, max_wait, sleep=sleep)

    if channel == "pagerduty":
        return run(lambda: _pagerduty(request, settings))
    if channel == "slack":
        try:
            return run(lambda: _slack_once(request, settings))
        except client.SendError as exc:
            if not str(exc).startswith("Slack error ") or str(exc)[12:] not in SLACK_REPOST:
                raise
        fresh = dict(request)
        fresh["url"] = request["url"].rsplit("/", 1)[0] + "/chat.postMessage"
        fresh["body"] = {k: v for k, v in request["body"].items() if k != "ts"}
        return run(lambda: _slack_once(fresh, settings))
    if channel == "slack_webhook":
        run(lambda: _post(request, settings))
        return {}
    if channel == "webhook":
        run(lambda: _post(request, settings, secret=settings["webhook_secret"]))
        return {}
    if channel == "email":
        run(lambda: _mail(request, settings))
        return {}
    raise client.SendError("unknown channel %s" % channel)


def _mail(request: Mapping[str, Any], settings: Mapping[str, Any]) -> Dict[str, Any]:
    context = http_client.ssl_context(bool(settings.get("validate_certs", True)),
                                      settings.get("smtp_ca_file") or settings.get("ca_file"))
    client.send_mail(settings["smtp_host"], int(settings["smtp_port"]), request["from"], request["to"],
                     request["subject"], request["text"], float(settings["timeout"]),
                     username=settings.get("smtp_username"), password=settings.get("smtp_password"),
                     starttls=bool(settings.get("smtp_starttls", True)), context=context)
    return {}
