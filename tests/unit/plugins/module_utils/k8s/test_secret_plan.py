"""k8s/secret_plan.py: who references a Secret, the new data, the checks of the items; no services."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.k8s import rollout_plan, secret_plan


def template(**spec):
    return {"spec": spec}


def test_references_in_env_envfrom_and_volumes():
    tpl = template(
        containers=[{"name": "api", "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                                            {"name": "OTHER", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}},
                                            {"name": "PLAIN", "value": "db"}]}],
        initContainers=[{"name": "migrate", "envFrom": [{"secretRef": {"name": "db"}}]}],
        volumes=[{"name": "creds", "secret": {"secretName": "db"}},
                 {"name": "all", "projected": {"sources": [{"secret": {"name": "db"}}, {"configMap": {"name": "db"}}]}},
                 {"name": "cfg", "configMap": {"name": "db"}}])
    expected = ["env api/PW", "envFrom migrate", "volume creds", "volume all (projected)"]
    assert secret_plan.references(tpl, "db") == expected
    assert secret_plan.references(tpl, "none") == []


def test_users_sorted_deployments_first():
    def obj(name, secret):
        return {"metadata": {"name": name}, "spec": {"template": template(
            containers=[{"name": "c", "envFrom": [{"secretRef": {"name": secret}}]}])}}

    found = secret_plan.users({"deployment": [obj("web", "db"), obj("api", "db"), obj("other", "x")],
                               "statefulset": [obj("proxy", "db")]}, "db")
    assert [(u["kind"], u["name"]) for u in found] == [("deployment", "api"), ("deployment", "web"),
                                                       ("statefulset", "proxy")]


def test_new_data_changed_keys_and_the_guarded_patch():
    old = {"A": secret_plan.encode("1"), "B": secret_plan.encode("2")}
    new = secret_plan.new_data(old, {"A": "1", "C": "3"})
    assert secret_plan.changed_keys(old, new) == ["C"]
    assert new["B"] == old["B"]
    ops = secret_plan.data_ops(old, new, "42")
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert ops[1]["op"] == "replace" and ops[1]["path"] == "/data"
    assert secret_plan.data_ops(None, new, None) == [{"op": "add", "path": "/data", "value": new}]


def test_check_items_never_echoes_a_value():
    assert secret_plan.check_items([{"key": "A", "value": "s3cr3t"}]) is None
    problem = secret_plan.check_items([{"key": "A", "value": "s3cr3t"}, {"key": "A", "value": "s3cr3t"}])
    assert problem == "data lists key A more than once"
    assert "s3cr3t" not in secret_plan.check_items([{"key": "A", "value": "s3cr3t", "env": "X"}])
    assert "generate must be between 8" in secret_plan.check_items([{"key": "A", "generate": 2}])


def test_statefulset_state():
    sts = {"metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "updatedReplicas": 2, "readyReplicas": 2,
                      "currentRevision": "r2", "updateRevision": "r2"}}
    assert secret_plan.statefulset_state(sts)[0] == rollout_plan.COMPLETE
    sts["status"]["currentRevision"] = "r1"
    assert secret_plan.statefulset_state(sts)[0] == rollout_plan.PROGRESSING
    sts["status"].update(currentRevision="r2", readyReplicas=1)
    assert secret_plan.statefulset_state(sts) == (rollout_plan.PROGRESSING, "1 of 2 pods ready")
