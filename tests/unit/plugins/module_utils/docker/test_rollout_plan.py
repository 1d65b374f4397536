"""Pure decisions of runbook.ops rolling deploys, on recorded ``docker inspect`` shapes."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.docker import rollout_plan

V1 = "sha256:" + "1" * 64
V2 = "sha256:" + "2" * 64

IMAGE_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/bin", "APP_VERSION=v1", "APP_PORT=8000"],
    "Cmd": ["python3", "-u", "/app/app.py"],
    "Entrypoint": None,
    "WorkingDir": "",
    "Healthcheck": {"Test": ["CMD", "curl", "-f", "http://127.0.0.1:8000/health"], "Interval": 1000000000},
    "Labels": {"org.opencontainers.image.version": "v1"},
    "ExposedPorts": {"8000/tcp": {}},
    "Volumes": None,
}


def attrs(name="proj-api-1", cid="abcdef0123456789" * 4, image=V1, ref="demo:v1", ports=None, network="proj_default",
          aliases=None, ipam=None, extra_networks=None, labels=None, health=None, running=True, **state):
    cfg = copy.deepcopy(IMAGE_CONFIG)
    cfg.update({
        "Hostname": cid[:12],
        "Image": ref,
        "Env": cfg["Env"] + ["CUSTOM=keep"],
        "Labels": dict(cfg["Labels"], **(labels or {
            "com.docker.compose.project": "proj", "com.docker.compose.service": "api"})),
        "AttachStdout": False,
        "Tty": False,
    })
    networks = {network: {"Aliases": aliases if aliases is not None else [cid[:12], "api", "demo"],
                          "IPAMConfig": ipam, "IPAddress": "172.20.0.5", "Links": None, "DriverOpts": None}}
    for extra in extra_networks or []:
        networks[extra] = {"Aliases": [cid[:12], "api-internal"], "IPAMConfig": None, "IPAddress": "172.21.0.9"}
    st = {"Status": "running" if running else "exited", "Running": running, "Restarting": False, "ExitCode": 0}
    if health:
        st["Health"] = health
    st.update(state)
    return {
        "Id": cid,
        "Name": "/" + name,
        "Image": image,
        "Config": cfg,
        "State": st,
        "HostConfig": {"NetworkMode": network, "PortBindings": ports or {},
                       "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
                       "Binds": ["/srv/data:/data:ro"]},
        "NetworkSettings": {"Networks": networks},
    }


# --------------------------------------------------------------------------- selection and plan

def test_selector_labels_from_compose_names_and_labels():
    assert rollout_plan.selector_labels("proj", "api", ["tier=web"]) == [
        "com.docker.compose.project=proj", "com.docker.compose.service=api", "tier=web"]
    assert rollout_plan.selector_labels(None, None, ["app"]) == ["app"]
    with pytest.raises(rollout_plan.RolloutError, match="project/service"):
        rollout_plan.selector_labels(None, None, [])
    with pytest.raises(rollout_plan.RolloutError, match="needs a key"):
        rollout_plan.selector_labels(None, None, ["=x"])


def test_subject_name():
    assert rollout_plan.subject_name("p", "api", []) == "api"
    assert rollout_plan.subject_name(None, None, ["app=web app"]) == "web_app"
    assert rollout_plan.subject_name(None, None, ["tier"]) == "tier"


def test_one_off_containers_are_not_members():
    assert rollout_plan.is_member(attrs())
    assert not rollout_plan.is_member(attrs(labels={"com.docker.compose.oneoff": "True"}))


def test_leftover_next_containers_are_not_members():
    real, left, alone = attrs(name="p-api-1"), attrs(name="p-api-1-next"), attrs(name="p-web-next")
    members, leftovers = rollout_plan.split_leftovers([real, left, alone])
    assert [rollout_plan.container_name(a) for a in members] == ["p-api-1", "p-web-next"]
    assert leftovers == [left]


def test_plan_batches():
    assert rollout_plan.plan_batches(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert rollout_plan.plan_batches(["a"], 5) == [["a"]]
    with pytest.raises(rollout_plan.RolloutError):
        rollout_plan.plan_batches(["a"], 0)


def test_fixed_host_ports_and_order_fallback():
    free = attrs(ports={"8000/tcp": [{"HostIp": "", "HostPort": ""}]})
    fixed = attrs(name="proj-api-2", ports={"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})
    assert rollout_plan.fixed_host_ports(free) == []
    assert rollout_plan.fixed_host_ports(fixed) == ["8000/tcp -> 127.0.0.1:8080"]
    assert rollout_plan.choose_order("start-first", [free]) == ("start-first", "")
    order, note = rollout_plan.choose_order("start-first", [free, fixed])
    assert order == "stop-first"
    assert "proj-api-2" in note and "127.0.0.1:8080" in note and "used stop-first" in note
    assert rollout_plan.choose_order("stop-first", [fixed]) == ("stop-first", "")
    with pytest.raises(rollout_plan.RolloutError):
        rollout_plan.choose_order("blue-green", [free])


def test_static_ip_and_host_network_force_stop_first():
    static = attrs(ipam={"IPv4Address": "172.20.0.50"})
    assert rollout_plan.static_addresses(static) == ["172.20.0.50 on proj_default"]
    assert rollout_plan.choose_order("start-first", [static])[0] == "stop-first"
    host = attrs()
    host["HostConfig"]["NetworkMode"] = "host"
    assert rollout_plan.choose_order("start-first", [host])[0] == "stop-first"


def test_build_plan_lists_containers_and_skips_those_already_on_target():
    members = [attrs(name="p-api-2", cid="b" * 64), attrs(name="p-api-1", cid="a" * 64),
               attrs(name="p-api-3", cid="c" * 64, image=V2, ref="demo:v2")]
    plan = rollout_plan.build_plan(members, V2, "demo:v2", 1, "start-first")
    assert [e["name"] for e in plan["containers"]] == ["p-api-1", "p-api-2", "p-api-3"]
    assert [e["action"] for e in plan["containers"]] == ["replace", "replace", "skip"]
    assert plan["containers"][0] == {"name": "p-api-1", "id": "a" * 64, "old_image_id": V1, "old_image": "demo:v1",
                                     "new_image_id": V2, "new_image": "demo:v2", "action": "replace"}
    assert plan["batches"] == [["p-api-1"], ["p-api-2"]]
    assert plan["order"] == "start-first"
    assert rollout_plan.build_plan(members[2:], V2, "demo:v2", 1, "start-first")["batches"] == []


# --------------------------------------------------------------------------- container spec

def test_spec_keeps_user_configuration_and_drops_what_the_old_image_set():
    spec = rollout_plan.container_spec(attrs(), IMAGE_CONFIG, "demo:v2", rollout_plan.previous_labels(attrs()))
    assert spec["Image"] == "demo:v2"
    assert spec["Env"] == ["CUSTOM=keep"]                       # APP_VERSION=v1 came from the image
    assert "Cmd" not in spec and "Healthcheck" not in spec      # image defaults: the new image's apply
    assert "ExposedPorts" not in spec and "Hostname" not in spec
    assert spec["Labels"] == {"com.docker.compose.project": "proj", "com.docker.compose.service": "api",
                              rollout_plan.PREVIOUS_IMAGE_LABEL: V1, rollout_plan.PREVIOUS_REF_LABEL: "demo:v1"}
    assert spec["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert spec["HostConfig"]["Binds"] == ["/srv/data:/data:ro"]
    assert spec["NetworkingConfig"] == {"EndpointsConfig": {"proj_default": {"Aliases": ["api", "demo"]}}}


def test_spec_keeps_overrides_of_image_defaults():
    custom = attrs()
    custom["Config"]["Cmd"] = ["python3", "/app/app.py", "--workers", "4"]
    custom["Config"]["Env"] = ["PATH=/usr/local/sbin:/usr/bin", "APP_VERSION=pinned", "APP_PORT=8000"]
    custom["Config"]["Healthcheck"] = {"Test": ["NONE"]}
    custom["Config"]["Hostname"] = "api-host"
    custom["Config"]["Labels"]["org.opencontainers.image.version"] = "overridden"
    spec = rollout_plan.container_spec(custom, IMAGE_CONFIG, V2)
    assert spec["Cmd"] == ["python3", "/app/app.py", "--workers", "4"]
    assert spec["Env"] == ["APP_VERSION=pinned"]
    assert spec["Healthcheck"] == {"Test": ["NONE"]}
    assert spec["Hostname"] == "api-host"
    assert spec["Labels"]["org.opencontainers.image.version"] == "overridden"


def test_spec_does_not_modify_the_inspected_attributes():
    original = attrs()
    frozen = copy.deepcopy(original)
    spec = rollout_plan.container_spec(original, IMAGE_CONFIG, V2, {"x": "y"})
    spec["HostConfig"]["Binds"].append("/tmp:/tmp")
    assert original == frozen


def test_network_plan_and_extra_networks():
    multi = attrs(extra_networks=["proj_backend"])
    assert rollout_plan.network_plan(multi) == ("proj_default", ["proj_backend"])
    assert rollout_plan.endpoint_config(multi, "proj_backend") == {"Aliases": ["api-internal"]}
    default = attrs(network="bridge")
    default["HostConfig"]["NetworkMode"] = "default"
    assert rollout_plan.network_plan(default) == ("bridge", [])
    assert rollout_plan.endpoint_config(default, "bridge") == {}           # no aliases on the default bridge
    shared = attrs()
    shared["HostConfig"]["NetworkMode"] = "container:abc"
    assert rollout_plan.network_plan(shared) == (None, [])
    assert "NetworkingConfig" not in rollout_plan.container_spec(shared, IMAGE_CONFIG, V2)


def test_aliases_can_be_left_for_after_the_gate():
    multi = attrs(extra_networks=["proj_backend"])
    assert rollout_plan.aliased_networks(multi) == ["proj_default", "proj_backend"]
    spec = rollout_plan.container_spec(multi, IMAGE_CONFIG, V2, aliases=False)
    assert spec["NetworkingConfig"] == {"EndpointsConfig": {"proj_default": {}}}
    assert rollout_plan.without_aliases({"Aliases": ["a"], "IPAMConfig": {"IPv4Address": "10.0.0.2"}}) == {
        "IPAMConfig": {"IPv4Address": "10.0.0.2"}}
    default = attrs(network="bridge")
    assert rollout_plan.aliased_networks(default) == []


def test_previous_image_from_labels():
    a = attrs(labels={rollout_plan.PREVIOUS_IMAGE_LABEL: V1, rollout_plan.PREVIOUS_REF_LABEL: "demo:v1"})
    b = attrs(name="p-2", labels={rollout_plan.PREVIOUS_IMAGE_LABEL: V1, rollout_plan.PREVIOUS_REF_LABEL: "demo:v1"})
    assert rollout_plan.previous_image([a, b]) == ({"id": V1, "ref": "demo:v1"}, "")
    found, why = rollout_plan.previous_image([a, attrs(name="p-3")])
    assert found is None and "no previous image recorded on p-3" in why
    c = attrs(name="p-4", labels={rollout_plan.PREVIOUS_IMAGE_LABEL: V2})
    found, why = rollout_plan.previous_image([a, c])
    assert found is None and "different previous images" in why


# --------------------------------------------------------------------------- gates

def test_render_url():
    a = attrs(extra_networks=["proj_backend"])
    assert rollout_plan.render_url("http://{ip}:8000/health", a, "proj_backend") == "http://172.21.0.9:8000/health"
    assert rollout_plan.render_url("http://{ip}:8000/health", a) == "http://172.20.0.5:8000/health"
    assert rollout_plan.render_url("http://{name}:8000/?id={id}", a) == "http://proj-api-1:8000/?id=abcdef012345"
    with pytest.raises(rollout_plan.RolloutError, match="unknown placeholder"):
        rollout_plan.render_url("http://{host}/", a)
    with pytest.raises(rollout_plan.RolloutError, match="no IP address on network other"):
        rollout_plan.render_url("http://{ip}/", a, "other")


def test_engine_verdict():
    assert rollout_plan.engine_verdict(attrs(health={"Status": "healthy"})) == (rollout_plan.PASS, "healthy")
    assert rollout_plan.engine_verdict(attrs(health={"Status": "starting"})) == (rollout_plan.WAIT, "health starting")
    verdict, why = rollout_plan.engine_verdict(attrs(health={"Status": "unhealthy", "FailingStreak": 2,
                                                             "Log": [{"ExitCode": 22, "Output": "curl: (22) 500\n"}]}))
    assert verdict == rollout_plan.FAIL and "unhealthy (2 failing probes): curl: (22) 500" == why
    assert rollout_plan.engine_verdict(attrs()) == (rollout_plan.PASS, "running (no HEALTHCHECK)")
    assert rollout_plan.engine_verdict(attrs(health={"Status": "starting"}), wait_health=False) == (rollout_plan.PASS, "running")
    verdict, why = rollout_plan.engine_verdict(attrs(running=False, ExitCode=3, OOMKilled=True))
    assert verdict == rollout_plan.FAIL and why == "not running: exited with code 3 (OOM killed)"
    assert rollout_plan.engine_verdict(attrs(Restarting=True, ExitCode=1))[0] == rollout_plan.FAIL


def test_gate_verdict_combines_engine_and_http():
    assert rollout_plan.gate_verdict((rollout_plan.PASS, "healthy"), None) == (rollout_plan.PASS, "healthy")
    assert rollout_plan.gate_verdict((rollout_plan.PASS, "healthy"), (True, "HTTP 200")) == (rollout_plan.PASS, "healthy, HTTP 200")
    assert rollout_plan.gate_verdict((rollout_plan.PASS, "healthy"), (False, "HTTP 503")) == (rollout_plan.WAIT, "healthy, HTTP gate: HTTP 503")
    assert rollout_plan.gate_verdict((rollout_plan.FAIL, "unhealthy"), (True, "HTTP 200")) == (rollout_plan.FAIL, "unhealthy")
    assert rollout_plan.gate_verdict((rollout_plan.WAIT, "health starting"), None) == (rollout_plan.WAIT, "health starting")


def test_monitor_counts_failures_against_the_threshold():
    assert rollout_plan.probe_failure((rollout_plan.PASS, "healthy"), (True, "ok")) is None
    assert rollout_plan.probe_failure((rollout_plan.PASS, "healthy"), (False, "HTTP 500")) == "HTTP gate: HTTP 500"
    assert rollout_plan.probe_failure((rollout_plan.FAIL, "not running: exited"), None) == "not running: exited"
    assert rollout_plan.monitor_failed(1, 1) and not rollout_plan.monitor_failed(1, 2) and rollout_plan.monitor_failed(2, 2)
    assert rollout_plan.monitor_failed(1, 0)


# --------------------------------------------------------------------------- rollback

def test_rollback_targets_newest_first_and_what_to_restore():
    one, two = attrs(name="p-1", cid="a" * 64), attrs(name="p-2", cid="b" * 64)
    steps = [{"name": "p-1", "original": one, "new_id": "n1", "old_removed": True},
             {"name": "p-2", "original": two, "new_id": "n2", "old_removed": False}]
    targets = rollout_plan.rollback_targets(steps)
    assert [t["name"] for t in targets] == ["p-2", "p-1"]
    assert targets[0] == {"name": "p-2", "original": two, "remove_id": "n2", "restore": False, "image_id": V1,
                          "quiet": False}
    assert targets[1]["restore"] is True and targets[1]["remove_id"] == "n1"
    # Created without its aliases and never attached: it carried no request, removed without a drain.
    quiet = rollout_plan.rollback_targets([dict(steps[1], deferred=True)])[0]
    assert quiet["quiet"] is True
    assert rollout_plan.rollback_targets([dict(steps[1], deferred=True, attached=True)])[0]["quiet"] is False
    # stop-first: the old one is gone and the new one never got created.
    assert rollout_plan.rollback_targets([{"name": "p-1", "original": one, "new_id": None, "old_removed": True}])[0][
        "remove_id"] is None


def test_short_id():
    assert rollout_plan.short_id(V1) == "1" * 12
    assert rollout_plan.short_id(None) == ""


def test_gate_pause_waits_for_events_unless_an_http_gate_is_pending():
    # Waiting for the engine's events: up to the idle safety net, never past the deadline.
    assert rollout_plan.gate_pause(0.1, False, 30.0) == 1.0
    assert rollout_plan.gate_pause(0.1, False, 0.4) == 0.4
    # Healthy but the HTTP gate has not answered yet: no event announces that, so probe again soon.
    assert rollout_plan.gate_pause(0.1, True, 30.0) == 0.1
    assert rollout_plan.gate_pause(0.1, True, 0.05) == 0.05
    # A probe interval longer than the idle wait is kept; a passed deadline means no wait.
    assert rollout_plan.gate_pause(2.0, False, 30.0) == 2.0
    assert rollout_plan.gate_pause(0.1, False, -1.0) == 0.0


def test_http_gate_verdict():
    endpoint = {"status_codes": [200, 204], "body_regex": "ok"}
    assert rollout_plan.http_gate_verdict(endpoint, {"status_code": 200, "body": "all ok", "latency": 0.0123}) == \
        (True, "HTTP 200 in 0.012s")
    assert rollout_plan.http_gate_verdict(endpoint, {"status_code": 503, "body": "ok"}) == \
        (False, "HTTP 503, expected 200, 204")
    assert rollout_plan.http_gate_verdict(endpoint, {"status_code": 204, "body": "starting"}) == \
        (False, "HTTP 204, body does not match /ok/")
    assert rollout_plan.http_gate_verdict(endpoint, {"error_kind": "refused", "error": "connection refused"}) == \
        (False, "connection refused")
    assert rollout_plan.http_gate_verdict({}, {"status_code": 200, "latency": 1})[0] is True


def test_option_problem():
    base = {"batch_size": 1, "failure_threshold": 1, "gate_timeout": 60, "probe_interval": 0.1,
            "monitor_seconds": 0, "stop_timeout": 10, "project": None, "service": "api", "labels": None}
    assert rollout_plan.option_problem(base) is None
    assert rollout_plan.option_problem(dict(base, batch_size=0)) == "batch_size must be at least 1, got 0"
    assert rollout_plan.option_problem(dict(base, probe_interval=0)) == "probe_interval must be positive, got 0"
    assert rollout_plan.option_problem(dict(base, stop_timeout=-1)) == "stop_timeout must not be negative, got -1"
    assert "project/service" in rollout_plan.option_problem(dict(base, service=None, labels=[]))


@pytest.mark.parametrize("url", ["http://{ip.nonexistent_attribute}/", "http://{ip.__class__}/", "http://{0}/",
                                 "http://{ip!r}/", "http://{ip[0]}/", "http://{}/", "http://{ip:>99}/"])
def test_url_template_expands_only_the_documented_placeholders(url):
    """str.format would read attributes of user input ({ip.__class__}) or raise mid-rollout."""
    problem = rollout_plan.url_template_problem(url)
    assert problem and "http_gate.url" in problem and "unknown placeholder" in problem
    with pytest.raises(rollout_plan.RolloutError, match="http_gate.url"):
        rollout_plan.render_url(url, attrs())
    params = {"batch_size": 1, "failure_threshold": 1, "gate_timeout": 1, "probe_interval": 1, "monitor_seconds": 0,
              "stop_timeout": 1, "service": "api", "http_gate": {"url": url}}
    assert "http_gate.url" in rollout_plan.option_problem(params)


def test_url_template_leaves_other_text_alone():
    assert rollout_plan.url_template_problem("http://{ip}:8000/{name}/{id}/{network}") is None
    assert rollout_plan.render_url("http://{ip}:8000/x?{name}", attrs()) == "http://172.20.0.5:8000/x?proj-api-1"
