"""k8s/check_plan.py: the decisions of k8s_check on apiserver-shaped dicts, no services."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.k8s import check_plan

NOW = check_plan.parse_time("2026-12-02T08:00:00Z")
PARAMS = {"window_hours": 24, "restart_threshold": 5, "pending_minutes": 10, "not_ready_minutes": 5,
          "events_warning": 1, "cert_warning_days": 14, "cert_critical_days": 7}


def deployment(desired, available, reason=None):
    conds = [{"type": "Progressing", "status": "False" if reason else "True", "reason": reason or "NewReplicaSetAvailable",
              "message": "ReplicaSet x has timed out progressing."}]
    return {"metadata": {"name": "api"}, "spec": {"replicas": desired},
            "status": {"availableReplicas": available, "updatedReplicas": available, "conditions": conds}}


def test_parse_time_with_fractions_and_garbage():
    assert check_plan.parse_time("2026-12-02T08:00:00.123456Z") == NOW
    assert check_plan.parse_time("yesterday") is None and check_plan.parse_time(None) is None


def test_workload_no_replica_is_p0_fewer_is_a_warning_stuck_is_critical():
    made, metrics = check_plan.workload_check("ns", "deployment", deployment(3, 0))
    assert (made["status"], made["severity"]) == ("critical", "P0")
    assert check_plan.workload_check("ns", "deployment", deployment(3, 2))[0]["status"] == "warning"
    stuck = check_plan.workload_check("ns", "deployment", deployment(3, 3, "ProgressDeadlineExceeded"))[0]
    assert (stuck["status"], stuck["severity"]) == ("critical", "P1") and "rollout stuck" in stuck["message"]
    assert check_plan.workload_check("ns", "deployment", deployment(0, 0))[0]["status"] == "ok"
    assert metrics['k8s_workload_desired_replicas{kind="deployment",namespace="ns",workload="api"}'] == 3


def pod(name, phase="Running", ready="True", since="2026-12-02T07:00:00Z", waiting=None, restarts=0, last=None):
    cstat = {"name": "c", "image": "img", "restartCount": restarts,
             "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}}}
    if last:
        cstat["lastState"] = {"terminated": {"finishedAt": last}}
    return {"metadata": {"name": name, "creationTimestamp": since},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": since}],
                       "containerStatuses": [cstat]}}


def test_pods_by_problem():
    pods = [pod("ok"), pod("slow", ready="False"), pod("young", ready="False", since="2026-12-02T07:58:00Z"),
            pod("loop", waiting="CrashLoopBackOff", restarts=3), pod("pull", phase="Pending", waiting="ImagePullBackOff"),
            pod("flappy", restarts=9, last="2026-12-02T06:00:00Z"), pod("old", restarts=9, last="2026-11-20T06:00:00Z"),
            pod("done", phase="Succeeded", ready="False")]
    made, metrics = check_plan.pods_check("ns", pods, NOW, PARAMS)
    assert made["status"] == "critical"
    assert set(made["value"]) == {"crashloop", "image", "not_ready", "restarts"}
    assert [t.split()[0] for t in made["value"]["not_ready"]] == ["slow"]  # young is within its grace
    assert [t.split()[0] for t in made["value"]["restarts"]] == ["flappy"]  # old restarted outside the window
    assert metrics['k8s_pods{namespace="ns"}'] == 7


def test_nodes_none_ready_is_p0_and_problems_are_named():
    ready = {"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    cordoned = {"metadata": {"name": "b"}, "spec": {"unschedulable": True},
                "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "True"}]}}
    checks, _metrics = check_plan.node_checks([ready, cordoned])
    assert [c["name"] for c in checks] == ["k8s.nodes", "k8s.node.b"]
    assert "cordoned" in checks[1]["message"] and "DiskPressure" in checks[1]["message"]
    down, _metrics = check_plan.node_checks([{"metadata": {"name": "x"}, "status": {}}])
    assert down[0]["severity"] == "P0"


def test_events_grouped_by_reason_within_the_window():
    events = [{"type": "Warning", "reason": "BackOff", "count": 4, "lastTimestamp": "2026-12-02T07:00:00Z",
               "involvedObject": {"kind": "Pod", "name": "p"}, "message": "Back-off"},
              {"type": "Warning", "reason": "BackOff", "count": 1, "lastTimestamp": "2026-11-01T07:00:00Z"},
              {"type": "Normal", "reason": "Pulled", "lastTimestamp": "2026-12-02T07:00:00Z"}]
    made, metrics = check_plan.events_check("ns", events, NOW, PARAMS)
    assert made["status"] == "warning" and made["value"] == {"BackOff": 4}
    assert metrics['k8s_warning_events{namespace="ns",reason="all"}'] == 4


def test_certificates_missing_crd_not_ready_and_expiry():
    assert "not installed" in check_plan.certificates_check("ns", None, NOW, PARAMS)[0]["message"]
    cert = {"metadata": {"name": "api"}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                                    "notAfter": "2026-12-05T08:00:00Z"}}
    made, metrics = check_plan.certificates_check("ns", [cert], NOW, PARAMS)
    assert made["status"] == "critical" and "expires in 3.0 days" in made["message"]
    assert metrics['k8s_certificate_expiry_seconds{certificate="api",namespace="ns"}'] == 3 * 86400


def test_pvcs_and_validation():
    made, _metrics = check_plan.pvcs_check("ns", [{"metadata": {"name": "a"}, "status": {"phase": "Lost"}},
                                           {"metadata": {"name": "b"}, "status": {"phase": "Bound"}}])
    assert made["status"] == "critical" and made["value"] == ["a Lost"]
    assert check_plan.validate({"namespaces": ["a", "a"]}) == "namespaces lists a more than once"
    assert check_plan.validate({"namespaces": ["a"]}) is None
