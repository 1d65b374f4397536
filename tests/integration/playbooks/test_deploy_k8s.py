"""The Kubernetes plays of playbooks/deploy.yml and rollback.yml (roles runbook.ops.deploy and
runbook.ops.rollback), end to end with ansible-playbook, also by the collection's playbook names
(``ansible-playbook runbook.ops.deploy``), on the real control plane of the ``k8s_cluster`` fixture.

The k8s_app group is localhost here, pointed at the real kube-apiserver with deploy_k8s_kubeconfig;
each test has a namespace of its own with the Deployments api and celery-worker. The fake kubelet
never makes an image named ``never-ready`` Ready, so a worker rollout to one hits the Deployment's
3 s progress deadline. The Docker plays of the same playbooks match no host (they leave the k8s_app
group to the Kubernetes plays).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.slow


def write_extra(cluster, **more):
    path = cluster["tmp"] / ("extra-%d.json" % len(list(cluster["tmp"].glob("extra-*.json"))))
    path.write_text(json.dumps(dict(cluster["vars"], **more)))
    return path


@pytest.fixture()
def cluster(k8s_cluster, k8s_ns, tmp_path):
    k8s_cluster.create_deployment(k8s_ns, "api", {"api": "reg/api:1.0"}, replicas=3, wait=False)
    k8s_cluster.create_deployment(k8s_ns, "celery-worker", {"worker": "reg/worker:1.0"}, replicas=2,
                                  progress_deadline=3)
    k8s_cluster.wait_rollout(k8s_ns, "api")
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({"all": {"children": {"k8s_app": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    extra = {
        "deploy_platform": "kubernetes", "deploy_services": {}, "deploy_version": "latest",
        "deploy_k8s_kubeconfig": k8s_cluster.kubeconfig,
        "deploy_k8s_namespace": k8s_ns, "deploy_k8s_wait_timeout": 60, "deploy_k8s_wait_sleep": 0.1,
        "deploy_k8s_deployments": [
            {"name": "api", "images": {"api": "reg/api:{{ deploy_version }}"}},
            {"name": "celery-worker", "images": {"worker": "reg/worker:{{ deploy_version }}"}},
        ],
    }
    data = {"k8s": k8s_cluster, "ns": k8s_ns, "inventory": inventory, "tmp": tmp_path, "vars": extra}
    data["extra"] = write_extra(data)
    yield data


def play(cluster, playbook, *args):
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(cluster["tmp"] / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(cluster["inventory"]), "playbooks/%s" % playbook,
         "-e", "@%s" % cluster["extra"], *args],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)


def play_installed(cluster, name, *args):
    """``ansible-playbook runbook.ops.<name>``: the playbook as the installed collection ships it,
    run from a directory outside the repository (no ansible.cfg, no playbooks/ beside it)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collection"),
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(cluster["inventory"]), "runbook.ops.%s" % name,
         "-e", "@%s" % cluster["extra"], *args],
        cwd=str(cluster["tmp"]), env=env, capture_output=True, text=True, timeout=300, check=False)


def images(cluster):
    return {name: cluster["k8s"].image(cluster["ns"], name) for name in ("api", "celery-worker")}


def generations(cluster):
    return {name: cluster["k8s"].deployment(cluster["ns"], name)["metadata"]["generation"]
            for name in ("api", "celery-worker")}


def test_deploy_check_mode_then_deploy_then_rollback(cluster):
    before = generations(cluster)
    proc = play(cluster, "deploy.yml", "-e", "deploy_version=2.0", "--check")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(cluster) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}
    assert generations(cluster) == before  # the server's dry run stored nothing

    proc = play(cluster, "deploy.yml", "-e", "deploy_version=2.0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(cluster) == {"api": "reg/api:2.0", "celery-worker": "reg/worker:2.0"}

    proc = play(cluster, "rollback.yml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(cluster) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}

    # a named revision: revision 2 of the api is 2.0 (revision 3 is the 1.0 template again)
    proc = play(cluster, "rollback.yml", "-e", '{"rollback_k8s_revisions": {"api": 2}}',
                "-e", '{"rollback_k8s_deployments": ["api"]}')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(cluster) == {"api": "reg/api:2.0", "celery-worker": "reg/worker:1.0"}


def test_failed_worker_rollout_undoes_itself_and_the_api(cluster):
    # the worker's 3.0 image never gets Ready (the fake kubelet's never-ready rule)
    cluster["extra"] = write_extra(cluster, deploy_k8s_deployments=[
        {"name": "api", "images": {"api": "reg/api:{{ deploy_version }}"}},
        {"name": "celery-worker", "images": {"worker": "reg/worker:{{ deploy_version }}-never-ready"}},
    ])
    proc = play(cluster, "deploy.yml", "-e", "deploy_version=3.0")
    assert proc.returncode != 0
    out = proc.stdout
    assert "ProgressDeadlineExceeded" in out
    assert "deploy of 3.0 failed" in out and "(undone: api)" in out
    # the worker was undone by the module, the api (rolled out first) by the play's rescue
    assert images(cluster) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}
    for name in ("api", "celery-worker"):
        status = cluster["k8s"].wait_rollout(cluster["ns"], name, timeout=30)["status"]
        assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"]


def test_deploy_and_rollback_by_collection_name(cluster):
    proc = play_installed(cluster, "deploy", "-e", "deploy_version=2.0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "TASK [runbook.ops.deploy : Roll out api]" in proc.stdout
    assert images(cluster) == {"api": "reg/api:2.0", "celery-worker": "reg/worker:2.0"}

    proc = play_installed(cluster, "rollback")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(cluster) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}
