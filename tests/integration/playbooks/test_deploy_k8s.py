"""The Kubernetes plays of playbooks/deploy.yml and rollback.yml (roles runbook.ops.deploy and
runbook.ops.rollback), end to end with ansible-playbook, also by the collection's playbook names
(``ansible-playbook runbook.ops.deploy``).

The k8s_app group is localhost here, pointed at the fake apiserver
(tests/integration/plugins/modules/k8s_fake_apiserver.py: modelled on the apiserver's API
reference, not a recording) with deploy_k8s_host/deploy_k8s_api_key; the real kubernetes
client talks to it over HTTP. The Docker plays of the same playbooks match no host (they
leave the k8s_app group to the Kubernetes plays).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from utils.k8s_fake_apiserver import FakeApiServer

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
NS = "sec-analysis"

pytestmark = pytest.mark.slow


@pytest.fixture()
def cluster(tmp_path):
    with FakeApiServer(deadline_gets=4, broken_marker="worker:3.0") as server:
        server.add_deployment(NS, "api", {"api": "reg/api:1.0"}, replicas=3)
        server.add_deployment(NS, "celery-worker", {"worker": "reg/worker:1.0"}, replicas=2)
        inventory = tmp_path / "hosts.json"
        inventory.write_text(json.dumps({"all": {"children": {"k8s_app": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
        extra = {
            "deploy_platform": "kubernetes", "deploy_services": {}, "deploy_version": "latest",
            "deploy_k8s_host": server.url, "deploy_k8s_api_key": server.token,
            "deploy_k8s_namespace": NS, "deploy_k8s_wait_timeout": 20, "deploy_k8s_wait_sleep": 0.01,
            "deploy_k8s_deployments": [
                {"name": "api", "images": {"api": "reg/api:{{ deploy_version }}"}},
                {"name": "celery-worker", "images": {"worker": "reg/worker:{{ deploy_version }}"}},
            ],
        }
        extra_file = tmp_path / "extra.json"
        extra_file.write_text(json.dumps(extra))
        yield {"server": server, "inventory": inventory, "extra": extra_file, "tmp": tmp_path}


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


def images(server):
    return {name: server.deployment(NS, name)["spec"]["template"]["spec"]["containers"][0]["image"]
            for name in ("api", "celery-worker")}


def test_deploy_check_mode_then_deploy_then_rollback(cluster):
    server = cluster["server"]
    proc = play(cluster, "deploy.yml", "-e", "deploy_version=2.0", "--check")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(server) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}
    assert all("dryRun=All" in p["path"] for p in server.patches())

    proc = play(cluster, "deploy.yml", "-e", "deploy_version=2.0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(server) == {"api": "reg/api:2.0", "celery-worker": "reg/worker:2.0"}

    proc = play(cluster, "rollback.yml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(server) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}

    # a named revision: revision 2 of the api is 2.0 (revision 3 is the 1.0 template again)
    proc = play(cluster, "rollback.yml", "-e", '{"rollback_k8s_revisions": {"api": 2}}',
                "-e", '{"rollback_k8s_deployments": ["api"]}')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(server) == {"api": "reg/api:2.0", "celery-worker": "reg/worker:1.0"}


def test_failed_worker_rollout_undoes_itself_and_the_api(cluster):
    server = cluster["server"]
    proc = play(cluster, "deploy.yml", "-e", "deploy_version=3.0")
    assert proc.returncode != 0
    out = proc.stdout
    assert "ProgressDeadlineExceeded" in out
    assert "deploy of 3.0 failed" in out and "(undone: api)" in out
    # the worker was undone by the module, the api (rolled out first) by the play's rescue
    assert images(server) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}
    for name in ("api", "celery-worker"):
        status = server.deployment(NS, name)["status"]
        assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"]


def test_deploy_and_rollback_by_collection_name(cluster):
    server = cluster["server"]
    proc = play_installed(cluster, "deploy", "-e", "deploy_version=2.0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "TASK [runbook.ops.deploy : Roll out api]" in proc.stdout
    assert images(server) == {"api": "reg/api:2.0", "celery-worker": "reg/worker:2.0"}

    proc = play_installed(cluster, "rollback")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert images(server) == {"api": "reg/api:1.0", "celery-worker": "reg/worker:1.0"}
