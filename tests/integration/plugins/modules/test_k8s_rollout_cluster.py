"""runbook.ops.k8s_rollout against a REAL Kubernetes cluster: runs only when KUBECONFIG is set.

No cluster can run on the machines that develop this collection, so this test is skipped there
(the only allowed skip). With KUBECONFIG pointing at a scratch cluster (kind, minikube, k3d) it
creates a namespace ``rbk8s-<random>``, a Deployment of K8S_TEST_IMAGE_V1 (default
registry.k8s.io/pause:3.9), sets the image to K8S_TEST_IMAGE_V2 (default registry.k8s.io/pause:3.10)
with a check-mode dry run first, undoes it, lets a broken image hit a 10 s progress deadline
(auto-undo), and deletes the namespace. The cluster must be able to pull those images.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from utils.run import run_module

pytestmark = pytest.mark.skipif(not os.environ.get("KUBECONFIG"),
                                reason="needs a real Kubernetes cluster: set KUBECONFIG to run it")

V1 = os.environ.get("K8S_TEST_IMAGE_V1", "registry.k8s.io/pause:3.9")
V2 = os.environ.get("K8S_TEST_IMAGE_V2", "registry.k8s.io/pause:3.10")
BROKEN = "registry.k8s.io/runbook-ops-does-not-exist:0"


@pytest.fixture()
def scratch():
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    namespace = "rbk8s-%s" % uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        apps.create_namespaced_deployment(namespace, {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "demo"},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 10,
                     "selector": {"matchLabels": {"app": "demo"}},
                     "template": {"metadata": {"labels": {"app": "demo"}},
                                  "spec": {"containers": [{"name": "demo", "image": V1}]}}},
        })
        yield namespace, apps
    finally:
        core.delete_namespace(namespace)
        api_client.close()


def image(apps, namespace):
    dep = apps.read_namespaced_deployment("demo", namespace)
    return dep.spec.template.spec.containers[0].image


def test_set_image_undo_and_auto_undo_on_a_real_cluster(scratch):
    namespace, apps = scratch
    base = {"kubeconfig": os.environ["KUBECONFIG"], "namespace": namespace, "name": "demo", "wait_timeout": 180}
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

    start = time.monotonic()
    broken = run_module("k8s_rollout", dict(base, images={"demo": BROKEN}))
    assert broken["status"] == "critical" and broken["rolled_back"] is True, broken["summary"]
    assert image(apps, namespace) == V1
    assert time.monotonic() - start < 180
