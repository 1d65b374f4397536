"""Pure decisions of docker_rollout's surge mode (max_surge) and its --diff."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.docker import rollout_plan, surge_plan

V1 = "sha256:" + "1" * 64
V2 = "sha256:" + "2" * 64


def _plan(mode="surge", max_surge=4, actions=("replace", "replace", "skip")):
    containers = [{"name": "api-%d" % i, "id": "c%d" % i, "old_image_id": V2 if a == "skip" else V1,
                   "old_image": "demo:v2" if a == "skip" else "demo:v1", "new_image_id": V2, "new_image": "demo:v2",
                   "action": a} for i, a in enumerate(actions, 1)]
    return {"containers": containers, "batches": [], "order": "start-first", "mode": mode, "max_surge": max_surge}


def test_surge_needs_a_positive_max_surge_and_start_first():
    assert surge_plan.choose_mode(0, "start-first", "") == ("rolling", 0, "")
    assert surge_plan.choose_mode(3, "start-first", "") == ("surge", 3, "")
    mode, size, note = surge_plan.choose_mode(3, "stop-first", "start-first is impossible: api-1 holds 8000/tcp")
    assert (mode, size) == ("rolling", 0)
    assert note.startswith("surge is impossible (start-first is impossible: api-1 holds 8000/tcp)")


def test_wave_size_is_max_surge_in_surge_mode_else_batch_size():
    assert surge_plan.wave_size("surge", 4, 1) == 4
    assert surge_plan.wave_size("rolling", 0, 2) == 2
    assert rollout_plan.plan_batches(["a", "b", "c"], surge_plan.wave_size("surge", 2, 3)) == [["a", "b"], ["c"]]


def test_option_problem_refuses_surge_with_stop_first():
    assert surge_plan.option_problem({"max_surge": 2, "order": "stop-first"}).startswith("max_surge 2 needs order=start-first")
    assert surge_plan.option_problem({"max_surge": 0, "order": "stop-first"}) is None
    assert surge_plan.option_problem({"max_surge": 2, "order": "start-first"}) is None


def test_plan_message_says_wave_or_batch():
    entry = _plan()["containers"][0]
    surge = surge_plan.plan_message(entry, "demo:v2", V2, 1, _plan())
    assert surge.startswith("would replace demo:v1 (111111111111) by demo:v2 (222222222222) in surge wave 1 (max_surge 4)")
    rolling = surge_plan.plan_message(entry, "demo:v2", V2, 2, dict(_plan("rolling", 0), order="stop-first"))
    assert rolling.endswith("in batch 2, stop-first")


def test_diff_lists_every_replica_before_and_after():
    diff = surge_plan.plan_diff(_plan())
    assert diff["before"] == ("api-1: demo:v1 (111111111111)\napi-2: demo:v1 (111111111111)\n"
                              "api-3: demo:v2 (222222222222)\n")
    assert diff["after"] == ("api-1: demo:v2 (222222222222)\napi-2: demo:v2 (222222222222)\n"
                             "api-3: demo:v2 (222222222222)\n")
    assert diff["before_header"] == "replicas (surge, max_surge 4)"
    # Rolled back: nothing moved. Partly replaced (rollback: false): only those.
    assert surge_plan.plan_diff(_plan(), set())["after"] == diff["before"]
    assert surge_plan.plan_diff(_plan("rolling", 0), {"api-1"})["after"].splitlines()[:2] == [
        "api-1: demo:v2 (222222222222)", "api-2: demo:v1 (111111111111)"]
    assert surge_plan.plan_diff(None) is None and surge_plan.plan_diff({"containers": []}) is None
