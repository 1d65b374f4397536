"""Pure decisions of redis_check: INFO figures against thresholds (no server)."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.redis import argspec, check_plan
from ansible_collections.runbook.ops.plugins.module_utils.redis.client import RespReplyError

# The options as the module hands them over: the argument spec's defaults, a password set.
PARAMS = dict({name: option.get("default") for name, option in argspec.redis_check_argspec()["argument_spec"].items()},
              login_host="127.0.0.1", login_password="pw-secret")
MIB = 1024 * 1024


@pytest.mark.parametrize("used, status", [(50 * MIB, "ok"), (80 * MIB, "warning"), (89 * MIB, "warning"),
                                          (90 * MIB, "critical"), (100 * MIB, "critical")])
def test_memory_against_maxmemory(used, status):
    result, metrics = check_plan.memory_check({"used_memory": used, "maxmemory": 100 * MIB}, 80, 90)
    assert result["name"] == "redis.memory" and result["status"] == status
    assert metrics["redis_used_memory_bytes"] == used
    assert metrics["redis_memory_used_ratio"] == pytest.approx(used / (100 * MIB))
    assert result["value"] == pytest.approx(used * 100.0 / (100 * MIB))
    assert "of maxmemory 100.0 MiB" in result["message"]


def test_memory_without_maxmemory_uses_the_optional_limit_else_only_reports():
    result, metrics = check_plan.memory_check({"used_memory": 95 * MIB, "maxmemory": 0}, 80, 90, limit_bytes=100 * MIB)
    assert result["status"] == "critical" and "of memory_limit_bytes 100.0 MiB" in result["message"]
    result, metrics = check_plan.memory_check({"used_memory": 95 * MIB, "maxmemory": 0}, 80, 90)
    assert result["status"] == "ok" and result["message"] == "95.0 MiB used, no maxmemory set"
    assert metrics == {"redis_used_memory_bytes": 95 * MIB, "redis_maxmemory_bytes": 0}


def test_maxmemory_wins_over_the_limit_option():
    result, _rest = check_plan.memory_check({"used_memory": 60 * MIB, "maxmemory": 64 * MIB}, 80, 90, limit_bytes=1024 * MIB)
    assert result["status"] == "critical"


def test_evictions():
    result, metrics = check_plan.evictions_check({"evicted_keys": 12, "maxmemory_policy": "allkeys-lru"}, None)
    assert result["status"] == "ok" and metrics == {"redis_evicted_keys_total": 12}
    assert result["message"] == "12 keys evicted since start (policy allkeys-lru)"
    assert check_plan.evictions_check({"evicted_keys": 12}, 12)[0]["status"] == "ok"
    warned = check_plan.evictions_check({"evicted_keys": 13}, 12)[0]
    assert warned["status"] == "warning" and "more than 12" in warned["message"]


@pytest.mark.parametrize("hits, misses, status, judged", [
    (0, 0, "ok", False),
    (10, 90, "ok", False),        # too few lookups
    (690, 310, "warning", True),  # 0.69 < 0.7
    (700, 300, "ok", True),       # exactly 0.7 is fine
    (900, 100, "ok", True),
])
def test_hit_rate(hits, misses, status, judged):
    result, metrics = check_plan.hit_rate_check({"keyspace_hits": hits, "keyspace_misses": misses}, 0.7, None, 1000)
    assert result["status"] == status
    assert metrics["redis_keyspace_hits_total"] == hits and metrics["redis_keyspace_misses_total"] == misses
    if hits + misses:
        assert metrics["redis_keyspace_hit_ratio"] == pytest.approx(hits / (hits + misses))
    assert ("not judged" in result["message"] or hits + misses == 0) != judged


def test_hit_rate_critical_threshold():
    result, _rest = check_plan.hit_rate_check({"keyspace_hits": 100, "keyspace_misses": 900}, 0.7, 0.5, 10)
    assert result["status"] == "critical" and "(100 hits, 900 misses)" in result["message"]


def test_clients():
    result, metrics = check_plan.clients_check({"connected_clients": 9600, "blocked_clients": 2}, 10000, 80, 95)
    assert result["status"] == "critical" and "9600 of maxclients 10000" in result["message"]
    assert metrics == {"redis_connected_clients": 9600, "redis_blocked_clients": 2, "redis_maxclients": 10000}
    unknown, _rest = check_plan.clients_check({"connected_clients": 5}, None, 80, 95)
    assert unknown["status"] == "ok" and "maxclients unknown" in unknown["message"]


@pytest.mark.parametrize("length, status", [(0, "ok"), (99, "ok"), (100, "warning"), (150, "warning"),
                                            (1000, "critical"), (1500, "critical")])
def test_queue_depth(length, status):
    result, metrics = check_plan.queue_check("celery", length, 100, 1000)
    assert result["name"] == "redis.queue.celery" and result["status"] == status and result["value"] == length
    assert metrics == {'redis_queue_length{queue="celery"}': length}


def test_queue_error_is_a_warning_without_metric():
    result, metrics = check_plan.queue_check("jobs", None, 100, 1000, error="the key holds a value that is not a list")
    assert result["status"] == "warning" and "not a list" in result["message"] and metrics == {}
    assert check_plan.wrong_type_message(RespReplyError("WRONGTYPE Operation against a key")) == \
        "the key holds a value that is not a list"


def test_evaluate_selects_checks_and_uses_per_queue_thresholds():
    info = {"used_memory": 10 * MIB, "maxmemory": 64 * MIB, "evicted_keys": 0, "keyspace_hits": 0,
            "keyspace_misses": 0, "connected_clients": 3, "uptime_in_seconds": 60,
            "db0": {"keys": 4, "expires": 0, "avg_ttl": 0}}
    params = dict(PARAMS, queues=[{"name": "celery", "warning": 10, "critical": None},
                                  {"name": "mail", "warning": None, "critical": None}])
    result = check_plan.evaluate(info, params, 0.001, {"celery": (15, None), "mail": (150, None)}, maxclients=10000)
    names = [c["name"] for c in result["checks"]]
    assert names == ["redis.ping", "redis.memory", "redis.evictions", "redis.hit_rate", "redis.clients",
                     "redis.queue.celery", "redis.queue.mail"]
    by_name = {c["name"]: c for c in result["checks"]}
    assert by_name["redis.queue.celery"]["status"] == "warning"          # per-queue warning 10
    assert by_name["redis.queue.celery"]["threshold"] == {"warning": 10, "critical": 1000}
    assert by_name["redis.queue.mail"]["status"] == "warning"            # module default 100
    assert result["status"] == "warning" and result["severity"] == "P2"
    assert result["metrics"]['redis_db_keys{db="db0"}'] == 4 and result["metrics"]["redis_up"] == 1
    only = check_plan.evaluate(info, dict(params, checks=["queues"]), 0.001, {"celery": (1, None), "mail": (1, None)})
    assert [c["name"] for c in only["checks"]] == ["redis.ping", "redis.queue.celery", "redis.queue.mail"]


@pytest.mark.parametrize("change, needle", [
    ({"queues": [{"name": "", "warning": None, "critical": None}]}, "queues[0]: name is required"),
    ({"queues": [{"name": "a"}, {"name": "a"}]}, "a is listed twice"),
])
def test_validate_params(change, needle):
    assert needle in check_plan.validate_params(dict(PARAMS, **change))


def test_validate_params_accepts_defaults():
    assert check_plan.validate_params(PARAMS) is None


def test_human_bytes():
    assert check_plan.human_bytes(512) == "512 B"
    assert check_plan.human_bytes(1536) == "1.5 KiB"
    assert check_plan.human_bytes(64 * MIB) == "64.0 MiB"
    assert check_plan.human_bytes(None) == "n/a"
