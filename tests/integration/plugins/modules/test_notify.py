"""runbook.ops.notify against real local receivers: PagerDuty Events v2, Slack Web API and incoming
webhook, a signed webhook (tests/utils/notify_receivers.py), and a real SMTP server with STARTTLS and
AUTH (aiosmtpd). Error answers, rate limits with Retry-After, check mode, and the secrets hunted."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from utils.http_servers import make_ca, make_cert
from utils.notify_receivers import Receivers, SmtpServer
from utils.run import ModuleFailed, run_module

ROUTING_KEY = "PDKEY0123456789abcdef0123456789a"
SLACK_TOKEN = "xoxb-SLACKTOKEN-seeded-4242"
HOOK_SECRET = "HOOKSECRET-seeded-7777"
SMTP_PASSWORD = "SMTPPASS-seeded-9999"
HOOK_PATH = "/slack-hook/T000/B000/HOOKPATHSECRET1234"
SECRETS = (ROUTING_KEY, SLACK_TOKEN, HOOK_SECRET, SMTP_PASSWORD, "HOOKPATHSECRET1234")


def write_report(base: Path, checks, name="20260101T000000.000000Z"):
    run_dir = base / "reports" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    failing = [c for c in checks if c[1] != "ok"]
    report = {
        "schema": "runbook.ops/report/v1",
        "run": {"playbook": "health_check.yml", "started": "2026-01-01T00:00:00+00:00",
                "finished": "2026-01-01T00:00:05+00:00", "check_mode": False},
        "status": "critical" if any(c[1] == "critical" for c in checks) else ("warning" if failing else "ok"),
        "severity": min([c[2] for c in failing] or ["P3"]),
        "summary": "test run",
        "hosts": {"localhost": {"status": "x", "severity": "x", "results": [{"task": "t", "module": "m", "checks": [
            {"name": n, "status": s, "severity": sev, "message": "%s %s" % (n, s)} for n, s, sev in checks]}]}},
        "failures": ["localhost: %s %s" % (c[1], c[0]) for c in failing],
        "notify": {"platforms": {"localhost": "sandbox"}},
    }
    (run_dir / "report.json").write_text(json.dumps(report))
    return run_dir


@pytest.fixture()
def receivers():
    with Receivers(routing_key=ROUTING_KEY, slack_token=SLACK_TOKEN, webhook_secret=HOOK_SECRET,
                   hook_path=HOOK_PATH) as rec:
        yield rec


@pytest.fixture()
def smtp(tmp_path):
    ca = make_ca(tmp_path / "pki")
    leaf = make_cert(tmp_path / "pki", "smtp", "127.0.0.1", 30, ca=ca)
    server = SmtpServer(leaf.cert, leaf.key, "runbook", SMTP_PASSWORD).start()
    server.ca = str(ca.cert)
    yield server
    server.stop()


def args_for(rec, run_dir, smtp=None, **extra):
    args = dict(report=str(run_dir), retries=2, backoff=0.05, timeout=5,
                pagerduty_routing_key=ROUTING_KEY, pagerduty_url=rec.base + "/v2/enqueue",
                slack_token=SLACK_TOKEN, slack_channel="#ops", slack_api_url=rec.base + "/api",
                slack_webhook_url=rec.base + HOOK_PATH,
                webhook_url=rec.base + "/hook", webhook_secret=HOOK_SECRET)
    if smtp is not None:
        args.update(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_username="runbook", smtp_password=SMTP_PASSWORD,
                    smtp_ca_file=smtp.ca, email_from="runbook@example.com", email_to=["oncall@example.com"])
    args.update(extra)
    return args


def hunt(*texts):
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, secret


def test_fail_fail_recover_on_every_channel(tmp_path, receivers, smtp):
    failing = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    result = run_module("notify", args_for(receivers, failing, smtp))
    assert result["changed"] is True and result["status"] == "ok", result["checks"]
    key = "runbook.ops/sandbox/health_check/redis.ping"
    assert receivers.alerts[key]["status"] == "triggered"
    assert receivers.alerts[key]["events"][0]["payload"]["severity"] == "error"
    assert receivers.alerts[key]["events"][0]["links"][0]["href"].endswith("/report.md")
    assert len(receivers.messages) == 1 and len(receivers.hook_messages) == 1
    assert receivers.webhook_events[0]["event"] == "trigger" and receivers.webhook_events[0]["dedup_key"] == key
    assert len(smtp.messages) == 1 and smtp.messages[0]["tls"] and smtp.logins == ["runbook"]
    assert "Subject: [runbook.ops] P1 health_check: 1 opened" in smtp.messages[0]["data"]
    state_path = tmp_path / "reports" / "notify-state.json"
    state = json.loads(state_path.read_text())
    ts = state["alerts"][key]["channels"]["slack"]["ts"]
    assert ts in receivers.messages

    # fail again: the same alert, updated; nothing new by e-mail or incoming webhook
    again = write_report(tmp_path, [("redis.ping", "critical", "P1")], name="20260101T010000.000000Z")
    run_module("notify", args_for(receivers, again, smtp))
    assert receivers.alerts[key]["opened"] == 1 and len(receivers.alerts[key]["events"]) == 2
    assert len(receivers.messages) == 1 and receivers.messages[ts]["edits"] == 1
    assert "failed 2 runs in a row" in receivers.messages[ts]["text"]
    assert len(receivers.hook_messages) == 1 and len(smtp.messages) == 1
    assert [e["event"] for e in receivers.webhook_events] == ["trigger", "update"]

    # recover: resolve everywhere, the state forgets the alert
    ok = write_report(tmp_path, [("redis.ping", "ok", "P3")], name="20260101T020000.000000Z")
    result = run_module("notify", args_for(receivers, ok, smtp))
    assert receivers.alerts[key]["status"] == "resolved"
    assert receivers.messages[ts]["text"].startswith(":large_green_circle: *[resolved]")
    assert [e["event"] for e in receivers.webhook_events] == ["trigger", "update", "resolve"]
    assert len(smtp.messages) == 2 and "1 resolved" in smtp.messages[1]["data"]
    assert json.loads(state_path.read_text())["alerts"] == {}
    hunt(json.dumps(result), state_path.read_text(), *[m["data"] for m in smtp.messages])


def test_check_mode_sends_nothing_writes_nothing_and_masks_the_requests(tmp_path, receivers, smtp):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P0")])
    result = run_module("notify", args_for(receivers, run_dir, smtp), check_mode=True)
    assert receivers.requests == [] and smtp.messages == []
    assert not (tmp_path / "reports" / "notify-state.json").exists()
    channels = sorted(r["channel"] for r in result["requests"])
    assert channels == ["email", "pagerduty", "slack", "slack_webhook", "webhook"]
    pd = [r for r in result["requests"] if r["channel"] == "pagerduty"][0]
    assert pd["body"]["routing_key"] == "********" and pd["body"]["payload"]["severity"] == "critical"
    hunt(json.dumps(result))


def test_pagerduty_invalid_event_fails_the_task_without_retrying(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir, pagerduty_routing_key="W" * 32,
                                      slack_token=None, slack_channel=None, slack_webhook_url=None,
                                      webhook_url=None, webhook_secret=None))
    failed = err.value.result
    check = [c for c in failed["checks"] if c["name"] == "notify.pagerduty"][0]
    assert check["status"] == "warning"
    assert "HTTP 400" in check["message"] and "routing_key" in check["message"]
    assert len(receivers.to("/v2/enqueue")) == 1
    assert "W" * 32 not in json.dumps(failed)
    # nothing was recorded as open: the next run triggers again
    state = json.loads((tmp_path / "reports" / "notify-state.json").read_text())
    assert list(state["alerts"].values())[0]["channels"] == {}


def test_429_retry_after_is_honoured(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    receivers.limit("/v2/enqueue", 1, 1)
    receivers.limit("/api/chat.postMessage", 1, 1)
    result = run_module("notify", args_for(receivers, run_dir, slack_webhook_url=None, webhook_url=None,
                                           webhook_secret=None))
    assert result["status"] == "ok", result["checks"]
    for path in ("/v2/enqueue", "/api/chat.postMessage"):
        times = [r["time"] for r in receivers.to(path)]
        assert len(times) == 2
        assert times[1] - times[0] >= 0.95, (path, times)  # the backoff (0.05 s) alone would be shorter


def test_a_retry_after_beyond_max_retry_after_gives_up_at_once(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    receivers.limit("/v2/enqueue", 5, 3600)
    started = time.monotonic()
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir, slack_token=None, slack_channel=None,
                                      slack_webhook_url=None, webhook_url=None, webhook_secret=None,
                                      max_retry_after=30))
    assert time.monotonic() - started < 10
    assert "retry after 3600s" in err.value.result["msg"] + json.dumps(err.value.result["checks"])
    assert len(receivers.to("/v2/enqueue")) == 1


def test_slack_errors_invalid_auth_and_a_deleted_message(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    only_slack = dict(pagerduty_routing_key=None, slack_webhook_url=None, webhook_url=None, webhook_secret=None)
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir, slack_token="xoxb-wrong-token-1", **only_slack))
    assert "Slack error invalid_auth" in json.dumps(err.value.result["checks"])
    assert len(receivers.to("/api/chat.postMessage")) == 1  # not retried
    run_module("notify", args_for(receivers, run_dir, **only_slack))
    assert len(receivers.messages) == 1
    receivers.messages.clear()  # someone deleted the message: chat.update -> message_not_found
    run_module("notify", args_for(receivers, run_dir, **only_slack))
    assert len(receivers.messages) == 1 and len(receivers.to("/api/chat.update")) == 1
    state = json.loads((tmp_path / "reports" / "notify-state.json").read_text())
    assert list(state["alerts"].values())[0]["channels"]["slack"]["ts"] in receivers.messages


def test_webhook_with_the_wrong_secret_is_refused_by_the_receiver(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir, pagerduty_routing_key=None, slack_token=None,
                                      slack_channel=None, slack_webhook_url=None, webhook_secret="not-the-secret"))
    assert "HTTP 401" in json.dumps(err.value.result["checks"])
    assert receivers.webhook_events == []
    assert "not-the-secret" not in json.dumps(err.value.result)


def test_smtp_wrong_password_is_a_warning_without_the_password(tmp_path, receivers, smtp):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir, smtp, pagerduty_routing_key=None, slack_token=None,
                                      slack_channel=None, slack_webhook_url=None, webhook_url=None,
                                      webhook_secret=None, smtp_password="WRONGPASS-0000"))
    text = json.dumps(err.value.result)
    assert "SMTP authentication failed" in text and "WRONGPASS-0000" not in text
    assert smtp.messages == []


def test_receiver_down_is_a_warning_after_the_retries(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    receivers.stop()
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir))
    checks = {c["name"]: c for c in err.value.result["checks"]}
    assert set(checks) == {"notify.pagerduty", "notify.slack", "notify.slack_webhook", "notify.webhook"}
    assert all("cannot reach the receiver" in c["message"] for c in checks.values())
    hunt(json.dumps(err.value.result))
    receivers.start = lambda: receivers  # already stopped; the fixture's stop must not fail
    receivers.stop = lambda: None


def test_track_false_sends_and_keeps_no_state(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("redis.ping", "critical", "P1")])
    for _run in range(2):
        result = run_module("notify", args_for(receivers, run_dir / "report.json", track=False, slack_token=None,
                                               slack_channel=None, slack_webhook_url=None, webhook_url=None,
                                               webhook_secret=None, threshold=3))
        assert result["state_file"] is None
    assert [e["event_action"] for e in receivers.alerts["runbook.ops/sandbox/health_check/redis.ping"]["events"]] \
        == ["trigger", "trigger"]
    assert not (tmp_path / "reports" / "notify-state.json").exists()


def test_bad_input_names_the_option(tmp_path, receivers):
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, tmp_path / "nope.json"))
    assert err.value.result["msg"].startswith("report: ")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, tmp_path / "other.json"))
    assert "runbook.ops/report/v1" in err.value.result["msg"]
    run_dir = write_report(tmp_path, [("x", "critical", "P1")])
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir, threshold=0))
    assert "threshold" in err.value.result["msg"]
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", {"report": str(run_dir), "webhook_url": "http://x/"})
    assert "webhook_secret" in err.value.result["msg"]
    assert os.path.exists(run_dir / "report.json")


def test_a_receiver_that_fails_after_its_retries_is_not_tried_again_in_the_same_run(tmp_path, receivers):
    run_dir = write_report(tmp_path, [("a", "critical", "P1"), ("b", "critical", "P1"), ("c", "critical", "P1")])
    receivers.limit("/v2/enqueue", 100, 0)
    with pytest.raises(ModuleFailed) as err:
        run_module("notify", args_for(receivers, run_dir, retries=1, slack_token=None, slack_channel=None,
                                      slack_webhook_url=None, webhook_url=None, webhook_secret=None))
    assert len(receivers.to("/v2/enqueue")) == 2  # the first alert and its one retry
    message = [c for c in err.value.result["checks"] if c["name"] == "notify.pagerduty"][0]["message"]
    assert message.startswith("3 of 3 notification(s) not delivered") and "2 more not attempted" in message
    state = json.loads((tmp_path / "reports" / "notify-state.json").read_text())
    assert all(a["channels"] == {} for a in state["alerts"].values())  # all three go again next run


def test_hostile_check_names_make_valid_events(tmp_path, receivers, smtp):
    evil = 'evil "name"\n<b>&amp;</b> ünï ' + "x" * 400
    run_dir = write_report(tmp_path, [(evil, "critical", "P1"), (evil + "2", "critical", "P1")])
    result = run_module("notify", args_for(receivers, run_dir, smtp))
    assert result["status"] == "ok", result["checks"]
    keys = [e["dedup_key"] for e in result["events"] if e["channel"] == "pagerduty"]
    assert len(set(keys)) == 2 and all(len(k) <= 255 for k in keys)
    assert set(keys) <= set(receivers.alerts)
    text = list(receivers.messages.values())[0]["text"]
    assert "<b>" not in text and "&lt;b&gt;&amp;amp;" in text
    assert len(smtp.messages) == 1 and "\nevil" not in smtp.messages[0]["data"].split("\n\n", 1)[0]
