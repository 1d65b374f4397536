# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a rolling deploy: batches, order, container specs, gates, rollback.

Nothing here talks to Docker: the functions take ``docker inspect`` attributes (plain
dicts) and return plain data, so that unit tests replay recorded attributes and
``rollout_runner`` and ``gate_runner`` only do the I/O.

A rollout replaces each selected container by a copy that differs only in its image:
``container_spec()`` keeps what the user configured (environment, mounts, networks and
their aliases, labels, published ports, restart policy, healthcheck, command) and drops
what the OLD image contributed (its ENV, CMD, HEALTHCHECK, labels ...), so that the new
image's own defaults apply.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import copy
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.docker.container_plan import container_name

START_FIRST = "start-first"
STOP_FIRST = "stop-first"
ORDERS = (START_FIRST, STOP_FIRST)

# Recorded on every container a rollout creates, so that a rollback needs no arguments.
PREVIOUS_IMAGE_LABEL = "runbook.ops.previous-image"          # image ID (sha256:...)
PREVIOUS_REF_LABEL = "runbook.ops.previous-image-ref"        # the reference it ran as (repo:tag)
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
# Name suffix of a start-first replacement until the old container is gone.
NEXT_SUFFIX = "-next"

PASS = "pass"
WAIT = "wait"
FAIL = "fail"

# Config keys copied only when they differ from the old image's own value.
_IMAGE_DEFAULTED = ("Cmd", "Entrypoint", "WorkingDir", "User", "StopSignal", "Healthcheck", "OnBuild",
                    "Shell", "ArgsEscaped")
# Config keys never sent back: they describe the running container, not its configuration.
_RUNTIME_ONLY = ("Image", "Hostname", "Domainname", "Env", "Labels", "ExposedPorts", "Volumes")


class RolloutError(ValueError):
    """Bad input for a rollout (no image, batch size below 1, a label selector without key)."""


# --------------------------------------------------------------------------- #
# Selection and plan
# --------------------------------------------------------------------------- #

def selector_labels(project: Optional[str], service: Optional[str], labels: Sequence[str]) -> List[str]:
    """Engine label filters (all must match) from the Compose names and/or ``key[=value]`` labels."""
    found: List[str] = []
    if project:
        found.append("%s=%s" % (COMPOSE_PROJECT, project))
    if service:
        found.append("%s=%s" % (COMPOSE_SERVICE, service))
    for label in labels or []:
        label = str(label).strip()
        if not label or not label.split("=", 1)[0].strip():
            raise RolloutError("label selector %r needs a key (key or key=value)" % label)
        found.append(label)
    if not found:
        raise RolloutError("select the containers with project/service (Compose labels) or labels")
    return found


def subject_name(project: Optional[str], service: Optional[str], labels: Sequence[str]) -> str:
    """A short stable name for check names: the service, else the first label's value or key."""
    if service:
        return _safe(service)
    if labels:
        key, _sep, value = str(labels[0]).partition("=")
        return _safe(value or key)
    return _safe(project or "service")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]+", "_", text).strip("_") or "service"


def is_member(attrs: Mapping[str, Any]) -> bool:
    """A container that a rollout replaces: not a Compose one-off (``run``) container."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return str(labels.get(COMPOSE_ONEOFF, "False")).lower() != "true"


def split_leftovers(members: Sequence[Mapping[str, Any]]) -> Tuple[List[Mapping[str, Any]], List[Mapping[str, Any]]]:
    """Separate ``<name>-next`` containers left by an interrupted start-first rollout (their
    ``<name>`` still exists) from the service's real members: ``(members, leftovers)``."""
    names = {container_name(a) for a in members}
    kept, leftovers = [], []
    for attrs in members:
        name = container_name(attrs)
        if name.endswith(NEXT_SUFFIX) and name[:-len(NEXT_SUFFIX)] in names:
            leftovers.append(attrs)
        else:
            kept.append(attrs)
    return kept, leftovers


def plan_batches(names: Sequence[str], batch_size: int) -> List[List[str]]:
    """Split ``names`` into consecutive batches of at most ``batch_size``."""
    if batch_size < 1:
        raise RolloutError("batch_size must be at least 1, got %s" % batch_size)
    names = list(names)
    return [names[i:i + batch_size] for i in range(0, len(names), batch_size)]


def fixed_host_ports(attrs: Mapping[str, Any]) -> List[str]:
    """Host ports a container binds explicitly (``8080/tcp -> 0.0.0.0:8080``), and ``host`` networking.

    Two containers cannot hold such a port at once, so start-first is impossible.
    """
    host_config = attrs.get("HostConfig") or {}
    found: List[str] = []
    if str(host_config.get("NetworkMode") or "") == "host":
        found.append("network_mode host")
    for port, bindings in sorted((host_config.get("PortBindings") or {}).items()):
        for binding in bindings or []:
            host_port = str((binding or {}).get("HostPort") or "")
            if host_port and host_port != "0":
                found.append("%s -> %s:%s" % (port, (binding or {}).get("HostIp") or "0.0.0.0", host_port))
    return found


def static_addresses(attrs: Mapping[str, Any]) -> List[str]:
    """Fixed IP addresses (``--ip``) on the container's networks: they cannot be held twice either."""
    found: List[str] = []
    for net, endpoint in sorted(((attrs.get("NetworkSettings") or {}).get("Networks") or {}).items()):
        ipam = (endpoint or {}).get("IPAMConfig") or {}
        for key in ("IPv4Address", "IPv6Address"):
            if ipam.get(key):
                found.append("%s on %s" % (ipam[key], net))
    return found


def choose_order(requested: str, members: Sequence[Mapping[str, Any]]) -> Tuple[str, str]:
    """The order to use and why: start-first falls back to stop-first when a fixed host port
    (or a fixed IP address, or host networking) is held by a container."""
    if requested not in ORDERS:
        raise RolloutError("order must be one of %s, got %r" % (", ".join(ORDERS), requested))
    if requested == STOP_FIRST:
        return STOP_FIRST, ""
    for attrs in members:
        held = fixed_host_ports(attrs) + static_addresses(attrs)
        if held:
            return STOP_FIRST, ("start-first is impossible: %s holds %s; used stop-first"
                                % (container_name(attrs), ", ".join(held)))
    return START_FIRST, ""


def short_id(image_id: Optional[str]) -> str:
    """``sha256:0123456789ab...`` -> ``0123456789ab``."""
    text = str(image_id or "")
    return text.split(":", 1)[-1][:12]


def build_plan(members: Sequence[Mapping[str, Any]], target_id: str, target_ref: str, batch_size: int,
               order: str, order_note: str = "") -> Dict[str, Any]:
    """What a rollout will do: containers in order, their current and new image, the batches.

    Containers already running ``target_id`` are listed as ``skip``.
    """
    ordered = sorted(members, key=container_name)
    entries = []
    todo: List[str] = []
    for attrs in ordered:
        name = container_name(attrs)
        current = str(attrs.get("Image") or "")
        action = "skip" if current == target_id else "replace"
        if action == "replace":
            todo.append(name)
        entries.append({
            "name": name,
            "id": str(attrs.get("Id") or ""),
            "old_image_id": current,
            "old_image": str((attrs.get("Config") or {}).get("Image") or ""),
            "new_image_id": target_id,
            "new_image": target_ref,
            "action": action,
        })
    return {
        "containers": entries,
        "batches": plan_batches(todo, batch_size) if todo else [],
        "order": order,
        "order_note": order_note,
        "image_id": target_id,
        "image": target_ref,
    }


# --------------------------------------------------------------------------- #
# The new container's configuration
# --------------------------------------------------------------------------- #

def user_env(container_env: Optional[Sequence[str]], image_env: Optional[Sequence[str]]) -> List[str]:
    """The container's environment minus what it inherited unchanged from its image."""
    inherited = set(image_env or [])
    return [item for item in container_env or [] if item not in inherited]


def user_labels(container_labels: Optional[Mapping[str, str]], image_labels: Optional[Mapping[str, str]]
                ) -> Dict[str, str]:
    """The container's labels minus those it inherited unchanged from its image."""
    image_labels = image_labels or {}
    return {k: v for k, v in (container_labels or {}).items() if image_labels.get(k, object()) != v}


def endpoint_config(attrs: Mapping[str, Any], network: str) -> Dict[str, Any]:
    """What to (re)connect a network with: aliases without the container's own short ID,
    fixed addresses, links and driver options."""
    endpoint = (((attrs.get("NetworkSettings") or {}).get("Networks") or {}).get(network)) or {}
    own = {str(attrs.get("Id") or "")[:12], str((attrs.get("Config") or {}).get("Hostname") or "")}
    config: Dict[str, Any] = {}
    aliases = [a for a in endpoint.get("Aliases") or [] if a and a not in own]
    if aliases and network not in ("bridge", "host", "none"):
        config["Aliases"] = aliases
    ipam = {k: v for k, v in (endpoint.get("IPAMConfig") or {}).items() if v}
    if ipam:
        config["IPAMConfig"] = ipam
    if endpoint.get("Links"):
        config["Links"] = list(endpoint["Links"])
    if endpoint.get("DriverOpts"):
        config["DriverOpts"] = dict(endpoint["DriverOpts"])
    return config


def network_plan(attrs: Mapping[str, Any]) -> Tuple[Optional[str], List[str]]:
    """The network to create the container on (its NetworkMode) and the others to connect before start.

    ``(None, [])`` for ``none``/``container:`` modes (nothing to connect).
    """
    mode = str((attrs.get("HostConfig") or {}).get("NetworkMode") or "default")
    networks = sorted(((attrs.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    if mode in ("none", "host") or mode.startswith("container:"):
        return None, []
    primary = "bridge" if mode == "default" else mode
    if primary not in networks and networks:
        primary = networks[0]
    return primary, [n for n in networks if n != primary]


def aliased_networks(attrs: Mapping[str, Any]) -> List[str]:
    """The networks on which the container carries aliases (what DNS-based load balancers follow)."""
    primary, others = network_plan(attrs)
    nets = ([primary] if primary else []) + others
    return [n for n in nets if endpoint_config(attrs, n).get("Aliases")]


def without_aliases(endpoint: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in endpoint.items() if k != "Aliases"}


def container_spec(attrs: Mapping[str, Any], image_config: Mapping[str, Any], image: str,
                   extra_labels: Optional[Mapping[str, str]] = None, aliases: bool = True) -> Dict[str, Any]:
    """The body of ``POST /containers/create`` for a copy of ``attrs`` that runs ``image``.

    ``image_config`` is the ``Config`` of the image the container runs now: whatever the
    container inherited from it unchanged is left out, so the new image's defaults apply.
    The primary network's endpoint goes into ``NetworkingConfig``; connect the others with
    ``endpoint_config()`` before starting. ``aliases=False`` leaves the network aliases out
    (attach them once the container passed its gate).
    """
    config = attrs.get("Config") or {}
    image_config = image_config or {}
    spec: Dict[str, Any] = {}
    for key, value in config.items():
        if key in _RUNTIME_ONLY:
            continue
        if key in _IMAGE_DEFAULTED and value == image_config.get(key):
            continue
        if value is None:
            continue
        spec[key] = copy.deepcopy(value)
    spec["Image"] = image
    hostname = config.get("Hostname")
    if hostname and hostname != str(attrs.get("Id") or "")[:12]:
        spec["Hostname"] = hostname
    if config.get("Domainname"):
        spec["Domainname"] = config["Domainname"]
    env = user_env(config.get("Env"), image_config.get("Env"))
    if env:
        spec["Env"] = env
    labels = user_labels(config.get("Labels"), image_config.get("Labels"))
    labels.update(extra_labels or {})
    spec["Labels"] = labels
    image_ports = set((image_config.get("ExposedPorts") or {}).keys())
    ports = {p: {} for p in (config.get("ExposedPorts") or {}) if p not in image_ports}
    if ports:
        spec["ExposedPorts"] = ports
    image_volumes = set((image_config.get("Volumes") or {}).keys())
    volumes = {v: {} for v in (config.get("Volumes") or {}) if v not in image_volumes}
    if volumes:
        spec["Volumes"] = volumes
    spec["HostConfig"] = copy.deepcopy(attrs.get("HostConfig") or {})
    primary, _others = network_plan(attrs)
    if primary is not None:
        endpoint = endpoint_config(attrs, primary)
        spec["NetworkingConfig"] = {"EndpointsConfig": {primary: endpoint if aliases else without_aliases(endpoint)}}
    return spec


def previous_labels(attrs: Mapping[str, Any]) -> Dict[str, str]:
    """The labels that record the version a container ran before being replaced."""
    return {
        PREVIOUS_IMAGE_LABEL: str(attrs.get("Image") or ""),
        PREVIOUS_REF_LABEL: str((attrs.get("Config") or {}).get("Image") or ""),
    }


def previous_image(members: Sequence[Mapping[str, Any]]) -> Tuple[Optional[Dict[str, str]], str]:
    """The version recorded on the containers by the last rollout: ``({"id", "ref"}, "")``,
    or ``(None, reason)`` when none is recorded or the containers disagree."""
    found: Dict[str, str] = {}
    missing = []
    for attrs in members:
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        image_id = labels.get(PREVIOUS_IMAGE_LABEL)
        if not image_id:
            missing.append(container_name(attrs))
            continue
        found[image_id] = labels.get(PREVIOUS_REF_LABEL) or image_id
    if missing:
        return None, ("no previous image recorded on %s (label %s): deployed without runbook.ops.docker_rollout?"
                      % (", ".join(sorted(missing)), PREVIOUS_IMAGE_LABEL))
    if len(found) != 1:
        return None, ("the containers record different previous images (%s): name the image to roll back to"
                      % ", ".join("%s (%s)" % (ref, short_id(i)) for i, ref in sorted(found.items())))
    image_id, ref = next(iter(found.items()))
    return {"id": image_id, "ref": ref}, ""


# --------------------------------------------------------------------------- #
# Gates
# --------------------------------------------------------------------------- #

def container_ip(attrs: Mapping[str, Any], network: Optional[str] = None) -> str:
    """The container's IPv4 address on ``network`` (default: the network it was created on, else
    the first one with an address)."""
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    if network:
        return str((networks.get(network) or {}).get("IPAddress") or "")
    primary = network_plan(attrs)[0]
    for name in ([primary] if primary in networks else []) + sorted(networks):
        address = (networks[name] or {}).get("IPAddress")
        if address:
            return str(address)
    return str((attrs.get("NetworkSettings") or {}).get("IPAddress") or "")


URL_PLACEHOLDERS = ("ip", "name", "id", "network")
# A replacement field as str.format would read it: {...} without nested braces.
_FIELD = re.compile(r"\{([^{}]*)\}")


def url_template_problem(template: str) -> Optional[str]:
    """What is wrong with an ``http_gate.url`` template, or None: only ``{ip}``, ``{name}``, ``{id}``
    and ``{network}`` are expanded; any other ``{...}`` (attribute access, indexes, conversions,
    positional fields) is refused before anything changes."""
    for field in _FIELD.findall(str(template)):
        if field not in URL_PLACEHOLDERS:
            return ("http_gate.url %r: unknown placeholder {%s} (only %s are expanded)"
                    % (template, field, ", ".join("{%s}" % p for p in URL_PLACEHOLDERS)))
    return None


def render_url(template: str, attrs: Mapping[str, Any], network: Optional[str] = None) -> str:
    """Fill ``{ip}``, ``{name}``, ``{id}`` and ``{network}`` of an HTTP gate URL for one container.

    Single braces, so that Jinja in a playbook leaves them alone. A plain substitution of those four
    names (never ``str.format``: no attribute access on user input). Raises RolloutError for any other
    placeholder or a container without an address.
    """
    problem = url_template_problem(template)
    if problem:
        raise RolloutError(problem)
    values = {"ip": container_ip(attrs, network), "name": container_name(attrs),
              "id": str(attrs.get("Id") or "")[:12], "network": network or ""}
    if "{ip}" in template and not values["ip"]:
        raise RolloutError("container %s has no IP address%s for the HTTP gate"
                           % (values["name"], " on network %s" % network if network else ""))
    return _FIELD.sub(lambda match: values[match.group(1)], template)


def engine_verdict(attrs: Mapping[str, Any], wait_health: bool = True) -> Tuple[str, str]:
    """The engine's view of a new container: PASS (running and healthy, or running without a
    HEALTHCHECK), WAIT (health starting) or FAIL (not running, restarting, unhealthy)."""
    state = attrs.get("State") or {}
    status = state.get("Status") or ("running" if state.get("Running") else "unknown")
    if state.get("Restarting") or status == "restarting":
        return FAIL, "restarting (exit code %s)" % state.get("ExitCode")
    if not state.get("Running"):
        detail = "%s with code %s" % (status, state.get("ExitCode"))
        if state.get("OOMKilled"):
            detail += " (OOM killed)"
        if state.get("Error"):
            detail += ": %s" % state["Error"]
        return FAIL, "not running: " + detail
    health = state.get("Health")
    if not wait_health or not health:
        return PASS, "running" + ("" if health or not wait_health else " (no HEALTHCHECK)")
    health_status = health.get("Status") or "none"
    if health_status == "healthy":
        return PASS, "healthy"
    if health_status == "unhealthy":
        log = health.get("Log") or []
        output = " ".join(str((log[-1] if log else {}).get("Output") or "").split())[:200]
        return FAIL, "unhealthy (%s failing probes)%s" % (health.get("FailingStreak", 0),
                                                          ": " + output if output else "")
    return WAIT, "health %s" % health_status


def gate_verdict(engine: Tuple[str, str], http: Optional[Tuple[bool, str]]) -> Tuple[str, str]:
    """Combine the engine's verdict with the HTTP gate's ``(passed, message)`` (None: no HTTP gate).

    While the gate is open a failing HTTP answer means "not ready yet" (WAIT); the engine's
    FAIL (exited, unhealthy) ends the gate at once.
    """
    verdict, why = engine
    if verdict != PASS:
        return verdict, why
    if http is None:
        return PASS, why
    passed, message = http
    if passed:
        return PASS, "%s, %s" % (why, message)
    return WAIT, "%s, HTTP gate: %s" % (why, message)


def http_gate_verdict(endpoint: Mapping[str, Any], outcome: Mapping[str, Any]) -> Tuple[bool, str]:
    """Judge one HTTP gate answer (an outcome of ``http.probe_runner.fetch``): ``(passed, message)``.

    It passes with one of the endpoint's ``status_codes`` and a body that matches ``body_regex``.
    """
    if outcome.get("error_kind"):
        return False, str(outcome.get("error") or outcome["error_kind"])
    code = outcome.get("status_code")
    expected = [int(c) for c in endpoint.get("status_codes") or [200]]
    if code not in expected:
        return False, "HTTP %s, expected %s" % (code, ", ".join(str(c) for c in expected))
    regex = endpoint.get("body_regex")
    if regex is not None and not re.search(regex, str(outcome.get("body") or ""), re.MULTILINE):
        return False, "HTTP %s, body does not match /%s/" % (code, regex)
    return True, "HTTP %s in %gs" % (code, round(float(outcome.get("latency") or 0.0), 3))


def gate_pause(interval: float, http_waiting: bool, remaining: float, idle: float = 1.0) -> float:
    """Seconds a gate waits for the engine's events before it probes again: ``interval`` while a
    healthy container has not yet answered its HTTP gate (no event announces that), else up to
    ``idle`` (a safety net: events wake it earlier), never past the deadline."""
    pause = interval if http_waiting else max(interval, idle)
    return max(0.0, min(pause, remaining))


def monitor_failed(failures: int, threshold: int) -> bool:
    """During the monitor period every probe that is not PASS counts; at ``threshold`` it fails."""
    return failures >= max(1, threshold)


def probe_failure(engine: Tuple[str, str], http: Optional[Tuple[bool, str]]) -> Optional[str]:
    """During monitoring: the reason a probe failed, or None when it passed."""
    verdict, why = engine
    if verdict != PASS:
        return why
    if http is not None and not http[0]:
        return "HTTP gate: %s" % http[1]
    return None


# --------------------------------------------------------------------------- #
# Rollback
# --------------------------------------------------------------------------- #

def rollback_targets(steps: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """What to restore after a failed gate, newest first.

    Each step is ``{"name", "original": attrs, "new_id": str|None, "old_removed": bool}``.
    A step whose old container still exists only needs its new container removed
    (``restore: False``); one whose old container is gone is recreated from its original
    configuration and image ID (``restore: True``).
    """
    out = []
    for step in reversed(list(steps)):
        out.append({
            "name": step["name"],
            "original": step["original"],
            "remove_id": step.get("new_id"),
            "restore": bool(step.get("old_removed")),
            # Never in the aliases (created without them, gate not passed): it carried no request.
            "quiet": bool(step.get("deferred")) and not step.get("attached"),
            "image_id": str(step["original"].get("Image") or ""),
        })
    return out


# --------------------------------------------------------------------------- #
# Options
# --------------------------------------------------------------------------- #

def option_problem(params: Mapping[str, Any]) -> Optional[str]:
    """What is wrong with the module's options beyond the rules its argspec declares, or None."""
    for key in ("batch_size", "failure_threshold"):
        if params[key] < 1:
            return "%s must be at least 1, got %s" % (key, params[key])
    for key in ("gate_timeout", "probe_interval"):
        if params[key] <= 0:
            return "%s must be positive, got %s" % (key, params[key])
    for key in ("monitor_seconds", "stop_timeout", "final_monitor_seconds", "lock_timeout"):
        if params.get(key) is not None and params[key] < 0:
            return "%s must not be negative, got %s" % (key, params[key])
    gate = params.get("http_gate") or {}
    if gate.get("url"):
        problem = url_template_problem(str(gate["url"]))
        if problem:
            return problem
    try:
        selector_labels(params.get("project"), params.get("service"), params.get("labels") or [])
    except RolloutError as exc:
        return str(exc)
    return None
