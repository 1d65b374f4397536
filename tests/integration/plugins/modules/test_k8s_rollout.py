"""runbook.ops.k8s_rollout through the real kubernetes Python client, over HTTP, against a fake apiserver.

No Kubernetes API server can run on these machines. ``k8s_fake_apiserver.FakeApiServer`` is a
stateful loopback server whose apps/v1 JSON is modelled on the apiserver's API reference (see
its docstring): it is not a recording of a live cluster. It simulates the deployment controller
one step per GET, so rollouts progress over several reads, and a broken image hits
ProgressDeadlineExceeded. test_k8s_rollout_cluster.py runs against a real cluster when
KUBECONFIG is set.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.services import free_port
from utils.run import ModuleFailed, run_module

from utils.k8s_fake_apiserver import REVISION, FakeApiServer

NS = "sec-analysis"


@pytest.fixture()
def api():
    with FakeApiServer(deadline_gets=4) as server:
        server.add_deployment(NS, "api", {"api": "reg/api:1.0"}, replicas=3,
                              history=[{"api": "reg/api:0.8"}, {"api": "reg/api:0.9"}])
        server.add_deployment(NS, "celery-worker", {"worker": "reg/worker:1.0", "exporter": "reg/exporter:1"},
                              replicas=5, env={"CELERY_WORKER_CONCURRENCY": "4"})
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
    before = api.deployment(NS, "api")
    result = run_module("k8s_rollout", dict(args(api, images={"api": "reg/api:2.0"}), _ansible_diff=True),
                        check_mode=True)
    assert result["changed"] is True
    assert result["plan"]["dry_run"] == "server"
    assert result["plan"]["after"]["containers"]["api"]["image"] == "reg/api:2.0"
    assert result["diff"]["before"]["containers"]["api"]["image"] == "reg/api:1.0"
    assert result["diff"]["after"]["containers"]["api"]["image"] == "reg/api:2.0"
    assert "would change: image api: reg/api:1.0 -> reg/api:2.0" in checks(result)["rollout.api.change"]["message"]
    patches = api.patches()
    assert len(patches) == 1 and "dryRun=All" in patches[0]["path"]
    assert patches[0]["content_type"] == "application/json-patch+json"
    after = api.deployment(NS, "api")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


def test_check_mode_without_difference_is_unchanged_and_sends_no_patch(api):
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:1.0"}, replicas=3), check_mode=True)
    assert result["changed"] is False
    assert api.patches() == []
    assert "no change" in checks(result)["rollout.api.change"]["message"]


def test_check_mode_falls_back_to_a_local_plan_when_the_server_cannot_dry_run(api):
    api.dry_run_supported = False
    result = run_module("k8s_rollout", args(api, replicas=6), check_mode=True)
    assert result["changed"] is True
    assert result["plan"]["dry_run"].startswith("local")
    assert result["plan"]["after"]["replicas"] == 6
    assert api.deployment(NS, "api")["spec"]["replicas"] == 3


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
    reads = [r for r in api.requests if r["method"] == "GET" and r["path"].endswith("/deployments/api")]
    assert len(reads) >= 5  # observe + one pod per read + ready: the rollout took several reads
    status = api.deployment(NS, "api")["status"]
    assert status["updatedReplicas"] == status["availableReplicas"] == 3
    assert [r["revision"] for r in result["revisions"]] == [1, 2, 3]

    again = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0"}))
    assert again["changed"] is False and again["status"] == "ok"
    assert len(api.patches()) == 1


def test_restart_sets_the_annotation_and_makes_a_new_revision(api):
    result = run_module("k8s_rollout", args(api, restart=True))
    assert result["changed"] is True and result["status"] == "ok"
    annotations = api.deployment(NS, "api")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"].endswith("Z")
    assert result["revision"] == {"before": 3, "after": 4}


def test_scale_changes_replicas_without_a_new_revision(api):
    result = run_module("k8s_rollout", args(api, name="celery-worker", replicas=8))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    dep = api.deployment(NS, "celery-worker")
    assert dep["spec"]["replicas"] == 8 and dep["status"]["availableReplicas"] == 8
    assert result["revision"]["before"] == result["revision"]["after"]


def test_set_env_in_every_container(api):
    wanted = {"CELERY_WORKER_CONCURRENCY": "8", "CELERY_PREFETCH_MULTIPLIER": "2"}
    result = run_module("k8s_rollout", args(api, name="celery-worker", env=wanted))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    for container in api.deployment(NS, "celery-worker")["spec"]["template"]["spec"]["containers"]:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == {"CELERY_WORKER_CONCURRENCY": "8", "CELERY_PREFETCH_MULTIPLIER": "2"}
    again = run_module("k8s_rollout", args(api, name="celery-worker", env={"CELERY_WORKER_CONCURRENCY": "8"}))
    assert again["changed"] is False


# --------------------------------------------------------------------------- #
# undo
# --------------------------------------------------------------------------- #

def test_undo_to_the_previous_revision_copies_its_replicaset_template(api):
    result = run_module("k8s_rollout", args(api, state="rolled_back"))
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    assert image_of(api) == "reg/api:0.9"
    assert result["plan"]["target_revision"] == 2
    # like kubectl: the old ReplicaSet is reused and gets the next revision number
    dep = api.deployment(NS, "api")
    assert dep["metadata"]["annotations"][REVISION] == "4"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert "pod-template-hash" not in labels
    assert len(api.replicaset_list(NS, "api")) == 3


def test_undo_to_a_named_revision(api):
    result = run_module("k8s_rollout", args(api, state="rolled_back", revision=1))
    assert result["changed"] is True and result["status"] == "ok"
    assert image_of(api) == "reg/api:0.8"


def test_undo_to_a_revision_that_does_not_exist_fails_clearly(api):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, state="rolled_back", revision=7))
    assert "revision 7 not found; the deployment has revisions 1, 2, 3" in err.value.result["msg"]
    assert api.patches() == []


def test_undo_in_check_mode_shows_the_target(api):
    result = run_module("k8s_rollout", args(api, state="rolled_back", revision=1), check_mode=True)
    assert result["changed"] is True
    assert result["plan"]["after"]["containers"]["api"]["image"] == "reg/api:0.8"
    assert image_of(api) == "reg/api:1.0"


# --------------------------------------------------------------------------- #
# failures and automatic undo
# --------------------------------------------------------------------------- #

def test_progress_deadline_exceeded_undoes_automatically(api):
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0-broken"}))
    assert result["changed"] is True
    assert result["status"] == "critical" and result["severity"] == "P1"
    assert result["rolled_back"] is True
    found = checks(result)
    assert "ProgressDeadlineExceeded" in found["rollout.api.status"]["message"]
    assert "rolled back to revision 3" in found["rollout.api.deploy"]["message"]
    assert found["rollout.api.rollback"]["status"] == "ok"
    assert image_of(api) == "reg/api:1.0"
    assert result["rollout"]["rollback"]["state"] == "complete"
    dep = api.deployment(NS, "api")
    assert dep["status"]["availableReplicas"] == 3 and dep["status"]["updatedReplicas"] == 3
    # the revision 3 ReplicaSet came back as revision 5 (4 was the broken one)
    assert dep["metadata"]["annotations"][REVISION] == "5"


def test_without_rollback_the_broken_rollout_stays(api):
    result = run_module("k8s_rollout", args(api, images={"api": "reg/api:2.0-broken"}, rollback=False))
    assert result["status"] == "critical" and result["rolled_back"] is False
    assert "rollout.api.rollback" not in checks(result)
    assert image_of(api) == "reg/api:2.0-broken"


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
    api.capacity = 4  # the cluster has room for 4 pods: the 5th and 6th stay Pending
    result = run_module("k8s_rollout", args(api, replicas=6))
    assert result["rolled_back"] is True, result["summary"]
    assert api.deployment(NS, "api")["spec"]["replicas"] == 3
    assert "3 replicas" in checks(result)["rollout.api.rollback"]["message"]


def test_timeout_and_an_undo_that_cannot_complete_is_p0(api):
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


# --------------------------------------------------------------------------- #
# connection, errors, bad input
# --------------------------------------------------------------------------- #

def test_kubeconfig_and_context(api, tmp_path):
    path = api.kubeconfig(str(tmp_path / "kubeconfig"), context="fake")
    result = run_module("k8s_rollout", {"kubeconfig": path, "context": "fake", "namespace": NS, "name": "api",
                                        "wait_sleep": 0.01})
    assert result["status"] == "ok" and result["changed"] is False
    assert result["rollout"]["state"] == "complete"
    # the file's current context points at a dead server: the context option was used
    with pytest.raises(ModuleFailed, match="cannot load the Kubernetes configuration"):
        run_module("k8s_rollout", {"kubeconfig": path, "context": "missing", "namespace": NS, "name": "api"})


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


def test_missing_deployment_fails_the_task_with_a_p0_check(api):
    for check_mode in (False, True):
        with pytest.raises(ModuleFailed) as err:
            run_module("k8s_rollout", args(api, name="nope", images={"api": "x:1"}), check_mode=check_mode)
        result = err.value.result
        found = checks(result)["rollout.nope.deployment"]
        assert found["severity"] == "P0" and found["message"] == 'deployments.apps "nope" not found'
        assert result["changed"] is False and result["status"] == "critical"
        assert 'deployments.apps "nope" not found' in result["msg"]


def test_forbidden_patch_fails_the_task_with_the_rbac_message(api):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, api_key=api.readonly_token, images={"api": "reg/api:2.0"}))
    result = err.value.result
    found = checks(result)["k8s.api"]
    assert found["status"] == "critical"
    assert 'forbidden (RBAC): deployments.apps "api" is forbidden: User "system:serviceaccount:ci:viewer" cannot patch' \
        in found["message"]
    assert result["changed"] is False and image_of(api) == "reg/api:1.0"
    # check mode fails as the real run would
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, api_key=api.readonly_token, images={"api": "reg/api:2.0"}), check_mode=True)
    assert "dry run refused: forbidden" in checks(err.value.result)["rollout.api.change"]["message"]


def test_forbidden_read_and_bad_token_fail_the_task(api):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, api_key=api.denied_token))
    assert "cannot get resource" in checks(err.value.result)["k8s.api"]["message"]
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, api_key="wrong"))
    assert "unauthorized" in checks(err.value.result)["k8s.api"]["message"]


def test_server_side_validation_error_fails_the_task(api):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, images={"api": "reg/api 2.0"}))
    assert "the API server rejected the change" in err.value.result["msg"]
    assert "spec.template.spec.containers[0].image" in err.value.result["msg"]


@pytest.mark.parametrize("extra, message", [
    ({"images": {"web": "x:1"}}, "container 'web' not found in the pod template; it has: api"),
    ({"replicas": -2}, "replicas must be at least 0, got -2"),
    ({"revision": 2}, "revision is only valid with state=rolled_back"),
    ({"state": "rolled_back", "images": {"api": "x:1"}}, "state=rolled_back takes no images"),
    ({"http_gate": {"endpoints": [{"url": "ftp://x"}]}}, "http_gate:"),
    ({"host": "127.0.0.1:6443"}, "host must be an http:// or https:// URL"),
])
def test_invalid_parameters(api, extra, message):
    with pytest.raises(ModuleFailed) as err:
        run_module("k8s_rollout", args(api, **extra))
    assert message in err.value.result["msg"]
    assert api.patches() == []
