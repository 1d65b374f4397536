"""The timeline from real timestamps: container state and engine events, deploys, logs, locks, reports."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.triage import timeline_plan as tp

T0 = 1764661200.0  # 2025-12-02T07:40:00Z


def test_iso_and_parse_round_trip():
    assert tp.iso(T0) == "2025-12-02T07:40:00.000Z"
    assert abs(tp.parse_time("2025-12-02T07:40:00.123456789Z") - (T0 + 0.123456)) < 1e-5
    assert tp.parse_time("0001-01-01T00:00:00Z") is None and tp.parse_time("") is None
    assert tp.parse_time(T0) == T0


def test_container_from_inspect_and_engine_events_in_order():
    attrs = {"Name": "/api", "Created": tp.iso(T0), "Config": {"Image": "app:v2", "Labels": {
        "runbook.ops.previous-image-ref": "app:v1"}},
        "State": {"Status": "running", "StartedAt": tp.iso(T0 + 30), "FinishedAt": tp.iso(T0 + 29), "RestartCount": 2}}
    events = [{"Action": "start", "timeNano": int((T0 + 1) * 1e9)},
              {"Action": "die", "timeNano": int((T0 + 2) * 1e9), "Actor": {"Attributes": {"exitCode": "3"}}},
              {"Action": "restart", "timeNano": int((T0 + 3) * 1e9)},
              {"Action": "oom", "timeNano": int((T0 + 4) * 1e9)},
              {"Action": "exec_start: sh", "timeNano": int((T0 + 5) * 1e9)}]
    built = tp.build(tp.container_events(attrs, events))
    expected = ["container.create", "deploy.docker", "container.start", "container.die", "container.restart", "container.oom"]
    assert [e["kind"] for e in built] == expected
    assert "exited with code 3" in built[3]["message"]
    assert "replaced app:v1 by app:v2" in built[1]["message"]


def test_stopped_container_without_engine_events_uses_its_state():
    attrs = {"Name": "/w", "Created": tp.iso(T0), "State": {"Status": "exited", "StartedAt": tp.iso(T0 + 1),
                                                            "FinishedAt": tp.iso(T0 + 9), "ExitCode": 137, "OOMKilled": True}}
    kinds = [(e["kind"], e["message"]) for e in tp.build(tp.container_events(attrs))]
    assert kinds[-1] == ("container.die", "container w exited with code 137 (OOM killed)")


def test_first_error_lines():
    lines = ["2025-12-02T07:40:01Z INFO ok", "2025-12-02T07:40:02Z ERROR first", "2025-12-02T07:40:03Z ERROR second",
             "no time ERROR"]
    got = tp.first_error_events("log app", lines, T0)
    assert len(got) == 1 and got[0]["time"] == T0 + 2 and "first" in got[0]["message"]
    docker = ["2025-12-02T07:40:05.5Z ERROR boom"]
    got = tp.first_error_events("container api", docker, 0, docker_timestamps=True)
    assert got[0]["time"] == T0 + 5.5 and got[0]["message"].endswith("ERROR boom")


def test_postgres_blocker_before_its_waiters():
    activity = [{"pid": 1, "user": "app", "xact_start": tp.iso(T0), "query": "UPDATE t"},
                {"pid": 2, "query_start": tp.iso(T0 + 5)}]
    built = tp.build(tp.postgres_events(activity, [{"pid": 2, "blocked_by": [1]}], [{"blocker": 1, "blocked": [2]}]))
    assert [e["kind"] for e in built] == ["postgres.blocker", "postgres.lock_wait"]
    assert "held by pid 1" in built[1]["message"]


def test_reports_alerts_and_k8s_revisions():
    reports = [{"status": "ok", "run": {"started": tp.iso(T0)}},
               {"status": "critical", "summary": "redis down", "run": {"started": tp.iso(T0 + 60), "playbook": "health_check.yml"}}]
    assert [e["kind"] for e in tp.report_events(reports)] == ["report.critical"]
    alerts = tp.alert_events([{"time": tp.iso(T0), "summary": "RedisDown", "source": "pagerduty"}, {"time": "not a time", "message": "x"}])
    assert len(alerts) == 1 and alerts[0]["source"] == "pagerduty"
    revs = tp.k8s_revision_events("api", [{"revision": 3, "images": {"api": "r/api:2"}, "created": tp.iso(T0), "change_cause": "deploy 2.0"}])
    assert revs[0]["message"] == "deploy: api revision 3 (api=r/api:2): deploy 2.0"


def test_build_orders_dedupes_and_keeps_both_ends():
    events = [tp.event(T0 + i, "s", "k", "m%d" % i) for i in range(10)] + [tp.event(T0, "s", "k", "m0"), None]
    built = tp.build(events, limit=4)
    assert [e["message"] for e in built] == ["m0", "m1", "m8", "m9"]
    assert len(tp.build(events)) == 10
