"""docker_rollout and deploy.yml under an adversarial operator (issue 12, rolling deploys).

Real engine, the demo stack's load balancer and load generator (demo_stack.py), as in
test_docker_rollout.py: two operators at once and ten seconds apart (two ansible-playbook
processes), a replica killed while a later batch runs, a replica that fails after its gate,
the final monitor period, ``--check`` of deploy.yml with a version check, a missing image,
hostile ``http_gate.url`` templates, and actions that could not be carried out.
"""

from __future__ import annotations

import json
import os
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
    project = "rbh%s" % uuid.uuid4().hex[:10]
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
    """Every container of the service, running or not (the -next ones too)."""
    return service.client.containers.list(all=True, filters={"label": service.labels})


def _locks(service: Service) -> List[Any]:
    """The lock containers of this test's service."""
    return [c for c in service.client.containers.list(all=True, filters={"label": LOCK_LABEL})
            if service.project in c.labels.get(LOCK_LABEL, "")]


def _consistent(service: Service, count: int) -> set:
    """All ``count`` replicas running, healthy, on one image; no -next container; no lock left."""
    containers = _all(service)
    names = sorted(c.name for c in containers)
    assert not [n for n in names if "-next" in n], names
    assert len(containers) == count, names
    assert all(c.status == "running" for c in containers), [(c.name, c.status) for c in containers]
    assert all(c.attrs["State"].get("Health", {}).get("Status") == "healthy" for c in containers)
    images = {c.attrs["Image"] for c in containers}
    assert len(images) == 1, images
    assert _locks(service) == []
    return images


def _playbook(service: Service, name: str, extra: Dict[str, Any], *args: str, tag: str = ""):
    command, kwargs = _playbook_command(service, name, extra, *args, tag=tag)
    return subprocess.Popen(*command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def _on_image(service: Service, name: str, image_id: str):
    """The container called exactly ``name`` when it runs ``image_id``, else None (polled by the
    threads that break a replica in the middle of a rollout: containers come and go meanwhile)."""
    try:
        for container in service.client.containers.list(filters={"name": name}):
            if container.name == name and container.attrs["Image"] == image_id:
                return container
    except docker.errors.NotFound:
        pass
    return None


def _playbook_command(service: Service, name: str, extra: Dict[str, Any], *args: str, tag: str = ""):
    extra_file = service.tmp / ("%s%s-vars.json" % (name, tag))
    extra_file.write_text(json.dumps(extra))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(service.tmp / ("reports-" + name + tag)), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    command = [str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/%s.yml" % name, "-e", "@%s" % extra_file,
               *args]
    return [command], dict(cwd=str(ROOT), env=env)


def _run_playbook(service: Service, name: str, extra: Dict[str, Any], *args: str):
    command, kwargs = _playbook_command(service, name, extra, *args)
    return subprocess.run(*command, capture_output=True, text=True, timeout=300, check=False, **kwargs)


def _deploy_vars(service: Service, version: str, **more) -> Dict[str, Any]:
    gate = {"url": "http://{ip}:8000/health", "network": service.network.name}
    extra = {
        "deploy_project": service.project,
        "deploy_version": version,
        "deploy_services": {"api": {"service": "api", "repository": APP_IMAGE, "http_gate": gate}},
        "deploy_gate_timeout": 30,
        "deploy_monitor_seconds": 1,
        "deploy_pre_checks": [],
        "deploy_post_checks": [],
    }
    extra.update(more)
    return extra


def _start(service: Service, count: int, version: str = "v1") -> None:
    for index in range(1, count + 1):
        service.start_replica(index, "%s:%s" % (APP_IMAGE, version))
    service.wait_healthy(count)


# --------------------------------------------------------------------------- 1. the lock

@pytest.mark.parametrize("apart", [0, 10], ids=["at-once", "ten-seconds-apart"])
def test_two_operators_one_refuses_and_the_service_stays_consistent(service, demo_images, apart):
    _start(service, 4)
    first = _playbook(service, "deploy", _deploy_vars(service, "v2", deploy_monitor_seconds=3), tag="a")
    if apart:
        time.sleep(apart)
    second = _playbook(service, "deploy", _deploy_vars(service, "v2", deploy_monitor_seconds=3), tag="b")
    out_first = first.communicate(timeout=300)[0]
    out_second = second.communicate(timeout=300)[0]
    codes = sorted([first.returncode, second.returncode])
    outputs = out_first + out_second
    # One refused cleanly (the engine-held lock); the other deployed.
    assert codes[0] == 0 and codes[1] != 0, (codes, out_first[-2500:], out_second[-2500:])
    refused = out_first if first.returncode else out_second
    assert "deploy of api in progress since" in refused and ", by " in refused, refused[-2500:]
    assert "Traceback" not in outputs
    assert "rollback incomplete" not in outputs
    assert _consistent(service, 4) == {demo_images["v2"]}


def test_a_held_lock_refuses_and_check_mode_reports_it(service, demo_images):
    _start(service, 1)
    before = service.snapshot()
    holder = threading.Thread(target=lambda: holder_result.append(
        _rollout(service, image="%s:v2" % APP_IMAGE, monitor_seconds=4)))
    holder_result: List[Dict[str, Any]] = []
    holder.start()
    try:
        deadline = time.monotonic() + 20
        while not _locks(service) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _locks(service), "the first run should hold the engine's lock"
        with pytest.raises(ModuleFailed) as info:
            _rollout(service, image="%s:v1" % APP_IMAGE)
        failed = info.value.result
        assert "deploy of api in progress since" in failed["msg"], failed["msg"]
        assert failed["status"] == "critical" and failed["checks"] and "metrics" in failed
        plan = _rollout(service, check_mode=True, image="%s:v2" % APP_IMAGE)
        lock_checks = [c for c in plan["checks"] if c["name"] == "rollout.api.lock"]
        assert lock_checks and "in progress since" in lock_checks[0]["message"], plan["checks"]
    finally:
        holder.join(timeout=120)
    assert holder_result and holder_result[0]["status"] == "ok", holder_result
    assert _consistent(service, 1) == {demo_images["v2"]}
    assert sorted(service.snapshot()) == sorted(before)


def _fake_lock(service: Service, since: float, timeout: float, owner: str):
    """A lock left by another controller (the lock container a run creates, made by hand)."""
    from ansible_collections.runbook.ops.plugins.module_utils.docker import lock_plan  # pylint: disable=import-outside-toplevel
    selector = lock_plan.selector_key(["com.docker.compose.project=%s" % service.project,
                                       "com.docker.compose.service=api"])
    return service.client.containers.create(
        "%s:v1" % APP_IMAGE, name=lock_plan.lock_name("api", selector), command=["true"],
        labels=lock_plan.lock_labels(selector, "api", owner, since, timeout))


def test_a_lock_held_by_another_controller_refuses_and_a_stale_one_is_taken_over(service, demo_images):
    _start(service, 1)
    before = service.snapshot()
    held = _fake_lock(service, time.time() - 5, 3600, "ops@awx-job-17 pid 4242")
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="%s:v2" % APP_IMAGE)
    assert "deploy of api in progress since" in info.value.result["msg"]
    assert "by ops@awx-job-17 pid 4242" in info.value.result["msg"]
    assert service.snapshot() == before
    assert [c.id for c in _locks(service)] == [held.id]       # not ours: left alone
    held.remove(force=True)

    _fake_lock(service, time.time() - 100, 10, "ops@dead-controller pid 1")
    result = _rollout(service, image="%s:v2" % APP_IMAGE)
    assert result["status"] == "ok", result["summary"]
    lock_checks = [c for c in result["checks"] if c["name"] == "rollout.api.lock"]
    assert lock_checks and "stale" in lock_checks[0]["message"] and "dead-controller" in lock_checks[0]["message"]
    assert _consistent(service, 1) == {demo_images["v2"]}


# --------------------------------------------------------------------------- 2. a lost replica

def test_a_replica_killed_during_a_later_batch_is_replaced_or_the_rollout_is_not_ok(service, demo_images):
    _start(service, 4)
    first_name = "%s-api-1" % service.project
    killed: List[str] = []

    def kill_updated_replica():
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            container = _on_image(service, first_name, demo_images["v2"])
            if container is not None:
                time.sleep(0.3)
                container.kill()
                killed.append(container.id)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_updated_replica)
    killer.start()
    try:
        result = _rollout(service, image="%s:v2" % APP_IMAGE)
    except ModuleFailed as exc:
        result = exc.result
    killer.join(timeout=10)
    assert killed, "the test never saw the updated replica"
    replicas = [c for c in result["checks"] if c["name"] == "rollout.api.replicas"]
    assert replicas, result["checks"]
    assert replicas[0]["value"]["before"] == 4
    if result["status"] == "ok":
        # Replaced, as a Deployment controller would: four healthy v2 replicas.
        assert replicas[0]["value"]["after"] == 4
        assert _consistent(service, 4) == {demo_images["v2"]}
    else:
        assert result["rolled_back"] is True, result["summary"]
        assert _consistent(service, 4) == {demo_images["v1"]}


# --------------------------------------------------------------------------- 3. a late failure

def test_a_replica_failing_after_its_gate_leaves_the_alias_at_once(service, demo_images, lb_image):
    _start(service, 4)
    lb = service.start_lb(lb_image)
    load = LoadGenerator(lb)
    broke: List[float] = []
    first_name = "%s-api-1" % service.project

    def break_updated_replica():
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            container = _on_image(service, first_name, demo_images["v2"])
            if container is not None:
                container.exec_run(["touch", "/tmp/broken"])
                broke.append(time.monotonic())
                return
            time.sleep(0.05)

    breaker = threading.Thread(target=break_updated_replica)
    load.start()
    try:
        time.sleep(0.5)
        breaker.start()
        result = _rollout(service, image="%s:v2" % APP_IMAGE, batch_size=2, monitor_seconds=5)
        returned = time.monotonic()
        time.sleep(1.0)
    finally:
        load.stop()
        breaker.join(timeout=10)
    assert broke, "the test never broke the updated replica"
    assert result["status"] == "critical" and result["rolled_back"] is True, result["summary"]
    assert _consistent(service, 4) == {demo_images["v1"]}
    failed = load.failed
    total = len(load.outcomes)
    print("late failure: %d of %d requests failed" % (len(failed), total))
    assert total > 50
    assert len(failed) <= 0.3 * total, (len(failed), total)
    assert all(o["at"] < returned for o in failed)
    # Out of the alias as soon as the monitor saw it fail, not after its replacement's gate.
    assert all(o["at"] < broke[0] + 1.0 for o in failed), [round(o["at"] - broke[0], 2) for o in failed]


# --------------------------------------------------------------------------- 6. the final monitor

def test_final_monitor_catches_a_failure_after_the_last_batch(service, demo_images):
    _start(service, 2)
    last_name = "%s-api-2" % service.project
    broke: List[float] = []

    def break_last_replica():
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            names = [n for c in service.client.containers.list(all=True, sparse=True, filters={"label": service.labels})
                     for n in c.attrs.get("Names") or []]
            container = _on_image(service, last_name, demo_images["v2"])
            if container is not None and not [n for n in names if n.endswith("-next")]:
                container.exec_run(["touch", "/tmp/broken"])
                broke.append(time.monotonic())
                return
            time.sleep(0.05)

    breaker = threading.Thread(target=break_last_replica)
    breaker.start()
    try:
        result = _rollout(service, image="%s:v2" % APP_IMAGE, final_monitor_seconds=4)
    finally:
        breaker.join(timeout=10)
    assert broke
    names = [c["name"] for c in result["checks"]]
    assert "rollout.api.monitor.final" in names, names
    assert result["status"] == "critical" and result["rolled_back"] is True, result["summary"]
    assert _consistent(service, 2) == {demo_images["v1"]}


# --------------------------------------------------------------------------- 7. the URL template

@pytest.mark.parametrize("url", ["http://{ip.nonexistent_attribute}:8000/health", "http://{ip.__class__}/",
                                 "http://{ip}:8000/{nope}", "http://{0}/", "http://{ip!r}/"])
def test_http_gate_url_expands_only_the_documented_placeholders(service, demo_images, url):
    _start(service, 1)
    before = service.snapshot()
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="%s:v2" % APP_IMAGE,
                 http_gate={"url": url, "network": service.network.name})
    assert "http_gate.url" in info.value.result["msg"], info.value.result["msg"]
    assert "Traceback" not in json.dumps(info.value.result)
    assert service.snapshot() == before
    assert [c.name for c in _all(service)] == sorted(before)


# --------------------------------------------------------------------------- 8. could not act

def test_missing_image_fails_the_task_keeping_the_result_schema(service, demo_images):
    _start(service, 1)
    before = service.snapshot()
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="runbook-ops/does-not-exist:%s" % uuid.uuid4().hex[:6])
    failed = info.value.result
    assert "not present on the engine" in failed["msg"]
    assert failed["status"] == "critical" and failed["checks"][0]["name"] == "rollout.api.image"
    assert "metrics" in failed and failed["changed"] is False
    assert service.snapshot() == before


def test_no_matching_container_fails_the_task(service, demo_images):
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="%s:v2" % APP_IMAGE)
    failed = info.value.result
    assert "no running container" in failed["msg"]
    assert failed["checks"][0]["name"] == "rollout.api.containers" and failed["severity"] == "P0"


def test_engine_unreachable_fails_the_task(tmp_path):
    with pytest.raises(ModuleFailed) as info:
        run_module("docker_rollout", {"docker_host": "unix://%s/missing.sock" % tmp_path,
                                      "project": "x", "service": "api", "image": "x:1"})
    failed = info.value.result
    assert failed["checks"][0]["name"] == "docker.engine" and failed["severity"] == "P0"
    assert "unreachable" in failed["msg"] or "no Docker socket" in failed["msg"]
    assert failed["plan"] is None and "metrics" in failed


# --------------------------------------------------------------------------- 4, 5. deploy.yml

def test_deploy_check_mode_succeeds_when_the_real_run_would(service, demo_images, lb_image):
    _start(service, 2)
    lb = service.start_lb(lb_image)
    before = service.snapshot()
    version_check = [{"name": "api_version", "url": "http://%s/health" % lb, "body_regex": '"version": "v2"'}]
    extra = _deploy_vars(service, "v2", deploy_post_checks=version_check)
    dry = _run_playbook(service, "deploy", extra, "--check")
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "would replace" in dry.stdout or "would verify" in dry.stdout, dry.stdout[-3000:]
    assert "would verify" in dry.stdout, dry.stdout[-3000:]
    assert service.snapshot() == before
    real = _run_playbook(service, "deploy", extra)
    assert real.returncode == 0, real.stdout[-3000:]


def test_failed_image_lookup_does_not_claim_a_rollback(service, demo_images):
    _start(service, 1)
    missing = _run_playbook(service, "deploy", _deploy_vars(service, "v404"))
    assert missing.returncode != 0
    assert "deploy of v404 failed" in missing.stdout, missing.stdout[-3000:]
    assert "not present on the engine" in missing.stdout
    assert "(rolled back: )" not in missing.stdout
