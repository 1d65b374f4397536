"""runbook.ops.k8s_rollout end to end on the real control plane of the ``k8s_cluster`` fixture.

The scenario a scratch cluster gets: a namespace ``rbk8s-<random>``, a Deployment of
registry.k8s.io/pause:3.9, a check-mode dry run of pause:3.10, the change, an idempotent second
run, an undo, then an image that cannot be pulled (the fake kubelet keeps its pod in
ImagePullBackOff) hitting a 3 s progress deadline (set just before) and undone automatically; the namespace is
deleted. Formerly skipped unless KUBECONFIG pointed at a cluster; the tests now start one.
"""

from __future__ import annotations

import time

import pytest

from utils.run import run_module

V1 = "registry.k8s.io/pause:3.9"
V2 = "registry.k8s.io/pause:3.10"
BROKEN = "registry.k8s.io/runbook-ops-does-not-exist:0"


@pytest.fixture()
def scratch(k8s_cluster, k8s_ns):
    k8s_cluster.apps.create_namespaced_deployment(k8s_ns, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "demo"},
        "spec": {"replicas": 2,
                 "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "demo", "image": V1}]}}},
    })
    return k8s_ns, k8s_cluster.apps, k8s_cluster.kubeconfig


def image(apps, namespace):
    dep = apps.read_namespaced_deployment("demo", namespace)
    return dep.spec.template.spec.containers[0].image


def test_set_image_undo_and_auto_undo_on_a_real_cluster(scratch):
    namespace, apps, kubeconfig = scratch
    base = {"kubeconfig": kubeconfig, "namespace": namespace, "name": "demo", "wait_timeout": 180, "wait_sleep": 0.2}
    first = run_module("k8s_rollout", base)  # wait for the initial rollout
    assert first["status"] == "ok", first["summary"]

    plan = run_module("k8s_rollout", dict(base, images={"demo": V2}), check_mode=True)
    assert plan["changed"] is True and plan["plan"]["dry_run"] == "server"
    assert image(apps, namespace) == V1

    rolled = run_module("k8s_rollout", dict(base, images={"demo": V2}))
    assert rolled["status"] == "ok", rolled["summary"]
    assert image(apps, namespace) == V2
    assert run_module("k8s_rollout", dict(base, images={"demo": V2}))["changed"] is False

    undone = run_module("k8s_rollout", dict(base, state="rolled_back"))
    assert undone["status"] == "ok", undone["summary"]
    assert image(apps, namespace) == V1

    apps.patch_namespaced_deployment("demo", namespace, {"spec": {"progressDeadlineSeconds": 3}})
    start = time.monotonic()
    broken = run_module("k8s_rollout", dict(base, images={"demo": BROKEN}))
    assert broken["status"] == "critical" and broken["rolled_back"] is True, broken["summary"]
    assert image(apps, namespace) == V1
    assert "ProgressDeadlineExceeded" in {c["name"]: c for c in broken["checks"]}["rollout.demo.status"]["message"]
    assert time.monotonic() - start < 60
