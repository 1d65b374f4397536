"""runbook.ops.docker_rollout against the real Docker engine.

The demo stack (demo_stack.py): Compose-labelled replicas of the demo app (v1 and v2 good,
v3 whose health check fails) on a user-defined bridge network, behind an nginx load
balancer that follows their shared network alias through Docker's embedded DNS, and a
load generator thread that sends requests to the load balancer throughout each deploy.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import docker
import pytest

from utils.run import ModuleFailed, run_module
from utils.demo_stack import (
    ALIAS,
    APP_IMAGE,
    TEST_LABEL,
    LoadGenerator,
    Service,
    build_demo_images,
    build_lb_image,
)
from utils.demo_stack import wait_for as _wait


@pytest.fixture(scope="session")
def client():
    api = docker.from_env(timeout=60)
    yield api
    api.close()


@pytest.fixture(scope="session")
def demo_images(client) -> Dict[str, str]:
    """The three demo tags: tag -> image ID."""
    return build_demo_images(client)


@pytest.fixture(scope="session")
def lb_image(client) -> str:
    return build_lb_image(client)


@pytest.fixture
def service(client, tmp_path):
    project = "rbt%s" % uuid.uuid4().hex[:10]
    network = client.networks.create("%s_default" % project, driver="bridge", labels={TEST_LABEL: "1"})
    svc = Service(client, project, network, tmp_path)
    try:
        yield svc
    finally:
        svc.remove_all()
        network.remove()


def _rollout(service: Service, check_mode: bool = False, **args):
    params = {"project": service.project, "service": "api", "gate_timeout": 30,
              "http_gate": {"url": "http://{ip}:8000/health", "network": service.network.name}}
    params.update(args)
    return run_module("docker_rollout", params, check_mode=check_mode)


def _versions(service: Service) -> List[str]:
    versions = []
    for container in service.replicas():
        env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
        versions.append(env["APP_VERSION"])
    return versions


def test_good_deploy_replaces_every_replica_without_a_failed_request(service, demo_images, lb_image):
    for index in range(1, 5):
        service.start_replica(index, "%s:v1" % APP_IMAGE)
    service.wait_healthy(4)
    before = service.snapshot()
    lb = service.start_lb(lb_image)
    load = LoadGenerator(lb)
    load.start()
    try:
        time.sleep(0.5)
        result = _rollout(service, image="%s:v2" % APP_IMAGE, monitor_seconds=1)
        time.sleep(1.0)
    finally:
        load.stop()

    assert result["status"] == "ok", result["summary"]
    assert result["changed"] is True and result["rolled_back"] is False
    assert result["order"] == "start-first"
    assert len(result["replaced"]) == 4
    assert result["previous_image"] == {"id": demo_images["v1"], "ref": "%s:v1" % APP_IMAGE}
    assert list(result["plan"]["batches"]) == [[n] for n in sorted(before)]
    names = [c["name"] for c in result["checks"]]
    assert ["rollout.api.%s" % n for n in sorted(before)] == [n for n in names if n.startswith("rollout.api.rbt")]
    assert "rollout.api.monitor.batch4" in names

    after = service.snapshot()
    assert sorted(after) == sorted(before)                       # same names
    assert all(after[n]["image"] == demo_images["v2"] for n in after)
    assert all(after[n]["id"] != before[n]["id"] for n in after)
    assert _versions(service) == ["v2"] * 4
    for container in service.replicas():
        attrs = container.attrs
        env = attrs["Config"]["Env"]
        assert "CUSTOM_SETTING=keep-me" in env and "APP_VERSION=v2" in env and "APP_VERSION=v1" not in env
        assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert any(m["Destination"] == "/data" and m["RW"] is False for m in attrs["Mounts"])
        assert {ALIAS, "api"} <= set(attrs["NetworkSettings"]["Networks"][service.network.name]["Aliases"])
        labels = attrs["Config"]["Labels"]
        assert labels["team"] == "payments" and labels["com.docker.compose.service"] == "api"
        assert labels["runbook.ops.previous-image"] == demo_images["v1"]
        assert labels["runbook.ops.previous-image-ref"] == "%s:v1" % APP_IMAGE
        assert labels["org.opencontainers.image.version"] == "v2"  # the new image's label, not the old one's

    assert len(load.outcomes) > 50, len(load.outcomes)
    assert load.failed == [], load.failed[:5]
    assert load.outcomes[-1]["body"].startswith("demo v2")
    seen = {o["body"].split()[1] for o in load.outcomes}
    assert seen == {"v1", "v2"}


@pytest.mark.parametrize("traffic_after_gate", [True, False], ids=["aliases-after-gate", "aliases-at-once"])
def test_broken_deploy_rolls_back_by_image_id_with_bounded_failures(
        service, demo_images, lb_image, traffic_after_gate):
    for index in range(1, 5):
        service.start_replica(index, "%s:v2" % APP_IMAGE)
    service.wait_healthy(4)
    before = service.snapshot()
    lb = service.start_lb(lb_image)
    load = LoadGenerator(lb)
    load.start()
    try:
        time.sleep(0.5)
        result = _rollout(service, image="%s:v3" % APP_IMAGE, traffic_after_gate=traffic_after_gate)
        returned = time.monotonic()
        time.sleep(1.5)
    finally:
        load.stop()

    assert result["status"] == "critical"
    assert result["rolled_back"] is True
    assert result["replaced"] == []
    assert result["changed"] is True
    by_name = {c["name"]: c for c in result["checks"]}
    assert by_name["rollout.api.deploy"]["status"] == "critical"
    assert "unhealthy" in by_name["rollout.api.deploy"]["message"]
    assert by_name["rollout.api.rollback"]["status"] == "ok"
    assert "rolled back" in by_name["rollout.api.rollback"]["message"]
    first = sorted(before)[0]
    assert by_name["rollout.api.%s" % first]["status"] == "critical"

    after = service.snapshot()
    assert sorted(after) == sorted(before)
    assert all(after[n]["image"] == demo_images["v2"] for n in after)   # back on v2, by image ID
    assert _versions(service) == ["v2"] * 4
    assert not service.client.containers.list(all=True, filters={"name": "%s-api-1-next" % service.project})

    total, failed = len(load.outcomes), load.failed
    print("broken deploy (traffic_after_gate=%s): %d of %d requests failed" % (traffic_after_gate, len(failed), total))
    assert total > 50
    assert {o["body"].split()[1] for o in load.outcomes if o["ok"]} == {"v2"}
    if traffic_after_gate:
        # The broken replica never joined the alias the load balancer follows: nothing failed.
        assert failed == [], failed[:5]
        return
    # With the alias at once, requests fail only while the broken replica is in the load
    # balancer's rotation (until its health check fails and the rollout removes it):
    # about one in five (four good replicas, one broken) for a few seconds; bounded, reported.
    assert failed, "the broken replica should have received traffic"
    assert all(o["status"] == 500 for o in failed)
    assert len(failed) <= 0.3 * total, (len(failed), total)
    assert all(o["at"] < returned for o in failed)
    assert all(o["ok"] for o in load.outcomes if o["at"] > returned)


def test_state_rolled_back_returns_to_the_previous_version(service, demo_images):
    for index in range(1, 4):
        service.start_replica(index, "%s:v1" % APP_IMAGE)
    service.wait_healthy(3)
    first = _rollout(service, image="%s:v2" % APP_IMAGE, batch_size=2)
    assert first["status"] == "ok", first["summary"]
    assert first["plan"]["batches"] == [sorted(service.snapshot())[:2], sorted(service.snapshot())[2:]]
    assert set(v["image"] for v in service.snapshot().values()) == {demo_images["v2"]}

    back = _rollout(service, state="rolled_back")
    assert back["status"] == "ok", back["summary"]
    assert back["image"] == {"id": demo_images["v1"], "ref": "%s:v1" % APP_IMAGE}
    assert back["previous_image"]["id"] == demo_images["v2"]
    assert set(v["image"] for v in service.snapshot().values()) == {demo_images["v1"]}
    assert _versions(service) == ["v1"] * 3
    # The rollback recorded v2 as the previous version: rolling back again returns to v2.
    labels = service.replicas()[0].attrs["Config"]["Labels"]
    assert labels["runbook.ops.previous-image"] == demo_images["v2"]

    again = _rollout(service, state="rolled_back", image="%s:v2" % APP_IMAGE, order="stop-first")
    assert again["status"] == "ok" and again["order"] == "stop-first"
    assert set(v["image"] for v in service.snapshot().values()) == {demo_images["v2"]}

    # Nothing to do: already there.
    same = _rollout(service, image="%s:v2" % APP_IMAGE)
    assert same["changed"] is False and same["status"] == "ok"
    assert "already run" in same["summary"] or same["checks"][0]["message"].startswith("all 3 containers already run")


def test_check_mode_returns_the_plan_and_changes_nothing(service, demo_images):
    for index in range(1, 4):
        service.start_replica(index, "%s:v1" % APP_IMAGE)
    service.wait_healthy(3)
    before = service.snapshot()
    result = _rollout(service, check_mode=True, image="%s:v2" % APP_IMAGE, batch_size=2)
    assert service.snapshot() == before
    assert result["changed"] is True and result["status"] == "ok"
    assert result["plan"]["order"] == "start-first"
    assert result["plan"]["batches"] == [sorted(before)[:2], sorted(before)[2:]]
    for entry in result["plan"]["containers"]:
        assert entry["id"] == before[entry["name"]]["id"]
        assert entry["old_image_id"] == demo_images["v1"]
        assert entry["new_image_id"] == demo_images["v2"]
        assert entry["action"] == "replace"
    assert all(c["message"].startswith("would replace") for c in result["checks"])
    assert sorted(c.name for c in service.client.containers.list(all=True, filters={"name": service.project})) == \
        sorted(before)


def test_leftover_of_an_interrupted_rollout_is_removed(service, demo_images):
    service.start_replica(1, "%s:v1" % APP_IMAGE)
    leftover = service.client.containers.run(
        "%s:v2" % APP_IMAGE, name="%s-api-1-next" % service.project, detach=True, network=service.network.name,
        labels={"com.docker.compose.project": service.project, "com.docker.compose.service": "api", TEST_LABEL: "1"})
    service.wait_healthy(2)
    plan = _rollout(service, check_mode=True, image="%s:v2" % APP_IMAGE)
    assert [e["name"] for e in plan["plan"]["containers"]] == ["%s-api-1" % service.project]
    assert any(c["name"] == "rollout.api.leftovers" and c["message"].startswith("would remove") for c in plan["checks"])
    result = _rollout(service, image="%s:v2" % APP_IMAGE)
    assert result["status"] == "ok", result["summary"]
    assert [c.name for c in service.replicas()] == ["%s-api-1" % service.project]
    assert service.replicas()[0].attrs["Image"] == demo_images["v2"]
    with pytest.raises(docker.errors.NotFound):
        service.client.containers.get(leftover.id)


def test_fixed_host_port_falls_back_to_stop_first(service, demo_images):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service.start_replica(1, "%s:v1" % APP_IMAGE, ports={"8000/tcp": ("127.0.0.1", port)})
    service.wait_healthy(1)
    gate = {"url": "http://127.0.0.1:%d/health" % port, "body_regex": '"version": "v2"'}
    result = _rollout(service, image="%s:v2" % APP_IMAGE, http_gate=gate)
    assert result["status"] == "ok", result["summary"]
    assert result["order"] == "stop-first"
    order_check = [c for c in result["checks"] if c["name"] == "rollout.api.order"][0]
    assert "start-first is impossible" in order_check["message"] and str(port) in order_check["message"]
    status, body = http.client.HTTPConnection("127.0.0.1", port, timeout=5), None
    status.request("GET", "/health")
    body = status.getresponse().read().decode()
    assert '"version": "v2"' in body


def test_no_matching_container_fails_with_a_critical_check(service, demo_images):
    # Nothing to act on: the task fails (issue 12), keeping the result schema.
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="%s:v2" % APP_IMAGE)
    result = info.value.result
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["checks"][0]["name"] == "rollout.api.containers"
    assert "no running container" in result["checks"][0]["message"]
    assert result["changed"] is False


def test_missing_image_fails_with_a_critical_check(service, demo_images):
    service.start_replica(1, "%s:v1" % APP_IMAGE)
    service.wait_healthy(1)
    before = service.snapshot()
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, image="runbook-ops/does-not-exist:%s" % uuid.uuid4().hex[:6])
    result = info.value.result
    assert result["status"] == "critical"
    assert "not present on the engine" in result["summary"] and "not present on the engine" in result["msg"]
    assert service.snapshot() == before


def test_rolled_back_without_a_recorded_version_fails_with_a_critical_check(service, demo_images):
    service.start_replica(1, "%s:v1" % APP_IMAGE)
    service.wait_healthy(1)
    with pytest.raises(ModuleFailed) as info:
        _rollout(service, state="rolled_back")
    result = info.value.result
    assert result["status"] == "critical"
    assert "no previous image recorded" in result["summary"]


def test_engine_unreachable_fails_with_a_p0_check_not_a_traceback(tmp_path):
    with pytest.raises(ModuleFailed) as info:
        run_module("docker_rollout", {"docker_host": "unix://%s/missing.sock" % tmp_path,
                                      "project": "x", "service": "api", "image": "x:1"})
    result = info.value.result
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["checks"][0]["name"] == "docker.engine"
    assert "unreachable" in result["checks"][0]["message"]
    assert result["changed"] is False and result["plan"] is None


def test_bad_input_fails_with_a_clear_message():
    with pytest.raises(ModuleFailed) as info:
        run_module("docker_rollout", {"image": "x:1"})
    assert "one of the following is required: project, service, labels" in info.value.result["msg"]
    with pytest.raises(ModuleFailed) as info:
        run_module("docker_rollout", {"image": "x:1", "labels": []})
    assert "project/service" in info.value.result["msg"]
    with pytest.raises(ModuleFailed) as info:
        run_module("docker_rollout", {"service": "api"})
    assert "state is present but all of the following are missing: image" in info.value.result["msg"]
    with pytest.raises(ModuleFailed) as info:
        run_module("docker_rollout", {"service": "api", "image": "x:1", "batch_size": 0})
    assert "batch_size" in info.value.result["msg"]


# --------------------------------------------------------------------------- playbooks

ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def _playbook(service: Service, name: str, extra: Dict[str, Any], *args: str):
    extra_file = service.tmp / ("%s-vars.json" % name)
    extra_file.write_text(json.dumps(extra))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(service.tmp / ("reports-" + name)), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/%s.yml" % name,
                           "-e", "@%s" % extra_file, *args], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_deploy_and_rollback_playbooks(service, demo_images, lb_image):
    """deploy.yml: pre-check, api then webapp with their gates, post-checks; a failing webapp
    gate rolls the webapp back (module) and the api too (rescue); rollback.yml goes back."""
    for index in range(1, 3):
        service.start_replica(index, "%s:v1" % APP_IMAGE)
    service.wait_healthy(2)
    lb = service.start_lb(lb_image)
    web = service.client.containers.run(
        "%s:v1" % APP_IMAGE, name="%s-webapp-1" % service.project, detach=True, network=service.network.name,
        labels={"com.docker.compose.project": service.project, "com.docker.compose.service": "webapp",
                TEST_LABEL: "1"})
    _wait(lambda: web.reload() or web.attrs["State"].get("Health", {}).get("Status") == "healthy",
          what="the webapp")
    gate = {"url": "http://{ip}:8000/health", "network": service.network.name}
    extra = {
        "deploy_project": service.project,
        "deploy_version": "v2",
        "deploy_services": {
            "api": {"service": "api", "repository": APP_IMAGE, "http_gate": gate},
            "webapp": {"service": "webapp", "repository": APP_IMAGE, "http_gate": gate},
        },
        "deploy_gate_timeout": 30,
        "deploy_monitor_seconds": 0,
        "deploy_pre_checks": [{"name": "api_health", "url": "http://%s/health" % lb}],
        "deploy_post_checks": [{"name": "api_health", "url": "http://%s/health" % lb},
                               {"name": "api_metrics", "url": "http://%s/metrics" % lb, "body_regex": "^demo_"}],
    }

    def images(svc_name):
        return {c.attrs["Image"] for c in service.client.containers.list(
            filters={"label": ["com.docker.compose.project=%s" % service.project,
                               "com.docker.compose.service=%s" % svc_name]})}

    before = {c.id for c in service.client.containers.list(filters={"label": "com.docker.compose.project=%s"
                                                                    % service.project})}
    dry = _playbook(service, "deploy", extra, "--check", "-v")
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "would replace" in dry.stdout
    assert {c.id for c in service.client.containers.list(filters={"label": "com.docker.compose.project=%s"
                                                                  % service.project})} == before

    good = _playbook(service, "deploy", extra)
    assert good.returncode == 0, good.stdout[-3000:]
    assert images("api") == {demo_images["v2"]} and images("webapp") == {demo_images["v2"]}

    back = _playbook(service, "rollback", extra)
    assert back.returncode == 0, back.stdout[-3000:]
    assert images("api") == {demo_images["v1"]} and images("webapp") == {demo_images["v1"]}

    # The webapp's gate cannot pass: the module rolls the webapp back, the rescue the api.
    broken = dict(extra, deploy_services=dict(extra["deploy_services"], webapp={
        "service": "webapp", "repository": APP_IMAGE, "gate_timeout": 3,
        "http_gate": dict(gate, body_regex="never-matches")}))
    failed = _playbook(service, "deploy", broken)
    assert failed.returncode != 0
    assert "deploy of v2 failed" in failed.stdout and "rolled back: api" in failed.stdout, failed.stdout[-3000:]
    assert images("api") == {demo_images["v1"]} and images("webapp") == {demo_images["v1"]}
