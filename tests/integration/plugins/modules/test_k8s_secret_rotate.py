"""runbook.ops.k8s_secret_rotate against the real control plane of the ``k8s_cluster`` fixture.

A Secret ``api-db`` used by a Deployment through ``env`` (``api``), by another through a volume
(``worker``) and by a StatefulSet through ``envFrom`` (``db-proxy``), and a Deployment that does
not use it (``web``); the new values come from a literal, a file, an environment variable and the
generator; a gate that fails rolls the Secret back. Every test hunts the values in the output.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.services import free_port
from utils.run import ModuleFailed, run_module

OLD = {"DATABASE_PASSWORD": "old-db-password-1", "API_TOKEN": "old-api-token-2"}
RESTARTED = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture()
def world(k8s_cluster, k8s_ns):
    k8s_cluster.core.create_namespaced_secret(k8s_ns, {
        "metadata": {"name": "api-db"}, "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in OLD.items()}})
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": "reg/api:1.0"}, replicas=2, wait=False)
    k8s_cluster.apps.patch_namespaced_deployment("api", k8s_ns, {"spec": {"template": {"spec": {"containers": [{
        "name": "api", "env": [{"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": "api-db", "key": "DATABASE_PASSWORD"}}}]}]}}}})
    k8s_cluster.create_deployment(k8s_ns, "worker", {"worker": "reg/worker:1.0"}, replicas=1, wait=False, pod_spec={
        "volumes": [{"name": "creds", "secret": {"secretName": "api-db"}}]})
    k8s_cluster.create_deployment(k8s_ns, "web", {"web": "reg/web:1.0"}, replicas=1, wait=False)
    k8s_cluster.apps.create_namespaced_stateful_set(k8s_ns, {
        "metadata": {"name": "db-proxy"},
        "spec": {"replicas": 2, "serviceName": "db-proxy", "selector": {"matchLabels": {"app": "db-proxy"}},
                 "template": {"metadata": {"labels": {"app": "db-proxy"}},
                              "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                                  "name": "proxy", "image": "reg/proxy:1",
                                  "envFrom": [{"secretRef": {"name": "api-db"}}]}]}}}})
    for name in ("api", "worker", "web"):
        k8s_cluster.wait_rollout(k8s_ns, name)
    k8s_cluster.wait_pods(k8s_ns, "app=db-proxy", lambda pods: len(pods) == 2 and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []) for p in pods))
    return k8s_cluster, k8s_ns


def secret_values(world):
    cluster, namespace = world
    data = cluster.core.read_namespaced_secret("api-db", namespace).data
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def restarted_at(world, kind, name):
    cluster, namespace = world
    if kind == "deployment":
        obj = cluster.apps.read_namespaced_deployment(name, namespace)
    else:
        obj = cluster.apps.read_namespaced_stateful_set(name, namespace)
    return (obj.spec.template.metadata.annotations or {}).get(RESTARTED)


def args(world, **extra):
    cluster, namespace = world
    return dict(cluster.auth(namespace=namespace, name="api-db", wait_sleep=0.2, wait_timeout=60), **extra)


def assert_no_value(result, *values):
    text = json.dumps(result)
    for value in values:
        assert value not in text


def test_rotation_from_every_source_restarts_the_users_one_after_another(world, tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text("file-token-3")
    monkeypatch.setenv("RBK8S_NEW_DB_PASSWORD", "env-db-password-4")
    result = run_module("k8s_secret_rotate", dict(args(world, data=[
        {"key": "DATABASE_PASSWORD", "env": "RBK8S_NEW_DB_PASSWORD"},
        {"key": "API_TOKEN", "file": str(token_file)},
        {"key": "SESSION_KEY", "generate": 48},
        {"key": "LITERAL", "value": "literal-value-5"}]), _ansible_diff=True))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    values = secret_values(world)
    assert values["DATABASE_PASSWORD"] == "env-db-password-4" and values["API_TOKEN"] == "file-token-3"
    assert values["LITERAL"] == "literal-value-5"
    assert len(values["SESSION_KEY"]) == 48 and values["SESSION_KEY"].isalnum()
    assert result["changed_keys"] == ["API_TOKEN", "DATABASE_PASSWORD", "LITERAL", "SESSION_KEY"]
    assert result["restarted"] == ["deployment/api", "deployment/worker", "statefulset/db-proxy"]
    found = {"%s/%s" % (w["kind"], w["name"]): w["references"] for w in result["workloads"]}
    assert found == {"deployment/api": ["env api/DATABASE_PASSWORD"], "deployment/worker": ["volume creds"],
                     "statefulset/db-proxy": ["envFrom proxy"]}
    for kind, name in (("deployment", "api"), ("deployment", "worker"), ("statefulset", "db-proxy")):
        assert restarted_at(world, kind, name), (kind, name)
    assert restarted_at(world, "deployment", "web") is None  # does not use the Secret
    assert result["diff"]["after"]["changed_keys"] == result["changed_keys"]
    assert_no_value(result, "env-db-password-4", "file-token-3", "literal-value-5", values["SESSION_KEY"],
                    *OLD.values())

    again = run_module("k8s_secret_rotate", args(world, data=[{"key": "LITERAL", "value": "literal-value-5"}]))
    assert again["changed"] is False and again["restarted"] == []


def test_check_mode_lists_the_workloads_and_changes_nothing(world):
    before = {name: restarted_at(world, "deployment", name) for name in ("api", "worker")}
    result = run_module("k8s_secret_rotate", args(world, data=[{"key": "DATABASE_PASSWORD", "value": "new-6"}]),
                        check_mode=True)
    assert result["changed"] is True and result["restarted"] == []
    assert [w["name"] for w in result["workloads"]] == ["api", "worker", "db-proxy"]
    assert "would rotate keys DATABASE_PASSWORD and restart deployment/api, deployment/worker, statefulset/db-proxy" \
        in result["summary"] or "would rotate" in {c["name"]: c for c in result["checks"]}["secret.api-db.rotate"]["message"]
    assert secret_values(world) == OLD
    assert {name: restarted_at(world, "deployment", name) for name in ("api", "worker")} == before
    assert_no_value(result, "new-6", *OLD.values())


class Failing(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_restart_that_fails_its_gate_rolls_the_secret_back(world):
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Failing)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        result = run_module("k8s_secret_rotate", args(world, data=[{"key": "DATABASE_PASSWORD", "value": "bad-7"}],
                                                      http_gate={"endpoints": [{"name": "api_health",
                                                                                "url": "http://127.0.0.1:%d/health" % httpd.server_address[1]}],
                                                                 "timeout": 0.5, "interval": 0.1}))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result["changed"] is True and result["status"] == "critical"
    assert result["rolled_back"] is True and result["restarted"] == []
    checks = {c["name"]: c for c in result["checks"]}
    assert "the restart of deployment/api failed" in checks["secret.api-db.rotate"]["message"]
    assert checks["secret.api-db.rollback"]["status"] == "ok"
    assert "restarted again: deployment/api" in checks["secret.api-db.rollback"]["message"]
    assert secret_values(world) == OLD  # the former values are back
    assert restarted_at(world, "deployment", "worker") is None  # never restarted
    assert_no_value(result, "bad-7", *OLD.values())


def test_missing_secret_and_unreadable_sources_fail_clearly(world, tmp_path):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_secret_rotate", args(world, name="none-such", data=[{"key": "A", "value": "v-8"}]))
    checks = {c["name"]: c for c in err.value.result["checks"]}
    assert checks["secret.none-such.secret"]["severity"] == "P0"
    assert_no_value(err.value.result, "v-8")

    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_secret_rotate", args(world, data=[{"key": "A", "file": str(tmp_path / "missing")}]))
    assert "data[0].file" in err.value.result["msg"] and "cannot be read" in err.value.result["msg"]
    os.environ.pop("RBK8S_UNSET", None)
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_secret_rotate", args(world, data=[{"key": "A", "env": "RBK8S_UNSET"}]))
    assert "the variable RBK8S_UNSET is not set" in err.value.result["msg"]
    assert secret_values(world) == OLD


@pytest.mark.parametrize("data, message", [
    ([{"key": "A", "value": "val-xq1", "generate": 12}], "mutually exclusive"),
    ([{"key": "A"}], "one of the following is required"),
    ([{"key": "A", "value": "val-xq1"}, {"key": "A", "value": "val-yq2"}], "data lists key A more than once"),
    ([{"key": "bad key", "value": "val-xq1"}], "data[0].key must be a Secret key"),
    ([{"key": "A", "generate": 4}], "data[0].generate must be between 8 and 4096"),
])
def test_invalid_data(world, data, message):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_secret_rotate", args(world, data=data))
    assert message in err.value.result["msg"]
    assert secret_values(world) == OLD


def test_through_ansible_playbook(world, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    cluster, namespace = world
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/runbook.ops.kubernetes:
      kubeconfig: %s
  tasks:
    - runbook.ops.k8s_secret_rotate:
        name: api-db
        namespace: %s
        restart: false
        data:
          - key: API_TOKEN
            generate: 32
      register: rotated
    - ansible.builtin.assert:
        that:
          - rotated.changed
          - rotated.changed_keys == ['API_TOKEN']
          - rotated.restarted == []
""" % (cluster.kubeconfig, namespace))
    root = Path(__file__).resolve().parents[4]
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          cwd=str(root), env=dict(os.environ, ANSIBLE_NOCOLOR="1"), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    values = secret_values(world)
    assert len(values["API_TOKEN"]) == 32 and values["API_TOKEN"] not in proc.stdout
    assert values["DATABASE_PASSWORD"] == OLD["DATABASE_PASSWORD"]
