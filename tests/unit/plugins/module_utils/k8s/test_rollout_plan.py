"""Pure decisions of k8s_rollout on apiserver-shaped apps/v1 objects.

The objects follow the apps/v1 API reference and `kubectl get -o json` output (camelCase keys,
zero counts omitted); they are written for these tests, not recorded from a cluster.
"""

from __future__ import annotations

import copy

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.k8s import rollout_plan

UID = "5f0c7a7e-0f43-4a5e-9d0e-1b2c3d4e5f60"


def deployment(image="reg/api:1.0", replicas=3, generation=4, observed=4, revision="3", status=None,
               conditions=None, env=None, paused=False, annotations=None):
    container = {"name": "api", "image": image, "imagePullPolicy": "IfNotPresent", "resources": {}}
    if env is not None:
        container["env"] = env
    template_meta = {"creationTimestamp": None, "labels": {"app": "api"}}
    if annotations is not None:
        template_meta["annotations"] = annotations
    obj = {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "api", "namespace": "prod", "uid": UID, "generation": generation,
                     "resourceVersion": "7781", "annotations": {rollout_plan.REVISION_ANNOTATION: revision}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": template_meta,
                              "spec": {"containers": [container, {"name": "sidecar", "image": "reg/proxy:1"}],
                                       "initContainers": [{"name": "migrate", "image": "reg/api:1.0"}]}},
                 "progressDeadlineSeconds": 600},
        "status": dict({"observedGeneration": observed, "replicas": replicas, "updatedReplicas": replicas,
                        "readyReplicas": replicas, "availableReplicas": replicas}, **(status or {})),
    }
    if conditions is not None:
        obj["status"]["conditions"] = conditions
    if paused:
        obj["spec"]["paused"] = True
    return obj


def replicaset(name, revision, image, owner_uid=UID, replicas=0):
    return {
        "metadata": {"name": name, "namespace": "prod", "creationTimestamp": "2025-01-15T09:30:00Z",
                     "labels": {"app": "api", "pod-template-hash": name.rsplit("-", 1)[-1]},
                     "annotations": {rollout_plan.REVISION_ANNOTATION: str(revision)},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api",
                                          "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"replicas": replicas, "template": {
            "metadata": {"creationTimestamp": None,
                         "labels": {"app": "api", "pod-template-hash": name.rsplit("-", 1)[-1]}},
            "spec": {"containers": [{"name": "api", "image": image}]}}},
        "status": {"replicas": replicas},
    }


# --------------------------------------------------------------------------- #
# rollout_state: what `kubectl rollout status` waits for
# --------------------------------------------------------------------------- #

def test_complete_when_all_updated_and_available():
    state, message = rollout_plan.rollout_state(deployment())
    assert state == rollout_plan.COMPLETE
    assert "3 of 3" in message


def test_waits_for_the_controller_to_observe_the_generation():
    state, message = rollout_plan.rollout_state(deployment(generation=5, observed=4))
    assert state == rollout_plan.PROGRESSING
    assert "observe generation 5" in message


def test_stale_deadline_condition_is_ignored_until_the_new_generation_is_observed():
    conditions = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "old"}]
    assert rollout_plan.rollout_state(deployment(generation=5, observed=4, conditions=conditions))[0] == rollout_plan.PROGRESSING


@pytest.mark.parametrize("status, expected", [
    ({"updatedReplicas": 1}, "1 of 3 new replicas updated"),
    ({"replicas": 4}, "1 old replica pending termination"),
    ({"replicas": 5}, "2 old replicas pending termination"),
    ({"availableReplicas": 2}, "2 of 3 updated replicas available"),
])
def test_progressing_messages(status, expected):
    state, message = rollout_plan.rollout_state(deployment(status=status))
    assert state == rollout_plan.PROGRESSING
    assert message == expected


def test_zero_counts_omitted_by_the_apiserver_mean_zero():
    obj = deployment()
    for key in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        del obj["status"][key]
    assert rollout_plan.rollout_state(obj) == (rollout_plan.PROGRESSING, "0 of 3 new replicas updated")


def test_progress_deadline_exceeded_fails():
    conditions = [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                  {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                   "message": 'ReplicaSet "api-6d4cf56db6" has timed out progressing.'}]
    state, message = rollout_plan.rollout_state(deployment(status={"updatedReplicas": 1}, conditions=conditions))
    assert state == rollout_plan.FAILED
    assert "600s" in message and "ProgressDeadlineExceeded" in message and "api-6d4cf56db6" in message


def test_replica_failure_is_shown_while_waiting():
    conditions = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                   "message": 'pods "api-x" is forbidden: exceeded quota'}]
    state, message = rollout_plan.rollout_state(deployment(status={"updatedReplicas": 0}, conditions=conditions))
    assert state == rollout_plan.PROGRESSING
    assert "FailedCreate" in message and "exceeded quota" in message


def test_paused_unfinished_rollout_fails_but_paused_complete_one_is_complete():
    assert rollout_plan.rollout_state(deployment(paused=True, status={"updatedReplicas": 1}))[0] == rollout_plan.FAILED
    assert rollout_plan.rollout_state(deployment(paused=True))[0] == rollout_plan.COMPLETE


def test_scale_to_zero_is_complete():
    obj = deployment(replicas=0, status={"replicas": 0, "updatedReplicas": 0, "readyReplicas": 0, "availableReplicas": 0})
    assert rollout_plan.rollout_state(obj)[0] == rollout_plan.COMPLETE


# --------------------------------------------------------------------------- #
# revisions
# --------------------------------------------------------------------------- #

def test_history_keeps_owned_replicasets_sorted_by_revision():
    rss = [replicaset("api-ccc", 3, "reg/api:1.0", replicas=3), replicaset("api-aaa", 1, "reg/api:0.8"),
           replicaset("api-bbb", 2, "reg/api:0.9"), replicaset("other-ddd", 9, "x", owner_uid="someone-else")]
    history = rollout_plan.revision_history(deployment(), rss)
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert history[0]["images"] == {"api": "reg/api:0.8"}
    assert history[-1]["replicas"] == 3


def test_previous_revision_is_the_newest_older_one():
    history = [{"revision": 1}, {"revision": 4}, {"revision": 6}, {"revision": 7}]
    assert rollout_plan.select_revision(history, 7)["revision"] == 6
    assert rollout_plan.select_revision(history, None)["revision"] == 6


def test_named_revision_and_missing_revision():
    history = [{"revision": 1}, {"revision": 2}, {"revision": 3}]
    assert rollout_plan.select_revision(history, 3, 1)["revision"] == 1
    with pytest.raises(rollout_plan.K8sRolloutError, match=r"revision 7 not found; the deployment has revisions 1, 2, 3"):
        rollout_plan.select_revision(history, 3, 7)


def test_no_previous_revision():
    with pytest.raises(rollout_plan.K8sRolloutError, match="no previous revision"):
        rollout_plan.select_revision([{"revision": 1}], 1)


def test_undo_template_drops_the_pod_template_hash_only():
    rs = replicaset("api-5c9f8d7b6a", 2, "reg/api:0.9")
    template = rollout_plan.undo_template(rs)
    assert template["metadata"]["labels"] == {"app": "api"}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == "5c9f8d7b6a"
    assert rollout_plan.same_template(template, rs["spec"]["template"])
    other = copy.deepcopy(template)
    other["spec"]["containers"][0]["image"] = "reg/api:1.0"
    assert not rollout_plan.same_template(other, template)


def test_label_selector_from_match_labels_and_expressions():
    selector = {"matchLabels": {"tier": "web", "app": "api"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "stg"]},
                                     {"key": "canary", "operator": "DoesNotExist"},
                                     {"key": "team", "operator": "Exists"},
                                     {"key": "zone", "operator": "NotIn", "values": ["b"]}]}
    assert rollout_plan.label_selector(selector) == "app=api,tier=web,env in (prod,stg),!canary,team,zone notin (b)"


# --------------------------------------------------------------------------- #
# planning patches
# --------------------------------------------------------------------------- #

def test_set_image_patches_only_differing_containers_guarded_by_name():
    obj = deployment()
    ops, notes = rollout_plan.image_ops(obj["spec"]["template"], {"api": "reg/api:2.0", "sidecar": "reg/proxy:1"})
    assert ops == [{"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "api"},
                   {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "reg/api:2.0"}]
    assert notes == ["image api: reg/api:1.0 -> reg/api:2.0"]
    after = rollout_plan.apply_patch(obj, ops)
    assert rollout_plan.summarize(after)["containers"]["api"]["image"] == "reg/api:2.0"


def test_set_image_of_an_init_container():
    ops, _notes = rollout_plan.image_ops(deployment()["spec"]["template"], {"migrate": "reg/api:2.0"})
    assert ops[1]["path"] == "/spec/template/spec/initContainers/0/image"


def test_unknown_container_lists_the_known_ones():
    with pytest.raises(rollout_plan.K8sRolloutError, match=r"container 'web' not found .* api, sidecar, migrate"):
        rollout_plan.image_ops(deployment()["spec"]["template"], {"web": "x"})


def test_already_matching_image_is_no_change():
    ops, notes = rollout_plan.plan_present(deployment(), {"images": {"api": "reg/api:1.0"}, "replicas": 3}, "t")
    assert ops == [] and notes == []
    assert not rollout_plan.effective(ops)


def test_env_set_replaces_value_from_in_place_appends_and_removes():
    env = [{"name": "A", "value": "1"},
           {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
           {"name": "OLD", "value": "x"}]
    assert rollout_plan.env_map({"env": env})["DB"] == "<from secretKeyRef db/url>"
    result = rollout_plan.new_env(env, {"DB": "postgres://h/db", "NEW": "2", "A": "1"}, ["OLD"])
    assert result == [{"name": "A", "value": "1"}, {"name": "DB", "value": "postgres://h/db"}, {"name": "NEW", "value": "2"}]


def test_env_ops_every_container_or_one():
    obj = deployment(env=[{"name": "CELERY_WORKER_CONCURRENCY", "value": "4"}])
    template = obj["spec"]["template"]
    ops, notes = rollout_plan.env_ops(template, {"CELERY_WORKER_CONCURRENCY": "8"}, [])
    # api replaces its env, the sidecar (no env) gets one added
    assert [op["op"] for op in ops] == ["test", "replace", "test", "add"]
    assert notes == ["env api: CELERY_WORKER_CONCURRENCY=8", "env sidecar: CELERY_WORKER_CONCURRENCY=8"]
    ops, notes = rollout_plan.env_ops(template, {"CELERY_WORKER_CONCURRENCY": "8"}, [], container="api")
    assert len(ops) == 2
    assert rollout_plan.env_ops(template, {"CELERY_WORKER_CONCURRENCY": "4"}, [], container="api") == ([], [])
    with pytest.raises(rollout_plan.K8sRolloutError, match="container 'nope' not found"):
        rollout_plan.env_ops(template, {"X": "1"}, [], container="nope")


def test_restart_adds_the_annotation_whatever_the_metadata():
    for template in ({"spec": {}}, {"metadata": {"labels": {}}, "spec": {}},
                     {"metadata": {"annotations": {"a": "b"}}, "spec": {}}):
        obj = {"spec": {"template": copy.deepcopy(template)}}
        ops, notes = rollout_plan.restart_ops(template, "2025-02-18T02:00:00Z")
        after = rollout_plan.apply_patch(obj, ops)
        assert after["spec"]["template"]["metadata"]["annotations"][rollout_plan.RESTARTED_AT_ANNOTATION] == "2025-02-18T02:00:00Z"
        assert "restart" in notes[0]
    assert rollout_plan.restart_ops({"metadata": {"annotations": {}}}, "t")[0][0]["path"] == \
        "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"


def test_scale_and_combined_plan_is_one_patch():
    ops, notes = rollout_plan.plan_present(deployment(), {"images": {"api": "reg/api:2.0"}, "replicas": 10,
                                                          "env": {"X": "1"}, "container": "api", "restart": True}, "now")
    assert {"op": "replace", "path": "/spec/replicas", "value": 10} in ops
    assert notes[-1] == "replicas: 3 -> 10"
    assert rollout_plan.changes_template(ops)
    assert not rollout_plan.changes_template(rollout_plan.scale_ops(deployment(), 10)[0])


def test_failed_test_operation_is_refused_locally():
    with pytest.raises(rollout_plan.K8sRolloutError, match="patch test failed"):
        rollout_plan.apply_patch(deployment(), [{"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"}])


def test_diff_lines():
    obj = deployment(env=[{"name": "A", "value": "1"}])
    params = {"images": {"api": "reg/api:2.0"}, "replicas": 5, "env": {"A": "2"}, "container": "api"}
    before = rollout_plan.summarize(obj)
    after = rollout_plan.summarize(rollout_plan.apply_patch(obj, rollout_plan.plan_present(obj, params, "t")[0]))
    assert rollout_plan.diff_summaries(before, after) == ["replicas: 3 -> 5", "image api: reg/api:1.0 -> reg/api:2.0",
                                                          "env api A: 1 -> 2"]


def test_pointer_escapes():
    assert rollout_plan.pointer("a/b", "c~d", 0) == "/a~1b/c~0d/0"


@pytest.mark.parametrize("params, message", [
    ({"state": "present", "replicas": -1}, "replicas must not be negative"),
    ({"state": "rolled_back", "revision": 0}, "revision must be at least 1"),
    ({"state": "present", "revision": 2}, "revision is only valid with state=rolled_back"),
    ({"state": "rolled_back", "images": {"api": "x"}}, "state=rolled_back takes no images"),
    ({"state": "rolled_back", "restart": True}, "takes no restart"),
    ({"state": "present", "images": {"api": ""}}, "images needs container: image pairs"),
    ({"state": "present", "env": {"A=B": "1"}}, "invalid environment variable name"),
    ({"state": "present", "env": {"A": "1"}, "env_remove": ["A"]}, "env and env_remove both name A"),
    ({"state": "present", "wait_timeout": 0}, "wait_timeout must be more than 0 and at most 3600 seconds"),
    # every wait is bounded
    ({"state": "present", "wait_timeout": 1e12}, "wait_timeout must be more than 0 and at most 3600 seconds, got"),
    ({"state": "present", "wait_timeout": float("inf")}, "wait_timeout must be more than 0 and at most 3600"),
    ({"state": "present", "wait_sleep": 86400}, "wait_sleep must be more than 0 and at most 3600"),
    ({"state": "present", "http_gate": {"timeout": 1e9}}, "http_gate.timeout must be more than 0 and at most 3600"),
])
def test_validate(params, message):
    assert message in rollout_plan.validate(params)


def test_validate_accepts_a_plain_plan():
    assert rollout_plan.validate({"state": "present", "images": {"api": "x:1"}, "replicas": 0, "wait_timeout": 5}) is None
    assert rollout_plan.validate({"state": "rolled_back", "revision": 3}) is None
