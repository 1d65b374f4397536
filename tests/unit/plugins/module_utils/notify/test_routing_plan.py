"""routing_plan: alerts from reports, thresholds, holding behind a P0, events per channel (pure)."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.notify import routing_plan as rp

ROUTES = dict(rp.DEFAULT_ROUTES)
CHANNELS = ("pagerduty", "slack", "email")
PLATFORMS = {"web1": "compose_app", "web2": "compose_app", "db1": "k8s_app"}


def report(checks_by_host, playbook="health_check.yml"):
    hosts = {}
    for host, checks in checks_by_host.items():
        hosts[host] = {"results": [{"task": "t", "checks": [
            {"name": n, "status": s, "severity": sev, "message": "%s is %s" % (n, s)} for n, s, sev in checks]}]}
    return {"run": {"playbook": playbook}, "hosts": hosts}


def step(state, rep, threshold=1, channels=CHANNELS, now="2026-01-01T00:00:00+00:00", deliver=True):
    observed = rp.observe(rep, PLATFORMS)
    observed.update(rp.absent_resolved(state, rep, observed))
    new = rp.evaluate(state, observed, threshold, now)
    evs = rp.events(new, list(observed), channels, ROUTES)
    if deliver:
        for event in evs:
            rp.record(new, event, now, {"ts": "1.1"} if event["channel"] == "slack" else None)
    rp.prune(new, channels)
    return new, [(e["channel"], e["action"], e["alert"]["check"]) for e in evs]


def test_dedup_key_is_platform_runbook_check_and_bounded():
    assert rp.dedup_key("compose_app", "health_check", "redis.ping") == "runbook.ops/compose_app/health_check/redis.ping"
    long_a = rp.dedup_key("p", "r", "x" * 400 + "a")
    long_b = rp.dedup_key("p", "r", "x" * 400 + "b")
    assert len(long_a) == 255 and len(long_b) == 255 and long_a != long_b


def test_runbook_name_and_platforms_from_groups():
    assert rp.runbook_name({"run": {"playbook": "backup.yaml"}}) == "backup"
    assert rp.runbook_name({}) == "run"
    groups = {"all": ["a", "b"], "prod": ["a"], "compose_app": ["a"], "sandbox": ["a", "b"]}
    assert rp.platforms_from_groups(groups, ["compose_app", "sandbox"]) == {"a": "compose_app", "b": "sandbox"}


def test_observe_folds_hosts_of_one_platform_into_one_alert_with_the_worst_status():
    rep = report({"web1": [("disk./", "warning", "P2")], "web2": [("disk./", "critical", "P1")],
                  "db1": [("disk./", "ok", "P3")]})
    seen = rp.observe(rep, PLATFORMS)
    web = seen["runbook.ops/compose_app/health_check/disk./"]
    assert (web["status"], web["severity"], web["hosts"]) == ("critical", "P1", ["web1", "web2"])
    assert web["message"].startswith("web2: ")
    assert seen["runbook.ops/k8s_app/health_check/disk./"]["status"] == "ok"


def test_fail_fail_recover_is_one_alert_updated_then_resolved():
    state = rp.empty_state()
    failing = report({"web1": [("redis.ping", "critical", "P1")]})
    state, evs = step(state, failing)
    assert sorted(evs) == [("email", "trigger", "redis.ping"), ("pagerduty", "trigger", "redis.ping"),
                           ("slack", "trigger", "redis.ping")]
    state, evs = step(state, failing)
    # PagerDuty and Slack update in place; the e-mail is not sent again for the same status
    assert sorted(evs) == [("pagerduty", "update", "redis.ping"), ("slack", "update", "redis.ping")]
    alert = state["alerts"]["runbook.ops/compose_app/health_check/redis.ping"]
    assert alert["failures"] == 2 and alert["channels"]["slack"]["ts"] == "1.1"
    state, evs = step(state, report({"web1": [("redis.ping", "ok", "P3")]}))
    assert sorted(evs) == [("email", "resolve", "redis.ping"), ("pagerduty", "resolve", "redis.ping"),
                           ("slack", "resolve", "redis.ping")]
    assert state["alerts"] == {}


def test_an_ok_check_never_seen_failing_sends_nothing_and_keeps_no_state():
    state, evs = step(rp.empty_state(), report({"web1": [("redis.ping", "ok", "P3")]}))
    assert evs == [] and state["alerts"] == {}


def test_flapping_needs_n_consecutive_failures():
    state = rp.empty_state()
    bad = report({"web1": [("http.api", "critical", "P0")]})
    good = report({"web1": [("http.api", "ok", "P3")]})
    sent = []
    for rep in (bad, good, bad, bad, good, bad, bad):
        state, evs = step(state, rep, threshold=3)
        sent.extend(evs)
    assert sent == []
    state, evs = step(state, bad, threshold=3)
    assert ("pagerduty", "trigger", "http.api") in evs
    state, evs = step(state, good, threshold=3)
    assert ("pagerduty", "resolve", "http.api") in evs


def test_lower_severities_are_held_while_a_p0_of_the_platform_is_open():
    state = rp.empty_state()
    both = report({"web1": [("http.api", "critical", "P0"), ("disk./", "warning", "P2")],
                   "db1": [("disk./", "warning", "P2")]})
    state, evs = step(state, both)
    checks = {(c, k) for c, _a, k in evs}
    assert ("pagerduty", "http.api") in checks
    # compose_app's warning is held; k8s_app's (another platform) is not
    assert ("slack", "disk./") in checks and len([e for e in evs if e[2] == "disk./"]) == 1
    assert state["alerts"]["runbook.ops/compose_app/health_check/disk./"]["held"] is True
    # the P0 recovers: the held warning goes out in the same run
    state, evs = step(state, report({"web1": [("http.api", "ok", "P3"), ("disk./", "warning", "P2")],
                                     "db1": [("disk./", "warning", "P2")]}))
    assert ("pagerduty", "resolve", "http.api") in evs
    assert ("slack", "trigger", "disk./") in evs


def test_a_failed_send_is_retried_next_run_and_a_failed_resolve_too():
    state = rp.empty_state()
    bad = report({"web1": [("redis.ping", "critical", "P1")]})
    state, evs = step(state, bad, channels=["pagerduty"], deliver=False)
    assert evs == [("pagerduty", "trigger", "redis.ping")]
    state, evs = step(state, bad, channels=["pagerduty"])
    assert evs == [("pagerduty", "trigger", "redis.ping")]
    good = report({"web1": [("redis.ping", "ok", "P3")]})
    state, evs = step(state, good, channels=["pagerduty"], deliver=False)
    assert evs == [("pagerduty", "resolve", "redis.ping")]
    assert state["alerts"]  # still open on PagerDuty
    state, evs = step(state, good, channels=["pagerduty"])
    assert evs == [("pagerduty", "resolve", "redis.ping")] and state["alerts"] == {}


def test_escalation_opens_on_the_newly_routed_channel_and_email_hears_of_the_change():
    state = rp.empty_state()
    state, evs = step(state, report({"web1": [("queue", "warning", "P2")]}))
    assert evs == [("slack", "trigger", "queue")]
    state, evs = step(state, report({"web1": [("queue", "critical", "P1")]}))
    assert sorted(evs) == [("email", "trigger", "queue"), ("pagerduty", "trigger", "queue"),
                           ("slack", "update", "queue")]


def test_checks_that_exist_only_while_failing_resolve_when_gone():
    state = rp.empty_state()
    state, evs = step(state, report({"web1": [("host.reachable", "critical", "P0")]}))
    assert ("pagerduty", "trigger", "host.reachable") in evs
    # a run without web1 leaves it open
    state, evs = step(state, report({"db1": [("disk./", "ok", "P3")]}))
    assert evs == [] and state["alerts"]
    state, evs = step(state, report({"web1": [("disk./", "ok", "P3")]}))
    assert ("pagerduty", "resolve", "host.reachable") in evs
    # an ordinary check missing from a run (--tags) stays open
    state = step(state, report({"web1": [("redis.ping", "critical", "P1")]}))[0]
    state, evs = step(state, report({"web1": [("disk./", "ok", "P3")]}))
    assert evs == [] and "runbook.ops/compose_app/health_check/redis.ping" in state["alerts"]


def test_evaluate_does_not_change_its_input():
    state = rp.empty_state()
    observed = rp.observe(report({"web1": [("x", "critical", "P1")]}), PLATFORMS)
    rp.evaluate(state, observed, 1, "t")
    assert state == rp.empty_state()


def test_retry_delay_backoff_and_retry_after():
    assert rp.retry_delay(0, 1, None, 60) == 1
    assert rp.retry_delay(2, 1, None, 60) == 4
    assert rp.retry_delay(0, 1, 7, 60) == 7
    assert rp.retry_delay(3, 1, 2, 60) == 8
    assert rp.retry_delay(0, 1, 120, 60) is None
    assert rp.retry_delay(10, 1, None, 60) == 60
