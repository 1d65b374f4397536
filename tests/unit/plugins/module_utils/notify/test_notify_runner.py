"""notify_runner without receivers: which channels are configured, the report annotated without
changing its verdict, check mode and misconfiguration reported as warning checks."""

from __future__ import annotations

import copy

from ansible_collections.runbook.ops.plugins.module_utils.notify import notify_runner

REPORT = {"schema": "runbook.ops/report/v1", "run": {"playbook": "health_check.yml"}, "status": "critical",
          "severity": "P1", "summary": "critical (P1): 1 check", "failures": ["h: critical x: down"],
          "hosts": {"h": {"results": [{"checks": [{"name": "x", "status": "critical", "severity": "P1",
                                                   "message": "down"}]}]}}}


def settings(**extra):
    return notify_runner.settings_from(dict(extra))


def test_channels_need_their_settings():
    assert notify_runner.channels_of(settings()) == {}
    assert notify_runner.channels_of(settings(pagerduty_routing_key="k")) == {"pagerduty": None}
    problems = notify_runner.channels_of(settings(slack_channel="#x", webhook_url="http://h/", smtp_host="m"))
    assert "slack_token" in problems["slack"] and "webhook_secret" in problems["webhook"]
    assert "email_to" in problems["email"]


def test_nothing_configured_does_nothing(tmp_path):
    out = notify_runner.notify_report(REPORT, settings(), str(tmp_path / "s.json"))
    assert out["checks"] == [] and out["requests"] == [] and not list(tmp_path.iterdir())


def test_a_misconfigured_channel_is_a_warning_check_and_sends_nothing(tmp_path):
    out = notify_runner.notify_report(REPORT, settings(webhook_url="http://127.0.0.1:9/"), str(tmp_path / "s.json"))
    assert [(c["name"], c["status"]) for c in out["checks"]] == [("notify.webhook", "warning")]
    assert out["events"] == []


def test_check_mode_builds_masked_requests_and_writes_no_state(tmp_path):
    out = notify_runner.notify_report(REPORT, settings(pagerduty_routing_key="SEEDED-KEY-1234",
                                                       pagerduty_url="http://127.0.0.1:9/v2/enqueue"),
                                      str(tmp_path / "s.json"), check_mode=True)
    assert [r["body"]["routing_key"] for r in out["requests"]] == ["********"]
    assert [(e["action"], e["sent"]) for e in out["events"]] == [("trigger", False)]
    assert not (tmp_path / "s.json").exists()


def test_a_broken_state_file_is_a_warning_not_an_exception(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("garbage")
    out = notify_runner.notify_report(REPORT, settings(pagerduty_routing_key="k"), str(path))
    assert [(c["name"], c["status"]) for c in out["checks"]] == [("notify.state", "warning")]
    assert path.read_text() == "garbage"


def test_annotate_adds_a_section_and_lines_but_keeps_the_verdict():
    report = copy.deepcopy(REPORT)
    outcome = {"checks": [{"name": "notify.slack", "status": "warning", "message": "HTTP 500"},
                          {"name": "notify.pagerduty", "status": "ok", "message": "1 delivered"}],
               "events": [], "held": [], "platforms": {"h": "sandbox"}}
    notify_runner.annotate(report, outcome)
    for key in ("status", "severity", "summary", "hosts"):
        assert report[key] == REPORT[key]
    assert report["notify"]["status"] == "warning" and report["notify"]["platforms"] == {"h": "sandbox"}
    assert report["failures"] == REPORT["failures"] + ["notify: warning notify.slack: HTTP 500"]
