"""runbook.ops.k8s_rollout against a REAL Kubernetes control plane (the ``k8s_cluster`` fixture).

The real kube-apiserver, Deployment and ReplicaSet controllers and scheduler (v1.20.2, etcd from
Debian); the pods are made Running and Ready by a fake kubelet, by image name: ``never-ready``
never gets Ready, ``pull-fail`` stays Pending in ImagePullBackOff. Each test has a namespace of
its own. What a real control plane cannot be made to do here (a server that cannot dry-run, a
controller that stalls, an apiserver failing half-way) is in test_k8s_rollout_faults.py.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading

import pytest
import yaml

from sandbox.services import free_port
from utils.k8s_cluster import NEVER_READY, PULL_FAIL
from utils.run import ModuleFailed, run_module

REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture()
def api(k8s_cluster, k8s_ns):
    """The namespace with Deployment ``api`` at revision 3 (0.8, 0.9, then 1.0), 3 replicas."""
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": "reg/api:0.8"}, replicas=3, wait=False)
    k8s_cluster.set_image(k8s_ns, "api", {"api": "reg/api:0.9"}, observed=True)  # revision 2 exists
    k8s_cluster.set_image(k8s_ns, "api", {"api": "reg/api:1.0"})
    return k8s_cluster, k8s_ns


@pytest.fixture(scope="module")
def unchanged_api(k8s_cluster):
    """Deployment ``api`` (reg/api:1.0, 3 replicas) for the tests that must change nothing, shared by them."""
    namespace = k8s_cluster.new_namespace()
    k8s_cluster.create_deployment(namespace, "api", {"api": "reg/api:1.0"}, replicas=3)
    yield k8s_cluster, namespace
    k8s_cluster.delete_namespace(namespace)


@pytest.fixture()
def worker(k8s_cluster, k8s_ns):
    """The namespace with Deployment ``celery-worker``: two containers, 5 replicas, one env variable."""
    k8s_cluster.create_deployment(k8s_ns, "celery-worker", {"worker": "reg/worker:1.0", "exporter": "reg/exporter:1"},
                                  replicas=5, env={"CELERY_WORKER_CONCURRENCY": "4"})
    return k8s_cluster, k8s_ns


def args(where, **extra):
    cluster, namespace = where
    base = cluster.auth(namespace=namespace, name="api", wait_sleep=0.1, wait_timeout=60)
    base.update(extra)
    return base


def deployment(where, name="api"):
    cluster, namespace = where
    return cluster.deployment(namespace, name)


def image_of(where, name="api", container=0):
    return deployment(where, name)["spec"]["template"]["spec"]["containers"][container]["image"]


def short_deadline(where, name="api", seconds=3):
    """progressDeadlineSeconds of a few seconds, so that a never-ready rollout fails soon."""
    cluster, namespace = where
    cluster.apps.patch_namespaced_deployment(name, namespace, {"spec": {"progressDeadlineSeconds": seconds}})


def checks(result):
    return {c["name"]: c for c in result["checks"]}


class Health:
    """A health endpoint on loopback whose answer the test switches."""

    def __init__(self):
        self.code = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: D401 - silence
                pass

            def do_GET(self):  # noqa: N802
                body = json.dumps({"status": "healthy" if outer.code == 200 else "degraded"}).encode()
                self.send_response(outer.code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = "http://127.0.0.1:%d/health" % self.httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def health():
    server = Health()
    yield server
    server.close()


# --------------------------------------------------------------------------- #
# check mode: server-side dry run
# --------------------------------------------------------------------------- #

def test_check_mode_uses_server_dry_run_and_changes_nothing(api):
    before = deployment(api)
    result = run_module("k8s_rollout", dict(args(api, images={"api": "reg/api:2.0"}), _ansible_diff=True),
                        check_mode=True)
    assert result["changed"] is True
    assert result["plan"]["dry_run"] == "server"
    assert result["plan"]["after"]["containers"]["api"]["image"] == "reg/api:2.0"
    assert result["diff"]["before"]["containers"]["api"]["image"] == "reg/api:1.0"
    assert result["diff"]["after"]["containers"]["api"]["image"] == "reg/api:2.0"
    assert "would change: image api: reg/api:1.0 -> reg/api:2.0" in checks(result)["rollout.api.change"]["message"]
    after = deployment(api)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_check_mode_without_difference_is_unchanged(api):
    before = deployment(api)["metadata"]["resourceVersion"]
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:1.0"}, replicas=3), check_mode=True)
    assert result["changed"] is False
    assert result["plan"]["dry_run"] is None  # nothing to send
    assert "no change" in checks(result)["rollout.api.change"]["message"]
    assert deployment(api)["metadata"]["resourceVersion"] == before


def test_check_mode_of_an_invalid_change_is_refused_by_the_server(api):
    # The dry run goes through the apiserver's validation: check mode fails as the real run would.
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, env={"BAD NAME": "1"}), check_mode=True)
    assert "dry run refused" in checks(err.value.result)["rollout.api.change"]["message"]
    assert "env[0].name" in checks(err.value.result)["rollout.api.change"]["message"]
    assert "BAD NAME" not in str(deployment(api)["spec"])


# --------------------------------------------------------------------------- #
# set image, restart, scale, set env
# --------------------------------------------------------------------------- #

def test_set_image_waits_for_the_rollout_then_is_idempotent(api, health):
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0"},
                                            http_gate={"endpoints": [{"name": "api_health", "url": health.url,
                                                                      "json_conditions": [{"path": "status", "value": "healthy"}]}]}))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    assert result["revision"] == {"before": 3, "after": 4}
    assert result["rollout"]["state"] == "complete"
    assert checks(result)["http.api_health"]["status"] == "ok"
    assert image_of(api) == "reg/api:2.0"
    status = deployment(api)["status"]
    assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"] == 3
    assert [r["revision"] for r in result["revisions"]] == [1, 2, 3]
    cluster, namespace = api
    pods = cluster.pods(namespace, "app=api")
    assert sorted(p["spec"]["containers"][0]["image"] for p in pods) == ["reg/api:2.0"] * 3

    version = deployment(api)["metadata"]["resourceVersion"]
    again = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0"}))
    assert again["changed"] is False and again["status"] == "ok"
    assert deployment(api)["metadata"]["resourceVersion"] == version


def test_restart_sets_the_annotation_and_makes_a_new_revision(api):
    cluster, namespace = api
    old_pods = {p["metadata"]["name"] for p in cluster.pods(namespace, "app=api")}
    result = run_module("k8s_rollout", args(api, restart=True))
    assert result["changed"] is True and result["status"] == "ok"
    annotations = deployment(api)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"].endswith("Z")
    assert result["revision"] == {"before": 3, "after": 4}
    new_pods = cluster.wait_pods(namespace, "app=api", lambda pods: len(pods) == 3)
    assert not old_pods & {p["metadata"]["name"] for p in new_pods}  # every pod was replaced


def test_scale_changes_replicas_without_a_new_revision(worker):
    result = run_module("k8s_rollout", args(worker, name="celery-worker", replicas=8))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    dep = deployment(worker, "celery-worker")
    assert dep["spec"]["replicas"] == 8 and dep["status"]["availableReplicas"] == 8
    assert result["revision"]["before"] == result["revision"]["after"] == 1


def test_set_env_in_every_container(worker):
    wanted = {"CELERY_WORKER_CONCURRENCY": "8", "CELERY_PREFETCH_MULTIPLIER": "2"}
    result = run_module("k8s_rollout", args(worker, name="celery-worker", env=wanted))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    for container in deployment(worker, "celery-worker")["spec"]["template"]["spec"]["containers"]:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == {"CELERY_WORKER_CONCURRENCY": "8", "CELERY_PREFETCH_MULTIPLIER": "2"}
    again = run_module("k8s_rollout", args(worker, name="celery-worker", env={"CELERY_WORKER_CONCURRENCY": "8"}))
    assert again["changed"] is False


# --------------------------------------------------------------------------- #
# undo
# --------------------------------------------------------------------------- #

def test_undo_to_the_previous_revision_copies_its_replicaset_template(api):
    result = run_module("k8s_rollout", args(api, state="rolled_back"))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    assert image_of(api) == "reg/api:0.9"
    assert result["plan"]["target_revision"] == 2
    # as kubectl rollout undo: the old ReplicaSet is reused and gets the next revision number
    dep = deployment(api)
    assert dep["metadata"]["annotations"][REVISION] == "4"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert "pod-template-hash" not in labels
    cluster, namespace = api
    assert len(cluster.apps.list_namespaced_replica_set(namespace, label_selector="app=api").items) == 3


def test_undo_to_a_named_revision(api):
    result = run_module("k8s_rollout", args(api, state="rolled_back", revision=1))
    assert result["changed"] is True and result["status"] == "ok"
    assert image_of(api) == "reg/api:0.8"
    assert result["revision"] == {"before": 3, "after": 4}


def test_undo_to_a_revision_that_does_not_exist_fails_clearly(api):
    version = deployment(api)["metadata"]["resourceVersion"]
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, state="rolled_back", revision=7))
    assert "revision 7 not found; the deployment has revisions 1, 2, 3" in err.value.result["msg"]
    assert deployment(api)["metadata"]["resourceVersion"] == version


def test_undo_in_check_mode_shows_the_target(api):
    result = run_module("k8s_rollout", args(api, state="rolled_back", revision=1), check_mode=True)
    assert result["changed"] is True and result["plan"]["dry_run"] == "server"
    assert result["plan"]["after"]["containers"]["api"]["image"] == "reg/api:0.8"
    assert image_of(api) == "reg/api:1.0"


# --------------------------------------------------------------------------- #
# failures and automatic undo
# --------------------------------------------------------------------------- #

def test_progress_deadline_exceeded_undoes_automatically(api):
    short_deadline(api)
    start = time.monotonic()
    result = run_module("k8s_rollout", args(api, images={"api": NEVER_READY}))
    assert result["changed"] is True
    assert result["status"] == "critical" and result["severity"] == "P1"
    assert result["rolled_back"] is True
    found = checks(result)
    assert "ProgressDeadlineExceeded" in found["rollout.api.status"]["message"]
    assert "rolled back to revision 3" in found["rollout.api.deploy"]["message"]
    assert found["rollout.api.rollback"]["status"] == "ok"
    assert image_of(api) == "reg/api:1.0"
    assert result["rollout"]["rollback"]["state"] == "complete"
    dep = deployment(api)
    assert dep["status"]["availableReplicas"] == 3 and dep["status"]["updatedReplicas"] == 3
    # the revision 3 ReplicaSet came back as revision 5 (4 was the broken one)
    assert dep["metadata"]["annotations"][REVISION] == "5"
    assert time.monotonic() - start < 40


def test_an_image_that_cannot_be_pulled_is_undone_too(api):
    short_deadline(api)
    result = run_module("k8s_rollout", args(api, images={"api": PULL_FAIL}))
    assert result["status"] == "critical" and result["rolled_back"] is True, result["summary"]
    assert image_of(api) == "reg/api:1.0"


def test_without_rollback_the_broken_rollout_stays(api):
    short_deadline(api)
    result = run_module("k8s_rollout", args(api, images={"api": NEVER_READY}, rollback=False))
    assert result["status"] == "critical" and result["rolled_back"] is False
    assert "rollout.api.rollback" not in checks(result)
    assert image_of(api) == NEVER_READY
    # the old pods still serve: maxUnavailable 25% of 3 is 0
    assert deployment(api)["status"]["availableReplicas"] == 3


def test_failed_http_gate_undoes_automatically(api, health):
    health.code = 503
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0"},
                                            http_gate={"endpoints": [{"name": "api_health", "url": health.url}],
                                                       "timeout": 0.5, "interval": 0.1}))
    assert result["status"] == "critical" and result["rolled_back"] is True
    found = checks(result)
    assert found["rollout.api.status"]["status"] == "ok"
    assert found["http.api_health"]["status"] == "critical"
    assert "HTTP gate failed" in found["rollout.api.deploy"]["message"]
    assert image_of(api) == "reg/api:1.0"


def test_failed_scale_restores_the_replica_count(api):
    # A ResourceQuota of 4 pods: the ReplicaSet controller cannot create the 5th and 6th.
    cluster, namespace = api
    cluster.core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": "4"}}})
    deadline = time.monotonic() + 30
    while not (cluster.core.read_namespaced_resource_quota("pods", namespace).status.used or {}):
        assert time.monotonic() < deadline, "the quota controller never counted the pods"
        time.sleep(0.1)
    result = run_module("k8s_rollout", args(api, replicas=6, wait_timeout=4))
    assert result["rolled_back"] is True, result["summary"]
    assert "timed out after 4s" in checks(result)["rollout.api.status"]["message"]
    assert deployment(api)["spec"]["replicas"] == 3
    assert "3 replicas" in checks(result)["rollout.api.rollback"]["message"]


# --------------------------------------------------------------------------- #
# connection, errors, bad input
# --------------------------------------------------------------------------- #

def test_kubeconfig_and_context(api, tmp_path):
    cluster, namespace = api
    config = yaml.safe_load(open(cluster.kubeconfig))
    real = config["clusters"][0]["cluster"]
    config["clusters"].append({"name": "dead", "cluster": dict(real, server="https://127.0.0.1:%d" % free_port())})
    config["contexts"] = [{"name": "real", "context": {"cluster": "local", "user": "admin"}},
                          {"name": "dead", "context": {"cluster": "dead", "user": "admin"}}]
    config["current-context"] = "dead"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    result = run_module("k8s_rollout", {"kubeconfig": str(path), "context": "real", "namespace": namespace,
                                        "name": "api", "wait_sleep": 0.1})
    assert result["status"] == "ok" and result["changed"] is False
    assert result["rollout"]["state"] == "complete"
    # the file's current context points at a dead server: the context option was used
    with pytest.raises(ModuleFailed, match="cannot load the Kubernetes configuration"):
        run_module("k8s_rollout", {"kubeconfig": str(path), "context": "missing", "namespace": namespace, "name": "api"})


def test_host_and_api_key_with_the_cluster_ca(api):
    cluster, namespace = api
    result = run_module("k8s_rollout", dict(cluster.host_auth(), namespace=namespace, name="api", replicas=4,
                                            wait_sleep=0.1))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    assert cluster.token not in json.dumps(result)
    # without the CA the apiserver's certificate is not trusted
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", {"host": cluster.url, "api_key": cluster.token, "namespace": namespace, "name": "api"})
    assert "TLS error" in checks(err.value.result)["k8s.api"]["message"]
    assert cluster.token not in json.dumps(err.value.result)


def test_unreachable_api_server_fails_the_task_with_a_clear_p0_check():
    # A rollout that could not be carried out fails its task, keeping the result schema.
    start = time.monotonic()
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", {"host": "http://127.0.0.1:%d" % free_port(), "api_key": "secret-token",
                                   "name": "api", "images": {"api": "x:1"}})
    result = err.value.result
    assert time.monotonic() - start < 10
    assert result["status"] == "critical" and result["msg"] == result["summary"]
    found = checks(result)["k8s.api"]
    assert found["severity"] == "P0"
    assert "connection refused by the Kubernetes API server at http://127.0.0.1:" in found["message"]
    assert result["changed"] is False
    assert "secret-token" not in json.dumps(result)


def test_missing_deployment_fails_the_task_with_a_p0_check(unchanged_api):
    for check_mode in (False, True):
        with pytest.raises(ModuleFailed) as err:
            run_module("k8s_rollout", args(unchanged_api, name="nope", images={"api": "x:1"}), check_mode=check_mode)
        result = err.value.result
        found = checks(result)["rollout.nope.deployment"]
        assert found["severity"] == "P0" and found["message"] == 'deployments.apps "nope" not found'
        assert result["changed"] is False and result["status"] == "critical"
        assert 'deployments.apps "nope" not found' in result["msg"]


def test_forbidden_patch_fails_the_task_with_the_rbac_message(api):
    # A real ServiceAccount and Role: it may get and list Deployments and ReplicaSets, not patch them.
    cluster, namespace = api
    token = cluster.service_account_token(namespace, "viewer", ["get", "list", "watch"])
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", dict(args(api, images={"api": "reg/api:2.0"}), **cluster.host_auth(token)))
    result = err.value.result
    found = checks(result)["k8s.api"]
    assert found["status"] == "critical"
    assert ('forbidden (RBAC): deployments.apps "api" is forbidden: User "system:serviceaccount:%s:viewer" '
            'cannot patch resource "deployments" in API group "apps"' % namespace) in found["message"]
    assert result["changed"] is False and image_of(api) == "reg/api:1.0"
    assert token not in json.dumps(result)
    # check mode fails as the real run would: the dry run is authorized like the patch
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", dict(args(api, images={"api": "reg/api:2.0"}), **cluster.host_auth(token)),
                   check_mode=True)
    assert "dry run refused: forbidden" in checks(err.value.result)["rollout.api.change"]["message"]


def test_forbidden_read_and_bad_token_fail_the_task(api):
    cluster, namespace = api
    token = cluster.service_account_token(namespace, "nobody", [])
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", dict(args(api), **cluster.host_auth(token)))
    assert "cannot get resource" in checks(err.value.result)["k8s.api"]["message"]
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", dict(args(api), **cluster.host_auth("wrong")))
    assert "unauthorized" in checks(err.value.result)["k8s.api"]["message"]


def test_server_side_validation_error_fails_the_task(api):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, env={"BAD NAME": "1"}))
    assert "the API server rejected the change" in err.value.result["msg"]
    assert "spec.template.spec.containers[0].env[0].name: Invalid value" in err.value.result["msg"]
    assert image_of(api) == "reg/api:1.0"


@pytest.mark.parametrize("extra, message", [
    ({"images": {"web": "x:1"}}, "container 'web' not found in the pod template; it has: api"),
    ({"replicas": -2}, "replicas must be at least 0, got -2"),
    ({"revision": 2}, "revision is only valid with state=rolled_back"),
    ({"state": "rolled_back", "images": {"api": "x:1"}}, "state=rolled_back takes no images"),
    ({"http_gate": {"endpoints": [{"url": "ftp://x"}]}}, "http_gate:"),
    ({"host": "127.0.0.1:6443"}, "host must be an http:// or https:// URL"),
])
def test_invalid_parameters(unchanged_api, extra, message):
    version = deployment(unchanged_api)["metadata"]["resourceVersion"]
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(unchanged_api, **extra))
    assert message in err.value.result["msg"]
    assert deployment(unchanged_api)["metadata"]["resourceVersion"] == version
