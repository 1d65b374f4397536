"""Seed 002's severity matrix applied to what the collectors found."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.common import result
from ansible_collections.runbook.ops.plugins.module_utils.triage.classify_plan import MATRIX, classify, evidence


def test_nothing_found_is_p3_low():
    got = classify({})
    assert got["severity"] == "P3" and got["name"] == "Low" and got["response_time"] == "24 hours"
    assert got["evidence"] == []


def test_redis_down_is_p0_and_beats_a_full_queue():
    got = classify({"redis": {"reachable": False, "error": "connection refused by 127.0.0.1:6379"},
                    "postgres": {"reachable": True, "blocked": [{"pid": 2, "wait_seconds": 100}],
                                 "chains": [{"blocker": 1, "blocked": [2]}]}})
    assert got["severity"] == "P0" and got["response_time"] == "15 minutes"
    assert [e["name"] for e in got["evidence"]] == ["redis.ping", "postgres.blocking_locks"]
    assert got["services"] == ["postgres", "redis"]
    assert "connection refused" in got["summary"]


def test_queue_depth_levels():
    def sev(depth):
        found = evidence({"redis": {"reachable": True, "queues": [{"name": "celery", "depth": depth, "warning": 100, "critical": 1000}]}})
        return found[0]["severity"] if found else "P3"
    assert (sev(99), sev(100), sev(999), sev(1000), sev(50000)) == ("P3", "P2", "P2", "P1", "P1")


def test_containers():
    def sev(**item):
        found = evidence({"containers": [dict({"name": "api"}, **item)]}, {"crash_loop_restarts": 3})
        return (found[0]["severity"], found[0]["name"]) if found else ("P3", None)
    assert sev(status="restarting", restart_count=1) == ("P0", "container.api.crash_loop")
    assert sev(status="running", restart_count=3, exit_code=3) == ("P0", "container.api.crash_loop")
    assert sev(status="running", restart_count=0, restarts_in_window=4) == ("P0", "container.api.crash_loop")
    assert sev(status="exited", exit_code=137, oom_killed=True) == ("P0", "container.api.oom_killed")
    assert sev(status="exited", exit_code=1) == ("P0", "container.api.exited")
    assert sev(status="exited", exit_code=0) == ("P3", None)
    assert sev(status="running", health="unhealthy") == ("P1", "container.api.unhealthy")
    assert sev(status="running", restart_count=1) == ("P2", "container.api.restarts")
    assert sev(status="running") == ("P3", None)


def test_postgres_blocking_long_transactions_connections():
    base = {"reachable": True, "chains": [{"blocker": 10, "blocked": [11, 12]}]}
    short = evidence({"postgres": dict(base, blocked=[{"pid": 11, "wait_seconds": 2}])}, {"blocking_seconds": 30})
    long_ = evidence({"postgres": dict(base, blocked=[{"pid": 11, "wait_seconds": 31}, {"pid": 12, "wait_seconds": 1}])})
    assert short[0]["severity"] == "P2" and long_[0]["severity"] == "P1"
    assert "held by pid 10" in long_[0]["message"] and "2 session(s)" in long_[0]["message"]
    xact = evidence({"postgres": {"reachable": True, "transactions": [{"pid": 5, "xact_seconds": 301}]}})
    assert xact[0]["name"] == "postgres.long_transactions" and xact[0]["severity"] == "P1"
    conns = evidence({"postgres": {"reachable": True, "connections_pct": 96.0}})
    assert conns[0]["name"] == "postgres.connections"
    down = evidence({"postgres": {"reachable": False, "error": "authentication failed for user monitor"}})
    assert down[0]["severity"] == "P0" and down[0]["name"] == "postgres.connection"


def test_health_results_are_evidence_with_their_own_severity():
    http = result.build([result.down("http.api_health", "connection refused"), result.check("http.webapp", "ok")])
    disk = result.build([result.threshold_check("disk./", 87, 85, 90)])
    got = classify({"health": {"http": http, "host": disk}})
    assert got["severity"] == "P0"
    assert [(e["name"], e["severity"], e["source"]) for e in got["evidence"]] == [
        ("http.api_health", "P0", "health.http"), ("disk./", "P2", "health.host")]


def test_security_and_data_loss_lines_are_p0():
    got = classify({"logs": [{"name": "security", "security": 2, "data_loss": 0, "errors": 0}]})
    assert got["severity"] == "P0" and got["evidence"][0]["name"] == "logs.security.security"
    got = classify({"logs": [{"name": "app", "errors": 12}]})
    assert got["severity"] == "P2"
    assert classify({"logs": [{"name": "app", "errors": 9}]})["severity"] == "P3"


def test_same_evidence_from_health_and_collector_counted_once():
    health = {"redis": result.build([result.down("redis.ping", "connection refused")])}
    got = classify({"health": health, "redis": {"reachable": False, "error": "connection refused"}})
    assert [e["name"] for e in got["evidence"]] == ["redis.ping"]


def test_matrix_is_the_seeds():
    assert MATRIX["P0"]["description"] == "System down, data breach, security incident"
    assert [MATRIX[p]["response_time"] for p in ("P0", "P1", "P2", "P3")] == ["15 minutes", "1 hour", "4 hours", "24 hours"]
