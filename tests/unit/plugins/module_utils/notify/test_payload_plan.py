"""payload_plan: each channel's request, signatures, and masking of every secret (pure)."""

from __future__ import annotations

import hashlib
import hmac
import json

from ansible_collections.runbook.ops.plugins.module_utils.notify import payload_plan as pp

ALERT = {"platform": "compose_app", "runbook": "health_check", "check": "redis.ping", "status": "critical",
         "severity": "P0", "hosts": ["web1"], "message": "web1: connection <refused> & gone", "failures": 2,
         "first_failed": "2026-01-01T00:00:00+00:00"}
REPORT = {"status": "critical", "severity": "P0", "summary": "critical (P0): 1 check", "failures": ["x"] * 30,
          "run": {"playbook": "health_check.yml", "started": "s", "finished": "f"}}
KEY = "runbook.ops/compose_app/health_check/redis.ping"


def event(action="trigger", previous=None):
    return {"channel": "x", "action": action, "key": KEY, "alert": dict(ALERT), "previous": previous}


def test_pagerduty_trigger_has_the_v2_shape_and_the_severity_of_the_level():
    req = pp.pagerduty(event(), "R" * 32, "https://events.pagerduty.com/v2/enqueue", REPORT, "https://r/x", "now")
    body = req["body"]
    assert body["event_action"] == "trigger" and body["dedup_key"] == KEY and body["routing_key"] == "R" * 32
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["source"] == "web1" and body["payload"]["group"] == "compose_app"
    assert body["links"] == [{"href": "https://r/x", "text": "runbook.ops report"}]
    assert len(body["payload"]["summary"]) <= 1024
    for level, severity in (("P1", "error"), ("P2", "warning"), ("P3", "info")):
        ev = event()
        ev["alert"]["severity"] = level
        assert pp.pagerduty(ev, "k", "u", REPORT, "", "now")["body"]["payload"]["severity"] == severity


def test_pagerduty_update_is_a_trigger_and_resolve_carries_only_the_key():
    assert pp.pagerduty(event("update"), "k", "u", REPORT, "", "now")["body"]["event_action"] == "trigger"
    body = pp.pagerduty(event("resolve"), "k", "u", REPORT, "", "now")["body"]
    assert body == {"routing_key": "k", "dedup_key": KEY, "event_action": "resolve"}


def test_pagerduty_summary_is_cut_to_1024():
    ev = event()
    ev["alert"]["message"] = "m" * 5000
    assert len(pp.pagerduty(ev, "k", "u", REPORT, "", "now")["body"]["payload"]["summary"]) == 1024


def test_slack_posts_first_then_updates_the_same_message_in_its_channel():
    first = pp.slack(event(), "xoxb-1", "#ops", "https://slack.com/api/", REPORT, "")
    assert first["url"] == "https://slack.com/api/chat.postMessage"
    assert first["body"]["channel"] == "#ops" and "ts" not in first["body"]
    assert first["headers"]["Authorization"] == "Bearer xoxb-1"
    assert "&lt;refused&gt; &amp;" in first["body"]["text"]  # Slack's three escapes
    later = pp.slack(event("update", {"ts": "17.1", "to": "C1"}), "xoxb-1", "#ops", "https://slack.com/api", REPORT, "")
    assert later["url"].endswith("/chat.update") and later["body"]["ts"] == "17.1" and later["body"]["channel"] == "C1"


def test_webhook_body_carries_the_event_and_the_report_summary_and_the_signature_verifies():
    req = pp.webhook(event(), "https://h/x", "X-Sig", REPORT, "https://r", "now")
    assert req["body"]["schema"] == "runbook.ops/notification/v1"
    assert req["body"]["report"]["summary"] == REPORT["summary"] and len(req["body"]["report"]["failures"]) == 20
    data = pp.encode(req)
    expected = "sha256=" + hmac.new(b"s3cret", data, hashlib.sha256).hexdigest()
    assert pp.signature("s3cret", data) == expected


def test_one_email_for_the_run_with_every_event():
    events = [event("trigger"), event("resolve")]
    events[1]["alert"] = dict(ALERT, check="disk./")
    mail = pp.email(events, "from@x", ["a@x", "b@x"], REPORT, "https://r")
    assert mail["subject"] == "[runbook.ops] P0 health_check: 1 opened, 1 resolved"
    assert "redis.ping" in mail["text"] and "disk./ is ok again" in mail["text"] and "https://r" in mail["text"]


def test_masked_hides_every_secret_even_inside_text_and_json_escapes():
    token = 'xoxb-"quoted"-token'
    req = pp.slack(event(), token, "#ops", "https://slack.com/api", dict(REPORT, summary="leak " + token), "")
    shown = json.dumps(pp.masked(req, [token]))
    assert "quoted" not in shown and pp.MASK in shown
    hook = pp.slack_webhook(event(), "https://hooks.slack.com/services/T/B/SECRETPATH", REPORT, "")
    assert "SECRETPATH" not in json.dumps(pp.masked(hook, ["https://hooks.slack.com/services/T/B/SECRETPATH"],
                                                    secret_url=True))
    pd = pp.pagerduty(event(), "R0UTINGKEY", "u", REPORT, "", "now")
    assert "R0UTINGKEY" not in json.dumps(pp.masked(pd, ["R0UTINGKEY"]))
    signed = pp.webhook(event(), "u", "X-Sig", REPORT, "", "now")
    signed["headers"]["X-Sig"] = "sha256=abc"
    assert pp.masked(signed, [])["headers"]["X-Sig"] == pp.MASK


def test_mask_text_ignores_empty_and_tiny_values():
    assert pp.mask_text("a b c", ["", None, "b"]) == "a b c"
    assert pp.mask_text("key=abcd1234", ["abcd1234"]) == "key=" + pp.MASK


def test_link_for():
    assert pp.link_for("https://reports.example/", "20260101T0Z", "/x/report.md") == \
        "https://reports.example/20260101T0Z/report.md"
    assert pp.link_for(None, "d", "/x/report.md") == "file:///x/report.md"
    assert pp.link_for(None, None, None) == ""
