"""docker_rollout's surge mode (max_surge, issue 12) on the real engine, behind the demo stack's
load balancer with its load generator running (demo_stack.py), as in test_docker_rollout.py:
a surge deploy loses no request; a wave whose gate fails is removed and the old replicas are
never touched; check mode and --diff against the real run; a replica killed in the middle of
the surge; the engine-held lock; surge through deploy.yml.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import docker
import pytest

from utils.run import ModuleFailed, run_module
from utils.demo_stack import (
    APP_IMAGE,
    TEST_LABEL,
    LoadGenerator,
    Service,
    build_demo_images,
    build_lb_image,
)

ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
LOCK_LABEL = "runbook.ops.lock"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client():
    api = docker.from_env(timeout=60)
    yield api
    api.close()


@pytest.fixture(scope="module")
def demo_images(client) -> Dict[str, str]:
    return build_demo_images(client)


@pytest.fixture(scope="module")
def lb_image(client) -> str:
    return build_lb_image(client)


@pytest.fixture
def service(client, tmp_path):
    project = "i12surge%s" % uuid.uuid4().hex[:8]
    network = client.networks.create("%s_default" % project, driver="bridge", labels={TEST_LABEL: "1"})
    svc = Service(client, project, network, tmp_path)
    try:
        yield svc
    finally:
        svc.remove_all()
        for leftover in _locks(svc):
            leftover.remove(force=True)
        network.remove()


def _params(service: Service, **args) -> Dict[str, Any]:
    params = {"project": service.project, "service": "api", "gate_timeout": 30,
              "http_gate": {"url": "http://{ip}:8000/health", "network": service.network.name}}
    params.update(args)
    return params


def _rollout(service: Service, check_mode: bool = False, **args):
    return run_module("docker_rollout", _params(service, **args), check_mode=check_mode)


def _all(service: Service) -> List[Any]:
    return service.client.containers.list(all=True, filters={"label": service.labels})


def _locks(service: Service) -> List[Any]:
    return [c for c in service.client.containers.list(all=True, filters={"label": LOCK_LABEL})
            if service.project in c.labels.get(LOCK_LABEL, "")]


def _consistent(service: Service, count: int) -> set:
    """All ``count`` replicas running, healthy, on one image, under their own names; no -next
    container; no lock left."""
    containers = _all(service)
    names = sorted(c.name for c in containers)
    assert not [n for n in names if "-next" in n], names
    assert names == ["%s-api-%d" % (service.project, i) for i in range(1, count + 1)], names
    assert all(c.status == "running" for c in containers), [(c.name, c.status) for c in containers]
    assert all(c.attrs["State"].get("Health", {}).get("Status") == "healthy" for c in containers)
    for container in containers:
        aliases = container.attrs["NetworkSettings"]["Networks"][service.network.name]["Aliases"] or []
        assert {"demo", "api"} <= set(aliases), (container.name, aliases)
    assert _locks(service) == []
    return {c.attrs["Image"] for c in containers}


def _start(service: Service, count: int, version: str = "v1") -> None:
    for index in range(1, count + 1):
        service.start_replica(index, "%s:%s" % (APP_IMAGE, version))
    service.wait_healthy(count)


def _under_load(service: Service, lb_image: str, action):
    lb = service.start_lb(lb_image)
    load = LoadGenerator(lb)
    load.start()
    try:
        time.sleep(0.5)
        outcome = action()
        returned = time.monotonic()
        time.sleep(1.0)
    finally:
        load.stop()
    return outcome, load, returned


def _served(load: LoadGenerator) -> set:
    return {o["body"].split()[1] for o in load.outcomes if o["ok"]}


# --------------------------------------------------------------------------- the good surge

def test_surge_deploy_starts_every_replica_at_once_and_loses_no_request(service, demo_images, lb_image):
    _start(service, 4)
    before = service.snapshot()
    result, load, _returned = _under_load(
        service, lb_image, lambda: _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=4))

    assert result["status"] == "ok", result["summary"]
    assert result["changed"] is True and result["rolled_back"] is False
    assert result["plan"]["mode"] == "surge" and result["plan"]["max_surge"] == 4
    assert result["plan"]["batches"] == [sorted(before)]              # one wave of four
    assert len(result["replaced"]) == 4
    replicas = next(c for c in result["checks"] if c["name"] == "rollout.api.replicas")
    assert replicas["value"]["before"] == 4 and replicas["value"]["after"] == 4
    assert _consistent(service, 4) == {demo_images["v2"]}
    after = service.snapshot()
    assert all(after[n]["id"] != before[n]["id"] for n in after)
    # The four gates ran together: the slowest one is not the sum of the others.
    gates = sorted(v for k, v in result["metrics"].items() if k.startswith("rollout_gate_seconds"))
    assert len(gates) == 4 and gates[-1] < sum(gates), gates

    assert len(load.outcomes) > 50, len(load.outcomes)
    assert load.failed == [], load.failed[:5]
    assert load.outcomes[-1]["body"].startswith("demo v2")
    assert _served(load) == {"v1", "v2"}


def test_surge_in_waves_smaller_than_the_service(service, demo_images, lb_image):
    _start(service, 3)
    before = service.snapshot()
    result, load, _returned = _under_load(
        service, lb_image, lambda: _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=2, batch_size=3))
    assert result["status"] == "ok", result["summary"]
    assert result["plan"]["batches"] == [sorted(before)[:2], sorted(before)[2:]]   # max_surge, not batch_size
    assert _consistent(service, 3) == {demo_images["v2"]}
    assert load.failed == [], load.failed[:5]


# --------------------------------------------------------------------------- a failing gate

def test_surge_with_a_failing_gate_never_touches_the_old_replicas(service, demo_images, lb_image):
    _start(service, 4, "v2")
    before = service.snapshot()
    started = time.monotonic()
    result, load, returned = _under_load(
        service, lb_image, lambda: _rollout(service, image="%s:v3" % APP_IMAGE, max_surge=4))
    assert result["status"] == "critical" and result["rolled_back"] is True, result["summary"]
    assert result["replaced"] == []
    by_name = {c["name"]: c for c in result["checks"]}
    assert "unhealthy" in by_name["rollout.api.deploy"]["message"]
    assert by_name["rollout.api.rollback"]["status"] == "ok"
    # The very same old containers, never stopped or recreated.
    assert service.snapshot() == before
    for container in service.replicas():
        assert container.attrs["RestartCount"] == 0
        assert container.attrs["State"]["StartedAt"] < container.attrs["State"]["FinishedAt"] or \
            container.attrs["State"]["FinishedAt"].startswith("0001-")
    assert _consistent(service, 4) == {demo_images["v2"]}
    assert not [c for c in service.client.containers.list(all=True, filters={"name": service.project})
                if "-next" in c.name]
    # The broken replicas never carried a request: none failed, only v2 answered.
    assert len(load.outcomes) > 50
    assert load.failed == [], load.failed[:5]
    assert _served(load) == {"v2"}
    # Removing a wave that never carried traffic is quick: no drain of the new replicas.
    rollback_seconds = result["metrics"]['rollout_duration_seconds{service="api"}'] - max(
        v for k, v in result["metrics"].items() if k.startswith("rollout_gate_seconds"))
    assert rollback_seconds < 10, rollback_seconds
    assert returned - started < 40


# --------------------------------------------------------------------------- check mode and --diff

def test_surge_check_mode_plans_what_the_real_run_does(service, demo_images):
    _start(service, 3)
    before = service.snapshot()
    plan = _rollout(service, check_mode=True, image="%s:v2" % APP_IMAGE, max_surge=5, _ansible_diff=True)
    assert service.snapshot() == before and _locks(service) == []
    assert plan["changed"] is True and plan["status"] == "ok"
    assert plan["plan"]["mode"] == "surge" and plan["plan"]["batches"] == [sorted(before)]
    messages = [c["message"] for c in plan["checks"] if c["name"].startswith("rollout.api.%s" % service.project)]
    assert len(messages) == 3 and all("surge wave 1 (max_surge 5)" in m for m in messages), messages
    v1, v2 = demo_images["v1"].split(":")[1][:12], demo_images["v2"].split(":")[1][:12]
    assert plan["diff"]["before"].count(v1) == 3 and plan["diff"]["after"].count(v2) == 3, plan["diff"]
    assert "surge" in plan["diff"]["before_header"]

    real = _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=5, _ansible_diff=True)
    assert real["status"] == "ok", real["summary"]
    assert real["plan"]["batches"] == plan["plan"]["batches"]
    assert [e["name"] for e in real["plan"]["containers"]] == [e["name"] for e in plan["plan"]["containers"]]
    assert real["diff"] == plan["diff"]
    assert _consistent(service, 3) == {demo_images["v2"]}

    again = _rollout(service, check_mode=True, image="%s:v2" % APP_IMAGE, max_surge=5, _ansible_diff=True)
    assert again["changed"] is False and "diff" not in again


def test_surge_needs_start_first_and_falls_back_when_a_port_is_fixed(service, demo_images):
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=2, order="stop-first")
    assert "max_surge" in info.value.result["msg"] and "start-first" in info.value.result["msg"]
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=-1)
    assert "max_surge" in info.value.result["msg"]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service.start_replica(1, "%s:v1" % APP_IMAGE, ports={"8000/tcp": ("127.0.0.1", port)})
    service.wait_healthy(1)
    result = _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=2)
    assert result["status"] == "ok", result["summary"]
    assert result["order"] == "stop-first" and result["plan"]["mode"] == "rolling"
    surge = next(c for c in result["checks"] if c["name"] == "rollout.api.surge")
    assert "surge is impossible" in surge["message"], surge


# --------------------------------------------------------------------------- a replica killed mid-surge

@pytest.mark.parametrize("when", ["before-its-gate", "after-its-gate"])
def test_a_replica_killed_mid_surge_is_replaced_or_the_old_ones_stay(service, demo_images, lb_image, when):
    _start(service, 4)
    before = service.snapshot()
    target = "%s-api-2-next" % service.project
    killed: List[str] = []

    def kill_new_replica():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                found = [c for c in service.client.containers.list(filters={"name": target}) if c.name == target]
                if found:
                    endpoint = found[0].attrs["NetworkSettings"]["Networks"].get(service.network.name) or {}
                    joined = "demo" in (endpoint.get("Aliases") or [])      # passed its gate, in service
                    if when == "before-its-gate" or joined:
                        found[0].kill()
                        killed.append(found[0].id)
                        return
            except docker.errors.APIError:
                pass
            time.sleep(0.02)

    killer = threading.Thread(target=kill_new_replica)
    killer.start()

    def deploy():
        try:
            return _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=4)
        except ModuleFailed as exc:
            return exc.result
    try:
        result, load, _returned = _under_load(service, lb_image, deploy)
    finally:
        killer.join(timeout=70)
    assert killed, "the test never saw the new replica"
    print("killed %s: %s; %d of %d requests failed" % (when, result["summary"], len(load.failed), len(load.outcomes)))
    if result["status"] == "ok":
        replicas = next(c for c in result["checks"] if c["name"] == "rollout.api.replicas")
        assert replicas["value"]["before"] == 4 and replicas["value"]["after"] == 4
        assert _consistent(service, 4) == {demo_images["v2"]}
    else:
        assert result["rolled_back"] is True, result["summary"]
        assert _consistent(service, 4) == {demo_images["v1"]}
        if when == "before-its-gate":
            assert service.snapshot() == before          # the old replicas were never touched
    assert killed[0] not in {c.id for c in _all(service)}
    if when == "after-its-gate":
        assert result["status"] == "ok", result["summary"]      # replaced, as a Deployment controller would
        replicas = next(c for c in result["checks"] if c["name"] == "rollout.api.replicas")
        assert "replaced %s-api-2" % service.project in replicas["message"], replicas
    # A replica killed before it joined the aliases carried no request.
    if when == "before-its-gate":
        assert load.failed == [], load.failed[:5]


# --------------------------------------------------------------------------- the lock, deploy.yml

def test_surge_holds_the_engine_lock(service, demo_images):
    _start(service, 2)
    seen: List[int] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                seen.append(len(_locks(service)))
            except docker.errors.NotFound:      # a lock removed between the list and its inspect
                pass
            time.sleep(0.05)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        holder: List[Dict[str, Any]] = []
        first = threading.Thread(target=lambda: holder.append(
            _rollout(service, image="%s:v2" % APP_IMAGE, max_surge=2, monitor_seconds=3)))
        first.start()
        deadline = time.monotonic() + 20
        while not _locks(service) and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(ModuleFailed) as info:
            _rollout(service, image="%s:v1" % APP_IMAGE, max_surge=2)
        assert "deploy of api in progress since" in info.value.result["msg"]
        first.join(timeout=120)
    finally:
        done.set()
        watcher.join()
    assert max(seen) == 1
    assert holder and holder[0]["status"] == "ok", holder
    assert _consistent(service, 2) == {demo_images["v2"]}


def _playbook(service: Service, name: str, extra: Dict[str, Any], *args: str):
    extra_file = service.tmp / ("%s-vars.json" % name)
    extra_file.write_text(json.dumps(extra))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(service.tmp / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/%s.yml" % name,
                           "-e", "@%s" % extra_file, *args], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_deploy_playbook_surge_check_diff_then_real_then_rollback_twice(service, demo_images):
    """deploy.yml with deploy_max_surge: --check --diff shows the plan and changes nothing, the real
    run replaces every replica at once; rollback.yml twice toggles between the last two versions and
    rollback_version names an explicit target."""
    _start(service, 2)
    before = service.snapshot()
    gate = {"url": "http://{ip}:8000/health", "network": service.network.name}
    extra = {"deploy_project": service.project, "deploy_version": "v2", "deploy_max_surge": 2,
             "deploy_services": {"api": {"service": "api", "repository": APP_IMAGE, "http_gate": gate}},
             "deploy_gate_timeout": 30, "deploy_monitor_seconds": 0,
             "deploy_pre_checks": [], "deploy_post_checks": []}
    dry = _playbook(service, "deploy", extra, "--check", "--diff")
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "surge wave 1 (max_surge 2)" in dry.stdout or "replicas (surge, max_surge 2)" in dry.stdout, dry.stdout[-3000:]
    assert "replicas (surge, max_surge 2)" in dry.stdout, dry.stdout[-3000:]
    assert service.snapshot() == before

    real = _playbook(service, "deploy", extra)
    assert real.returncode == 0, real.stdout[-3000:]
    assert _consistent(service, 2) == {demo_images["v2"]}

    def images():
        return {c.attrs["Image"] for c in service.replicas()}
    back = _playbook(service, "rollback", extra)
    assert back.returncode == 0, back.stdout[-3000:]
    assert images() == {demo_images["v1"]}
    again = _playbook(service, "rollback", extra)            # twice in a row: toggles back
    assert again.returncode == 0, again.stdout[-3000:]
    assert images() == {demo_images["v2"]}
    explicit = _playbook(service, "rollback", dict(extra, rollback_version="v1"))
    assert explicit.returncode == 0, explicit.stdout[-3000:]
    assert _consistent(service, 2) == {demo_images["v1"]}
