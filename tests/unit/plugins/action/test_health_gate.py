"""Unit tests for the runbook.ops.health_gate action plugin."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.runbook.ops.plugins.action import health_gate as gate
from ansible_collections.runbook.ops.plugins.module_utils.common import result as schema


def redis(ok=True):
    return schema.build([schema.check("redis.ping", schema.OK, "PONG") if ok
                         else schema.down("redis.ping", "connection refused")], subject="redis")


def disk(status=schema.WARNING):
    value = {schema.OK: 40.0, schema.WARNING: 87.0, schema.CRITICAL: 97.0}[status]
    return schema.build([schema.threshold_check("disk./", value, 85, 95, unit="%", what="disk /")], subject="host")


def run_action(args, task_vars=None, check_mode=False):
    task = SimpleNamespace(args=args, async_val=0, check_mode=check_mode, action="runbook.ops.health_gate")
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))
    action = gate.ActionModule(task, connection, SimpleNamespace(check_mode=check_mode), None, None)
    return action.run(task_vars=task_vars or {})


# -- decide ---------------------------------------------------------------------------------

def test_all_ok_passes():
    verdict = gate.decide([("redis", redis()), ("disk", disk(schema.OK))])
    assert verdict["failed"] is False
    assert verdict["results_checked"] == 2
    assert verdict["status"] == "ok" and verdict["severity"] == "P3"
    assert verdict["msg"].startswith("health gate passed: 2 results")


def test_critical_fails_with_one_line_per_check():
    verdict = gate.decide([("redis", redis(False)), ("disk", disk(schema.CRITICAL))])
    assert verdict["failed"] is True
    assert verdict["failures"] == ["critical redis.ping: connection refused",
                                   "critical disk./: disk / at 97% (critical >= 95%)"]
    assert verdict["msg"].splitlines() == ["health gate: 2 checks at or above critical:"] + verdict["failures"]
    assert verdict["severity"] == "P0"


def test_warning_passes_by_default_and_fails_with_fail_on_warning():
    assert gate.decide([("disk", disk(schema.WARNING))])["failed"] is False
    verdict = gate.decide([("disk", disk(schema.WARNING))], fail_on="warning")
    assert verdict["failed"] is True
    assert verdict["failures"] == ["warning disk./: disk / at 87% (warning >= 85%)"]


def test_fail_on_warning_also_fails_critical():
    verdict = gate.decide([("redis", redis(False)), ("disk", disk(schema.WARNING))], fail_on="warning")
    assert len(verdict["failures"]) == 2


def test_skipped_and_none_are_ignored():
    verdict = gate.decide([("a", {"skipped": True, "changed": False}), ("b", None)])
    assert verdict["failed"] is False and verdict["results_checked"] == 0
    assert "no runbook.ops results" in verdict["msg"]


def test_module_error_counts_as_critical_task_check():
    error = {"failed": False, "failed_when_result": False, "msg": "endpoints[0].url:\n not a URL"}
    verdict = gate.decide([("http", error)])
    assert verdict["failed"] is True
    assert verdict["failures"] == ["critical task.http: endpoints[0].url: not a URL"]


def test_a_plain_successful_result_without_schema_is_ignored():
    assert gate.decide([("debug", {"msg": "hi", "changed": False})])["failed"] is False


def test_bad_fail_on_and_bad_value():
    with pytest.raises(ValueError, match="fail_on"):
        gate.decide([], fail_on="ok")
    with pytest.raises(ValueError, match="not a registered task result"):
        gate.decide([("x", "a string")])


# -- collecting ------------------------------------------------------------------------------

def test_flatten_expands_loop_results():
    loop = {"results": [dict(redis(), item="a"), dict(redis(False), item="b"), {"skipped": True, "item": "c"}],
            "msg": "All items completed", "changed": False}
    pairs = gate.flatten("redis", loop)
    assert [p[0] for p in pairs] == ["redis[a]", "redis[b]", "redis[c]"]
    assert gate.decide(pairs)["failures"] == ["critical redis.ping: connection refused"]


def test_collect_given_list_and_dict():
    assert [p[0] for p in gate.collect_given([redis(), disk()])] == ["results[0]", "results[1]"]
    assert [p[0] for p in gate.collect_given({"redis": redis(), "disk": disk()})] == ["redis", "disk"]
    single = gate.collect_given(redis())
    assert len(single) == 1 and schema.is_result(single[0][1])


def test_collect_registered_finds_schema_results_only():
    task_vars = {
        "health_redis_result": redis(False),
        "health_loop": {"results": [disk(schema.CRITICAL)]},
        "health_redis": {"login_host": "x", "queues": []},
        "hostvars": {"localhost": {"nested": redis(False)}},
        "vars": {"health_redis_result": redis(False)},
        "ansible_facts": {},
        "inventory_hostname": "localhost",
        "plain": {"msg": "x"},
    }
    labels = [p[0] for p in gate.collect_registered(task_vars)]
    assert labels == ["health_loop[0]", "health_redis_result"]


# -- the action --------------------------------------------------------------------------------

def test_action_scans_task_vars_by_default():
    result = run_action({}, {"r": redis(False), "d": disk(schema.OK)})
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["failures"] == ["critical redis.ping: connection refused"]
    assert result["results_checked"] == 2


def test_action_uses_results_option_and_ignores_other_vars():
    result = run_action({"results": {"disk": disk(schema.OK)}}, {"r": redis(False)})
    assert result.get("failed") is False
    assert result["changed"] is False
    assert result["results_checked"] == 1


def test_action_check_mode_makes_the_same_decision():
    normal = run_action({"fail_on": "warning"}, {"d": disk(schema.WARNING)})
    checked = run_action({"fail_on": "warning"}, {"d": disk(schema.WARNING)}, check_mode=True)
    assert normal["failed"] is checked["failed"] is True
    assert normal["msg"] == checked["msg"]
    assert checked["changed"] is False


def test_action_rejects_bad_fail_on_and_unknown_options():
    result = run_action({"fail_on": "sometimes"})
    assert result["failed"] is True and "fail_on must be one of critical, warning" in result["msg"]
    from ansible.errors import AnsibleActionFail
    with pytest.raises(AnsibleActionFail, match="Invalid options"):
        run_action({"bogus": 1})


def test_action_rejects_a_non_result_in_results():
    result = run_action({"results": ["not a result"]})
    assert result["failed"] is True
    assert "results[0] is not a registered task result" in result["msg"]
