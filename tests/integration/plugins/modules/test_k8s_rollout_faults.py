"""runbook.ops.k8s_rollout against faults injected into a FAKE API server (tests/utils/k8s_fake_apiserver.py).

Everything a real control plane can do runs against one in test_k8s_rollout.py. These tests keep
the hand-written fake for the faults the real one cannot be made to produce here, each saying which:
a server without dry run, a controller that stalls, an apiserver that starts failing half-way.
The fake is modelled on the API reference (its docstring says how), driven by the real
``kubernetes`` client over HTTP.
"""

from __future__ import annotations

import time

import pytest

from utils.k8s_fake_apiserver import FakeApiServer
from utils.run import ModuleFailed, run_module

NS = "sec-analysis"


@pytest.fixture()
def api():
    with FakeApiServer(deadline_gets=4) as server:
        server.add_deployment(NS, "api", {"api": "reg/api:1.0"}, replicas=3,
                              history=[{"api": "reg/api:0.8"}, {"api": "reg/api:0.9"}])
        yield server


def args(server, **extra):
    base = {"host": server.url, "api_key": server.token, "namespace": NS, "name": "api",
            "wait_sleep": 0.01, "wait_timeout": 20}
    base.update(extra)
    return base


def image_of(server, name="api", container=0):
    return server.deployment(NS, name)["spec"]["template"]["spec"]["containers"][container]["image"]


def checks(result):
    return {c["name"]: c for c in result["checks"]}


def test_check_mode_falls_back_to_a_local_plan_when_the_server_cannot_dry_run(api):
    # Fake because: every apiserver since 1.18 dry-runs; a server answering 405 to dryRun=All
    # (an old or restricted one, an admission webhook without sideEffects) cannot be made here.
    api.dry_run_supported = False
    result = run_module("k8s_rollout", args(api, replicas=6), check_mode=True)
    assert result["changed"] is True
    assert result["plan"]["dry_run"].startswith("local")
    assert result["plan"]["after"]["replicas"] == 6
    assert api.deployment(NS, "api")["spec"]["replicas"] == 3


def test_timeout_and_an_undo_that_cannot_complete_is_p0(api):
    # Fake because: the controller must stop making progress for the undo too; on the shared real
    # control plane the undo of a never-ready rollout completes at once (the old pods still run).
    api.frozen = True
    start = time.monotonic()
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0"}, wait_timeout=0.3))
    assert time.monotonic() - start < 10
    found = checks(result)
    assert "timed out after 0.3s" in found["rollout.api.status"]["message"]
    assert found["rollout.api.rollback"]["severity"] == "P0"
    assert result["severity"] == "P0" and result["rolled_back"] is False
    # the undo patch was still sent: the template is the old one again
    assert image_of(api) == "reg/api:1.0"


def test_an_apiserver_failing_half_way_is_a_critical_api_check(api):
    # Fake because: the fault is injected between the patch and the wait (every request after the
    # accepted patch answers 503); stopping the shared real apiserver would end the other tests.
    api.fail_after_patch = 503
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0"}))
    assert result["changed"] is True  # the patch was applied before the fault
    found = checks(result)
    assert found["rollout.api.change"]["status"] == "ok"
    assert found["k8s.api"]["status"] == "critical"
    assert "injected fault" in found["k8s.api"]["message"]
    assert result["status"] == "critical"


def test_an_apiserver_failing_before_the_change_fails_the_task(api):
    # Fake because: a 503 answer to the first read (an apiserver overloaded or restarting) cannot
    # be produced on demand by the real one.
    api.fail_after_patch = 503
    api.requests.append({"method": "PATCH", "path": "/primed", "content_type": None, "body": ""})
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0"}))
    result = err.value.result
    assert result["changed"] is False and result["status"] == "critical"
    assert "injected fault" in checks(result)["k8s.api"]["message"]
    assert image_of(api) == "reg/api:1.0"
