"""playbooks/deploy.yml's optional steps, through the real ansible-playbook: the pre-deploy
backup (runbook.ops.pg_backup on the real PostgreSQL fixture) that stops a deploy when it
fails, and the maintenance page (runbook.ops.maintenance_mode, the demo stack's nginx)
served during the rolling update and always taken down again, even when the deploy fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict

import docker
import pytest

from utils.demo_stack import (
    APP_IMAGE,
    TEST_LABEL,
    LoadGenerator,
    Service,
    build_demo_images,
    build_lb_image,
    get,
)

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images():
    client = docker.from_env(timeout=60)
    try:
        yield build_demo_images(client), build_lb_image(client)
    finally:
        client.close()


@pytest.fixture
def stack(images, tmp_path):
    """Two v1 replicas behind the load balancer, with a mounted maintenance directory."""
    client = docker.from_env(timeout=60)
    maint = tmp_path / "maintenance"
    maint.mkdir()
    os.chmod(maint, 0o755)
    project = "rbdep%s" % uuid.uuid4().hex[:8]
    network = client.networks.create("%s_default" % project, driver="bridge", labels={TEST_LABEL: "1"})
    svc = Service(client, project, network, tmp_path)
    try:
        for index in (1, 2):
            svc.start_replica(index, "%s:v1" % APP_IMAGE)
        svc.wait_healthy(2)
        lb = svc.start_lb(images[1], maintenance_dir=maint)
        yield {"svc": svc, "lb": lb, "dir": maint, "ids": images[0]}
    finally:
        svc.remove_all()
        network.remove()
        client.close()


def _extra(stack, **more) -> Dict[str, Any]:
    svc = stack["svc"]
    gate = {"url": "http://{ip}:8000/health", "network": svc.network.name}
    extra = {
        "deploy_project": svc.project,
        "deploy_version": "v2",
        "deploy_services": {"api": {"service": "api", "repository": APP_IMAGE, "http_gate": gate}},
        "deploy_gate_timeout": 30,
        "deploy_monitor_seconds": 0,
        "deploy_pre_checks": [{"name": "api_health", "url": "http://%s/health" % stack["lb"]}],
        "deploy_post_checks": [{"name": "api_health", "url": "http://%s/health" % stack["lb"],
                                "body_regex": '"version": "v2"'}],
        "deploy_check_retries": 1,
    }
    extra.update(more)
    return extra


def _run(tmp: Path, name: str, extra: Dict[str, Any], *args: str):
    extra_file = tmp / ("%s-%s.json" % (name, uuid.uuid4().hex[:6]))
    extra_file.write_text(json.dumps(extra))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(tmp / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/%s.yml" % name,
                           "-e", "@%s" % extra_file, *args], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _images(stack):
    return {c.attrs["Image"] for c in stack["svc"].replicas()}


def test_pre_deploy_backup_runs_first_and_a_failed_one_stops_the_deploy(stack, postgres, tmp_path):
    dsn = postgres.dsn()
    backup = {"login_host": dsn["login_host"], "port": dsn["port"], "login_user": dsn["login_user"],
              "login_password": dsn["login_password"], "ssl_mode": "disable"}
    backup_dir = tmp_path / "backups"
    extra = _extra(stack, deploy_backup=True, backup_postgres=backup, backup_dir=str(backup_dir),
                   backup_databases=[dsn["database"]])

    # The database refuses the password: nothing is deployed.
    bad = _run(tmp_path, "deploy", dict(extra, backup_postgres=dict(backup, login_password="wrong")))
    assert bad.returncode != 0
    assert "backup of %s failed" % dsn["database"] in bad.stdout, bad.stdout[-3000:]
    assert "Roll out api" not in bad.stdout, bad.stdout[-3000:]
    assert _images(stack) == {stack["ids"]["v1"]}

    good = _run(tmp_path, "deploy", extra)
    assert good.returncode == 0, good.stdout[-3000:]
    dumps = sorted((backup_dir / "pre-deploy").glob("%s-*.manifest.json" % dsn["database"]))
    assert len(dumps) == 1, list(backup_dir.rglob("*"))
    assert json.loads(dumps[0].read_text())["kind"] == "pre-deploy"
    assert _images(stack) == {stack["ids"]["v2"]}


def test_maintenance_page_is_served_during_the_deploy_and_taken_down(stack, tmp_path):
    url = "http://%s/" % stack["lb"]
    extra = _extra(stack, deploy_maintenance=True, maintenance_dir=str(stack["dir"]), maintenance_verify_url=url,
                   deploy_maintenance_message="Deploying v2")
    load = LoadGenerator(stack["lb"], pause=0.02)
    load.start()
    try:
        done = _run(tmp_path, "deploy", extra)
        time.sleep(0.5)
    finally:
        load.stop()
    assert done.returncode == 0, done.stdout[-3000:]
    assert _images(stack) == {stack["ids"]["v2"]}
    assert not (stack["dir"] / "maintenance.on").exists()
    statuses = [o["status"] for o in load.outcomes]
    assert 503 in statuses, "the maintenance page was never served"
    served = [o for o in load.outcomes if o["status"] == 503]
    assert all("Deploying v2" in o["body"] for o in served)
    # Order: the app (v1), the page, then the app again (v2).
    first_503 = statuses.index(503)
    last_503 = len(statuses) - 1 - statuses[::-1].index(503)
    assert all(o["body"].startswith("demo v1") for o in load.outcomes[:first_503])
    assert load.outcomes[-1]["body"].startswith("demo v2")
    assert all(o["status"] == 200 for o in load.outcomes[last_503 + 1:])


def test_maintenance_is_turned_off_when_the_deploy_fails(stack, tmp_path):
    url = "http://%s/" % stack["lb"]
    gate = {"url": "http://{ip}:8000/health", "network": stack["svc"].network.name, "body_regex": "never-matches"}
    extra = _extra(stack, deploy_maintenance=True, maintenance_dir=str(stack["dir"]), maintenance_verify_url=url,
                   deploy_gate_timeout=2,
                   deploy_services={"api": {"service": "api", "repository": APP_IMAGE, "http_gate": gate}})
    failed = _run(tmp_path, "deploy", extra)
    assert failed.returncode != 0
    assert "deploy of v2 failed" in failed.stdout, failed.stdout[-3000:]
    assert "Turn maintenance mode off, whatever happened" in failed.stdout
    assert not (stack["dir"] / "maintenance.on").exists()
    assert _images(stack) == {stack["ids"]["v1"]}
    status, body = get(stack["lb"], "/")
    assert status == 200 and body.startswith("demo v1")
