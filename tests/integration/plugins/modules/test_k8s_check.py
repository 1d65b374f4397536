"""runbook.ops.k8s_check against the real control plane of the ``k8s_cluster`` fixture.

Each failure is made for real on the real apiserver, controllers and scheduler: a never-ready
image, an image the fake kubelet cannot pull (ImagePullBackOff), a nodeSelector no node matches
(Pending, FailedScheduling), a cordoned node, a Certificate custom resource not Ready after
cert-manager's CRD was created, a PersistentVolumeClaim that nothing binds. What only a kubelet
writes and the fake kubelet does not model (a CrashLoopBackOff with restarts, node pressure) is
written into the pod's or node's status through the API, as a kubelet would.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

import pytest

from sandbox.services import free_port
from utils.k8s_cluster import NEVER_READY, PULL_FAIL
from utils.run import run_module

CRD = "certificates.cert-manager.io"


def checks(result):
    return {c["name"]: c for c in result["checks"]}


def k8s_check(cluster, namespace, **extra):
    params = cluster.auth(namespaces=[namespace], pending_minutes=0, not_ready_minutes=0)
    params.update(extra)
    return run_module("k8s_check", params)


def stamp(delta_seconds=0.0):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_healthy_namespace_is_ok(k8s_cluster, k8s_ns):
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": "reg/api:1.0"}, replicas=3)
    result = k8s_check(k8s_cluster, k8s_ns, checks=["workloads", "pods", "events", "pvcs", "certificates"])
    found = checks(result)
    assert result["status"] == "ok", result["summary"]
    assert found["k8s.%s.deployment.api" % k8s_ns]["value"] == {"desired": 3, "available": 3, "updated": 3}
    assert "3 pods in %s, none unhealthy" % k8s_ns in found["k8s.%s.pods" % k8s_ns]["message"]
    assert result["changed"] is False
    assert result["metrics"]['k8s_workload_available_replicas{kind="deployment",namespace="%s",workload="api"}' % k8s_ns] == 3


def test_never_ready_deployment_has_no_available_replica_p0(k8s_cluster, k8s_ns):
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": NEVER_READY}, replicas=2, progress_deadline=2, wait=False)
    k8s_cluster.wait_pods(k8s_ns, "app=api", lambda pods: len(pods) == 2 and all(
        p["status"].get("phase") == "Running" for p in pods))
    time.sleep(3)  # the progress deadline passes
    result = k8s_check(k8s_cluster, k8s_ns)
    found = checks(result)
    dep = found["k8s.%s.deployment.api" % k8s_ns]
    assert dep["status"] == "critical" and dep["severity"] == "P0", dep
    assert "no available replica of 2" in dep["message"]
    assert result["severity"] == "P0"
    pods = found["k8s.%s.pods" % k8s_ns]
    assert pods["status"] == "warning" and len(pods["value"]["not_ready"]) == 2, pods


def test_stuck_rollout_with_old_replicas_still_serving(k8s_cluster, k8s_ns):
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": "reg/api:1.0"}, replicas=3, progress_deadline=2)
    k8s_cluster.set_image(k8s_ns, "api", {"api": NEVER_READY}, wait=False)
    deadline = time.monotonic() + 30
    while True:
        dep = checks(k8s_check(k8s_cluster, k8s_ns, checks=["workloads"]))["k8s.%s.deployment.api" % k8s_ns]
        if "rollout stuck" in dep["message"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert dep["status"] == "critical" and dep["severity"] == "P1", dep
    assert "ProgressDeadlineExceeded" in dep["message"] or "timed out progressing" in dep["message"]
    assert "(3/3 available)" in dep["message"]


def test_image_that_cannot_be_pulled(k8s_cluster, k8s_ns):
    k8s_cluster.create_deployment(k8s_ns, "worker", {"worker": PULL_FAIL}, replicas=1, wait=False)
    k8s_cluster.wait_pods(k8s_ns, "app=worker", lambda pods: any(
        (s.get("state") or {}).get("waiting", {}).get("reason") == "ImagePullBackOff"
        for p in pods for s in p["status"].get("containerStatuses") or []))
    result = k8s_check(k8s_cluster, k8s_ns, checks=["pods"])
    pods = checks(result)["k8s.%s.pods" % k8s_ns]
    assert pods["status"] == "critical", pods
    assert "1 cannot pull their image" in pods["message"] and PULL_FAIL in pods["message"]


def test_pod_no_node_can_take_is_pending_with_the_schedulers_reason(k8s_cluster, k8s_ns):
    k8s_cluster.create_deployment(k8s_ns, "gpu", {"gpu": "reg/gpu:1"}, replicas=1, wait=False,
                                  pod_spec={"nodeSelector": {"accelerator": "none-such"}})
    k8s_cluster.wait_pods(k8s_ns, "app=gpu", lambda pods: any(
        c.get("type") == "PodScheduled" and c.get("status") == "False" for p in pods
        for c in p["status"].get("conditions") or []))
    result = k8s_check(k8s_cluster, k8s_ns, checks=["pods", "events"])
    found = checks(result)
    pods = found["k8s.%s.pods" % k8s_ns]
    assert pods["status"] == "critical", pods
    assert "Pending too long" in pods["message"] and "0/2 nodes are available" in pods["message"]
    # the scheduler's Warning event, grouped by reason
    deadline = time.monotonic() + 20
    while "FailedScheduling" not in (checks(result)["k8s.%s.events" % k8s_ns]["value"] or {}):
        assert time.monotonic() < deadline, checks(result)["k8s.%s.events" % k8s_ns]
        time.sleep(0.5)
        result = k8s_check(k8s_cluster, k8s_ns, checks=["events"])
    events = checks(result)["k8s.%s.events" % k8s_ns]
    assert events["status"] == "warning" and events["value"]["FailedScheduling"] >= 1
    # with a longer grace the same pod is not (yet) a problem
    calm = k8s_check(k8s_cluster, k8s_ns, checks=["pods"], pending_minutes=60)
    assert checks(calm)["k8s.%s.pods" % k8s_ns]["status"] == "ok"


def test_crash_loop_and_restarts(k8s_cluster, k8s_ns):
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": "reg/api:1.0"}, replicas=2)
    first, second = k8s_cluster.pods(k8s_ns, "app=api")
    # What a kubelet writes for a container that keeps crashing (the fake kubelet runs none).
    crash = {"status": {"containerStatuses": [{
        "name": "api", "image": "reg/api:1.0", "imageID": "fake://reg/api:1.0", "ready": False, "restartCount": 7,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": stamp(-60)}}}]}}
    k8s_cluster.core.patch_namespaced_pod_status(first["metadata"]["name"], k8s_ns, crash)
    restarted = {"status": {"containerStatuses": [{
        "name": "api", "image": "reg/api:1.0", "imageID": "fake://reg/api:1.0", "ready": True, "restartCount": 9,
        "state": {"running": {"startedAt": stamp(-30)}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": stamp(-40)}}}]}}
    k8s_cluster.core.patch_namespaced_pod_status(second["metadata"]["name"], k8s_ns, restarted)
    pods = checks(k8s_check(k8s_cluster, k8s_ns, checks=["pods"]))["k8s.%s.pods" % k8s_ns]
    assert pods["status"] == "critical"
    assert "1 in CrashLoopBackOff" in pods["message"] and "7 restarts" in pods["message"]
    assert "2 restarting" in pods["message"] and "9 restarts, the last 40s ago" in pods["message"]
    # a restart outside the window is not counted; a higher threshold forgives both restarts counts
    later = checks(k8s_check(k8s_cluster, k8s_ns, checks=["pods"], restart_threshold=10))["k8s.%s.pods" % k8s_ns]
    assert "restarting" not in later["message"] and "CrashLoopBackOff" in later["message"]


def test_cordoned_node_and_a_node_under_pressure(k8s_cluster):
    k8s_cluster.core.patch_node("fake-node-2", {"spec": {"unschedulable": True}})
    ghost = "rbk8s-ghost-%d" % free_port()
    k8s_cluster.core.create_node({"metadata": {"name": ghost}})
    try:
        # What a kubelet under memory pressure and then gone would have written (no fake kubelet serves it).
        conditions = [{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "PLEG is not healthy",
                       "lastHeartbeatTime": stamp(), "lastTransitionTime": stamp()},
                      {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory",
                       "message": "low memory", "lastHeartbeatTime": stamp(), "lastTransitionTime": stamp()}]
        k8s_cluster.core.patch_node_status(ghost, {"status": {"conditions": conditions}})
        result = run_module("k8s_check", k8s_cluster.auth(checks=["nodes"]))
        found = checks(result)
        assert found["k8s.node.fake-node-2"]["status"] == "warning"
        assert "cordoned" in found["k8s.node.fake-node-2"]["message"]
        assert found["k8s.node.%s" % ghost]["status"] == "critical"
        assert "NotReady (KubeletNotReady)" in found["k8s.node.%s" % ghost]["message"]
        assert "under MemoryPressure" in found["k8s.node.%s" % ghost]["message"]
        assert found["k8s.nodes"]["value"] == {"ready": 2, "total": 3}
        assert "k8s.node.fake-node-1" not in found
        assert result["metrics"]["k8s_nodes_ready"] == 2
    finally:
        k8s_cluster.core.patch_node("fake-node-2", {"spec": {"unschedulable": False}})
        k8s_cluster.core.delete_node(ghost)
    assert "k8s.node.fake-node-2" not in checks(run_module("k8s_check", k8s_cluster.auth(checks=["nodes"])))


def test_certificates_not_installed_then_not_ready_and_expiring(k8s_cluster, k8s_ns):
    result = k8s_check(k8s_cluster, k8s_ns, checks=["certificates"])
    certs = checks(result)["k8s.%s.certificates" % k8s_ns]
    assert certs["status"] == "ok" and "cert-manager is not installed" in certs["message"]

    try:
        k8s_cluster.ext.create_custom_resource_definition({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": CRD},
            "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                     "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}})
    except Exception as exc:  # noqa: BLE001 - another test of the session made it
        if getattr(exc, "status", None) != 409:
            raise
    deadline = time.monotonic() + 30
    while True:  # the CRD becomes Established
        crd = k8s_cluster.ext.read_custom_resource_definition(CRD)
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)

    def certificate(name, ready, not_after):
        body = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
                "spec": {"secretName": name + "-tls", "dnsNames": [name + ".example.com"],
                         "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}}}
        made = k8s_cluster.custom.create_namespaced_custom_object("cert-manager.io", "v1", k8s_ns, "certificates", body)
        status = {"conditions": [{"type": "Ready", "status": ready, "reason": "Ready" if ready == "True" else "Failed",
                                  "message": "Certificate is up to date and has not expired" if ready == "True"
                                  else "Issuing certificate as Secret does not exist"}]}
        if not_after:
            status["notAfter"] = not_after
        made["status"] = status
        k8s_cluster.custom.replace_namespaced_custom_object_status("cert-manager.io", "v1", k8s_ns, "certificates",
                                                                   name, made)

    certificate("api", "True", stamp(90 * 86400))
    certificate("www", "True", stamp(10 * 86400))
    certs = checks(k8s_check(k8s_cluster, k8s_ns, checks=["certificates"]))["k8s.%s.certificates" % k8s_ns]
    assert certs["status"] == "warning" and "www expires in 10.0 days" in certs["message"], certs

    certificate("broken", "False", None)
    result = k8s_check(k8s_cluster, k8s_ns, checks=["certificates"])
    certs = checks(result)["k8s.%s.certificates" % k8s_ns]
    assert certs["status"] == "critical"
    assert "broken not Ready (Issuing certificate as Secret does not exist)" in certs["message"]
    assert 89 * 86400 < result["metrics"]['k8s_certificate_expiry_seconds{certificate="api",namespace="%s"}' % k8s_ns] < 91 * 86400


def test_claim_that_nothing_binds(k8s_cluster, k8s_ns):
    k8s_cluster.core.create_namespaced_persistent_volume_claim(k8s_ns, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "none-such",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    result = k8s_check(k8s_cluster, k8s_ns, checks=["pvcs"])
    pvcs = checks(result)["k8s.%s.pvcs" % k8s_ns]
    assert pvcs["status"] == "warning" and "data Pending" in pvcs["message"]


def test_missing_namespace_and_unreachable_server_are_p0(k8s_cluster):
    result = run_module("k8s_check", k8s_cluster.auth(namespaces=["rbk8s-none-such"], checks=["pods"]))
    found = checks(result)["k8s.rbk8s-none-such.namespace"]
    assert found["severity"] == "P0" and "not found" in found["message"]

    start = time.monotonic()
    down = run_module("k8s_check", {"host": "http://127.0.0.1:%d" % free_port(), "api_key": "secret-token"})
    assert time.monotonic() - start < 10
    assert checks(down)["k8s.api"]["severity"] == "P0" and down["metrics"]["k8s_up"] == 0
    assert "secret-token" not in json.dumps(down)


def test_rbac_limited_account_reports_what_it_cannot_read(k8s_cluster, k8s_ns):
    token = k8s_cluster.service_account_token(k8s_ns, "pods-only", ["get", "list"], resources=["pods"],
                                              api_groups=[""])
    result = run_module("k8s_check", dict(k8s_cluster.host_auth(token), namespaces=[k8s_ns], checks=["workloads", "pods"]))
    api = checks(result)["k8s.api"]
    assert api["status"] == "critical" and "cannot read deployments in %s" % k8s_ns in api["message"]
    assert "forbidden" in api["message"] and token not in json.dumps(result)
    bad = run_module("k8s_check", dict(k8s_cluster.host_auth("wrong"), namespaces=[k8s_ns]))
    assert "unauthorized" in checks(bad)["k8s.api"]["message"]


@pytest.mark.parametrize("extra, message", [
    ({"namespaces": ["a", "a"]}, "namespaces lists a more than once"),
    ({"namespaces": []}, "namespaces must not be empty"),
    ({"window_hours": 0}, "window_hours"),
    ({"cert_warning_days": 3, "cert_critical_days": 7}, "cert_warning_days must be at least"),
    ({"checks": ["bogus"]}, "value of checks must be one or more of"),
])
def test_invalid_parameters(k8s_cluster, extra, message):
    from utils.run import ModuleFailed  # noqa: PLC0415

    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_check", k8s_cluster.auth(**extra))
    assert message in err.value.result["msg"]


def test_through_ansible_playbook(k8s_cluster, k8s_ns, tmp_path):
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": "reg/api:1.0"}, replicas=1)
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/runbook.ops.kubernetes:
      kubeconfig: %s
  tasks:
    - runbook.ops.k8s_check:
        namespaces: [%s]
      register: found
      check_mode: true
    - ansible.builtin.assert:
        that:
          - found.status == 'ok'
          - found.changed == false
          - "'k8s.%s.deployment.api' in (found.checks | map(attribute='name'))"
""" % (k8s_cluster.kubeconfig, k8s_ns, k8s_ns))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__)))))), env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
