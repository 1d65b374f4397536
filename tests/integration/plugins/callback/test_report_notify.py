"""The report callback's notifications through real ansible-playbook runs, against the real local
receivers of tests/utils/notify_receivers.py.

Each run is a small playbook whose one task returns the checks the test chooses (a module in the
playbook's library/), on localhost in the inventory group ``sandbox`` (the platform). The callback
is enabled by the repository's ansible.cfg; channels and secrets come from the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from utils.notify_receivers import Receivers

ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
ROUTING_KEY = "PDROUTINGKEY-seeded-0123456789ab"
SLACK_TOKEN = "xoxb-SEEDED-slack-token-5150"
HOOK_SECRET = "HOOK-SEEDED-secret-8086"
SECRETS = (ROUTING_KEY, SLACK_TOKEN, HOOK_SECRET)
KEY = "runbook.ops/sandbox/check/redis.ping"

FAKE_CHECK = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

RANK = {"ok": 0, "warning": 1, "critical": 2}
DEFAULT = {"critical": "P1", "warning": "P2", "ok": "P3"}


def main():
    module = AnsibleModule(argument_spec=dict(checks=dict(type="list", elements="dict", required=True)),
                           supports_check_mode=True)
    checks = []
    for item in module.params["checks"]:
        status = item.get("status", "ok")
        checks.append({"name": item["name"], "status": status, "value": None, "threshold": None,
                       "message": item.get("message", ""), "severity": item.get("severity") or DEFAULT[status]})
    status = max((c["status"] for c in checks), key=RANK.get, default="ok")
    failing = [c["severity"] for c in checks if c["status"] != "ok"]
    module.exit_json(changed=False, schema="runbook.ops/result/v1", status=status,
                     severity=min(failing) if failing else "P3", summary="fake: %s" % status,
                     checks=checks, metrics={})


if __name__ == "__main__":
    main()
'''

PLAYBOOK = """
- name: Fake health check
  hosts: all
  gather_facts: false
  tasks:
    - name: Checks
      fake_check:
        checks: "{{ fake_checks }}"
    - name: A task that fails when asked
      ansible.builtin.fail:
        msg: asked to fail
      when: fail_run | default(false) | bool
"""

INVENTORY = """
all:
  children:
    sandbox:
      hosts:
        localhost:
          ansible_connection: local
          ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

pytestmark = pytest.mark.slow

CRIT = [{"name": "redis.ping", "status": "critical", "message": "connection refused"}]
OK = [{"name": "redis.ping", "status": "ok", "message": "pong"}]


@pytest.fixture()
def receivers():
    with Receivers(routing_key=ROUTING_KEY, slack_token=SLACK_TOKEN, webhook_secret=HOOK_SECRET) as rec:
        yield rec


@pytest.fixture()
def workdir(tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "fake_check.py").write_text(FAKE_CHECK)
    (tmp_path / "check.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    return tmp_path


def channel_env(rec, **extra):
    env = {
        "RUNBOOK_OPS_NOTIFY_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "RUNBOOK_OPS_NOTIFY_PAGERDUTY_URL": rec.base + "/v2/enqueue",
        "RUNBOOK_OPS_NOTIFY_SLACK_TOKEN": SLACK_TOKEN,
        "RUNBOOK_OPS_NOTIFY_SLACK_CHANNEL": "#ops",
        "RUNBOOK_OPS_NOTIFY_SLACK_API_URL": rec.base + "/api",
        "RUNBOOK_OPS_NOTIFY_WEBHOOK_URL": rec.base + "/hook",
        "RUNBOOK_OPS_NOTIFY_WEBHOOK_SECRET": HOOK_SECRET,
        "RUNBOOK_OPS_NOTIFY_RETRIES": "2",
        "RUNBOOK_OPS_NOTIFY_BACKOFF": "0.05",
        "RUNBOOK_OPS_NOTIFY_TIMEOUT": "5",
    }
    env.update(extra)
    return env


def run(workdir, checks, env=None, args=(), fail_run=False, background=False):
    """One ansible-playbook run; returns (process, report dir)."""
    report_dir = workdir / "reports"
    extra = workdir / ("vars-%d.json" % time.monotonic_ns())
    extra.write_text(json.dumps({"fake_checks": checks, "fail_run": fail_run}))
    full = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_OPS_")}
    full.update(RUNBOOK_OPS_REPORT_DIR=str(report_dir), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                ANSIBLE_LIBRARY=str(workdir / "library"))
    full.pop("ANSIBLE_CONFIG", None)
    full.update(env or {})
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(workdir / "hosts.yml"), str(workdir / "check.yml"),
           "-e", "@%s" % extra, *args]
    if background:
        return subprocess.Popen(cmd, cwd=str(ROOT), env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True), report_dir
    proc = subprocess.run(cmd, cwd=str(ROOT), env=full, capture_output=True, text=True, timeout=180, check=False)
    return proc, report_dir


def latest(report_dir):
    return json.loads((report_dir / "latest" / "report.json").read_text())


def state(report_dir):
    return json.loads((report_dir / "notify-state.json").read_text())


def test_fail_fail_again_recover(workdir, receivers):
    env = channel_env(receivers)
    proc, reports = run(workdir, CRIT, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert receivers.alerts[KEY]["status"] == "triggered" and receivers.alerts[KEY]["opened"] == 1
    link = receivers.alerts[KEY]["events"][0]["links"][0]["href"]
    assert link == "file://" + str((reports / "latest").resolve() / "report.md")
    assert len(receivers.messages) == 1 and receivers.webhook_events[0]["event"] == "trigger"
    report = latest(reports)
    assert report["notify"]["status"] == "ok"
    assert {(e["channel"], e["action"], e["sent"]) for e in report["notify"]["events"]} == {
        ("pagerduty", "trigger", True), ("slack", "trigger", True), ("webhook", "trigger", True)}

    proc = run(workdir, CRIT, env)[0]
    assert proc.returncode == 0
    # one alert, updated (not a second one); the Slack message edited in place
    assert receivers.alerts[KEY]["opened"] == 1 and len(receivers.alerts[KEY]["events"]) == 2
    assert len(receivers.messages) == 1 and list(receivers.messages.values())[0]["edits"] == 1
    assert state(reports)["alerts"][KEY]["failures"] == 2

    proc = run(workdir, OK, env)[0]
    assert proc.returncode == 0
    assert receivers.alerts[KEY]["status"] == "resolved"
    assert "[resolved]" in list(receivers.messages.values())[0]["text"]
    assert [e["event"] for e in receivers.webhook_events] == ["trigger", "update", "resolve"]
    assert state(reports)["alerts"] == {}

    # a fourth, green run sends nothing
    count = len(receivers.requests)
    run(workdir, OK, env)
    assert len(receivers.requests) == count


def test_flapping_with_a_threshold_of_three(workdir, receivers):
    env = channel_env(receivers, RUNBOOK_OPS_NOTIFY_THRESHOLD="3", RUNBOOK_OPS_NOTIFY_SLACK_TOKEN="",
                      RUNBOOK_OPS_NOTIFY_SLACK_CHANNEL="", RUNBOOK_OPS_NOTIFY_WEBHOOK_URL="")
    for checks in (CRIT, CRIT, OK, CRIT, CRIT):
        proc, reports = run(workdir, checks, env)
        assert proc.returncode == 0, proc.stderr
    assert receivers.requests == [] and state(reports)["alerts"][KEY]["failures"] == 2
    run(workdir, CRIT, env)
    assert receivers.alerts[KEY]["status"] == "triggered" and len(receivers.requests) == 1
    run(workdir, OK, env)
    assert receivers.alerts[KEY]["status"] == "resolved"


@pytest.mark.parametrize("fail_run", [False, True])
def test_receiver_down_changes_neither_result_nor_exit_code(workdir, receivers, fail_run):
    baseline, reports = run(workdir, CRIT, {}, fail_run=fail_run)
    base_report = latest(reports)
    assert "notify" not in base_report  # no channel configured: the callback does exactly what it did
    down = Receivers()  # a port nobody listens on once stopped
    down.start()
    down.stop()
    env = channel_env(receivers, RUNBOOK_OPS_NOTIFY_PAGERDUTY_URL=down.base + "/v2/enqueue",
                      RUNBOOK_OPS_NOTIFY_SLACK_API_URL=down.base + "/api", RUNBOOK_OPS_NOTIFY_WEBHOOK_URL="")
    proc, reports = run(workdir, CRIT, env, fail_run=fail_run)
    assert proc.returncode == baseline.returncode == (2 if fail_run else 0)
    report = latest(reports)
    for key in ("status", "severity", "summary", "counts"):
        assert report[key] == base_report[key]
    assert [r["checks"] for r in report["hosts"]["localhost"]["results"]] == \
        [r["checks"] for r in base_report["hosts"]["localhost"]["results"]]
    warnings = {c["name"]: c for c in report["notify"]["checks"] if c["status"] == "warning"}
    assert set(warnings) == {"notify.pagerduty", "notify.slack"}
    assert "cannot reach the receiver" in warnings["notify.pagerduty"]["message"]
    assert any(line.startswith("notify: warning notify.pagerduty") for line in report["failures"])
    assert "notify: warning notify.slack" in (reports / "latest" / "report.md").read_text()
    assert "runbook.ops.report: notify.pagerduty" in proc.stdout + proc.stderr
    # nothing recorded as sent: the next run (receiver back) triggers
    assert state(reports)["alerts"][KEY]["channels"] == {}
    run(workdir, CRIT, channel_env(receivers, RUNBOOK_OPS_NOTIFY_WEBHOOK_URL=""), fail_run=fail_run)
    assert receivers.alerts[KEY]["status"] == "triggered"
    # the failed task is an alert of its own (task.<name>)
    assert len(receivers.messages) == (2 if fail_run else 1)
    assert ("runbook.ops/sandbox/check/task.A task that fails when asked" in receivers.alerts) is fail_run


def test_429_with_retry_after_is_honoured(workdir, receivers):
    receivers.limit("/v2/enqueue", 2, 1)
    env = channel_env(receivers, RUNBOOK_OPS_NOTIFY_SLACK_TOKEN="", RUNBOOK_OPS_NOTIFY_SLACK_CHANNEL="",
                      RUNBOOK_OPS_NOTIFY_WEBHOOK_URL="")
    proc, reports = run(workdir, CRIT, env)
    assert proc.returncode == 0
    times = [r["time"] for r in receivers.to("/v2/enqueue")]
    assert len(times) == 3 and times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95
    assert receivers.alerts[KEY]["status"] == "triggered"
    assert latest(reports)["notify"]["status"] == "ok"


def test_two_runs_ending_at_once_keep_one_consistent_state(workdir, receivers):
    receivers.delay = 0.3
    env = channel_env(receivers, RUNBOOK_OPS_NOTIFY_WEBHOOK_URL="")
    both = CRIT + [{"name": "disk./", "status": "warning", "message": "85%"}]
    procs = [run(workdir, both, env, background=True)[0] for _run in range(3)]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    current = state(workdir / "reports")
    assert current["alerts"][KEY]["failures"] == 3
    assert current["alerts"]["runbook.ops/sandbox/check/disk./"]["failures"] == 3
    # one PagerDuty alert and one Slack message per check, however the runs interleaved
    assert receivers.alerts[KEY]["opened"] == 1 and len(receivers.alerts[KEY]["events"]) == 3
    assert "runbook.ops/sandbox/check/disk./" not in receivers.alerts  # P2 is not paged
    # one Slack message per check (redis.ping P1, disk./ P2), posted once, then edited by the later runs
    assert len(receivers.to("/api/chat.postMessage")) == 2 and len(receivers.messages) == 2
    assert sorted(m["edits"] for m in receivers.messages.values()) == [2, 2]
    for alert in current["alerts"].values():
        assert alert["channels"]["slack"]["ts"] in receivers.messages


def test_check_mode_prints_the_payloads_and_sends_nothing(workdir, receivers):
    proc, reports = run(workdir, CRIT, channel_env(receivers), args=("--check",))
    assert proc.returncode == 0, proc.stderr
    assert receivers.requests == []
    assert not (reports / "notify-state.json").exists()
    assert "RUNBOOK.OPS NOTIFICATIONS (check mode: nothing sent)" in proc.stdout
    printed = proc.stdout.split("RUNBOOK.OPS NOTIFICATIONS", 1)[1].split("RUNBOOK.OPS REPORT", 1)[0]
    docs = json.loads("[" + printed.split("\n", 1)[1].strip().replace("\n}\n{", "\n},\n{") + "]")
    by_channel = {d["channel"]: d for d in docs}
    assert set(by_channel) == {"pagerduty", "slack", "webhook"}
    assert by_channel["pagerduty"]["body"]["dedup_key"] == KEY
    assert by_channel["pagerduty"]["body"]["routing_key"] == "********"
    assert by_channel["slack"]["headers"]["Authorization"] == "********"
    assert by_channel["slack"]["url"] == receivers.base + "/api/chat.postMessage"
    assert latest(reports)["notify"]["check_mode"] is True


def test_seeded_secrets_appear_nowhere(workdir, receivers):
    outputs = []
    env = channel_env(receivers)
    for checks, args in ((CRIT, ("--check", "-vvv")), (CRIT, ("-v",)), (OK, ())):
        proc, reports = run(workdir, checks, env, args=args)
        outputs.append(proc.stdout + proc.stderr)
    # a receiver that refuses the token answers with errors: still nothing leaks
    bad = channel_env(receivers, RUNBOOK_OPS_NOTIFY_PAGERDUTY_URL=receivers.base + "/v2/enqueue",
                      RUNBOOK_OPS_NOTIFY_PAGERDUTY_ROUTING_KEY="WRONG-" + ROUTING_KEY)
    proc, reports = run(workdir, CRIT, bad, args=("-vvv",))
    outputs.append(proc.stdout + proc.stderr)
    assert "notify.pagerduty" in proc.stdout + proc.stderr
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.name == "notify-state.json" for p in files)
    for text in outputs + [p.read_text(errors="replace") for p in files]:
        for secret in SECRETS:
            assert secret not in text


def test_a_slow_receiver_is_bounded_by_the_timeout(workdir, receivers):
    receivers.delay = 3
    env = channel_env(receivers, RUNBOOK_OPS_NOTIFY_TIMEOUT="0.5", RUNBOOK_OPS_NOTIFY_RETRIES="1",
                      RUNBOOK_OPS_NOTIFY_SLACK_TOKEN="", RUNBOOK_OPS_NOTIFY_SLACK_CHANNEL="",
                      RUNBOOK_OPS_NOTIFY_WEBHOOK_URL="")
    started = time.monotonic()
    proc, reports = run(workdir, CRIT, env)
    assert proc.returncode == 0
    assert time.monotonic() - started < 90  # a playbook run on a loaded machine; the message proves the timeout
    check = [c for c in latest(reports)["notify"]["checks"] if c["name"] == "notify.pagerduty"][0]
    assert check["status"] == "warning" and "within 0.5s" in check["message"], check
