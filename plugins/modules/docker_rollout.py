#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: docker_rollout
short_description: Rolling replacement of a service's containers, gated by health, with automatic rollback
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Replaces the running containers of a service one batch at a time with copies that run another
    image, using the Docker SDK (not the Compose CLI).
  - Finds the containers by their Compose labels (O(project), O(service)) and/or a label selector (O(labels)).
    Compose one-off (C(run)) containers are left alone.
  - Each copy keeps the container's configuration (environment, mounts, networks with their aliases,
    labels, published ports, restart policy, healthcheck, command, name); only the image changes.
    What the container inherited unchanged from its old image (its ENV, CMD, HEALTHCHECK, labels)
    is left out, so the new image's own defaults apply. Anonymous volumes are not carried over.
  - With O(order=start-first) the new container starts next to the old one (named C(<name>-next)),
    passes its gate, then the old one is stopped and removed and the new one takes its name.
    Without a monitor period (O(monitor_seconds=0)) that last part runs in the background once the
    next batch is started, while it waits for its gates, so stopping old containers costs no time on the way;
    it is always complete before the next batch is put in service, before a rollback and when the module returns. A
    container that publishes a fixed host port, has a fixed IP address or uses host networking
    cannot run twice, so the module falls back to stop-first and says so in a C(rollout.<service>.order) check.
  - A rollout holds a per-service lock that the Docker engine itself keeps, so that two operators (two
    controllers, two AWX jobs) cannot deploy the same service at once. The lock is a small container,
    created and never started, named C(runbook-ops-lock-<service>-<hash of the selector>), whose labels
    C(runbook.ops.lock.owner), C(runbook.ops.lock.since) and C(runbook.ops.lock.timeout) say who holds
    it, since when and for how long at most. It is taken before any change and removed in every
    outcome (success, failure, an error, SIGTERM). A run that finds it held fails at once with
    C(deploy of <service> in progress since <time>, by <owner>) and changes nothing. A lock older
    than its O(lock_timeout) is stale (its run died with its controller) and is taken over; a
    C(rollout.<service>.lock) check says so. Check mode does not take it, and reports a held lock.
  - A C(<name>-next) container left by an interrupted rollout (while C(<name>) exists) is not a member of
    the service; it is removed, once the lock is held (so it cannot be another run's container in flight).
  - The gate of a new container waits for Docker's HEALTHCHECK to report healthy (or for the
    container to run, when its image has none) and, with O(http_gate), for an HTTP answer from the
    container itself. It follows the engine's event stream, so it notices the first
    C(healthy) status without polling. Exited, restarting or unhealthy fails the gate at once; otherwise it fails after O(gate_timeout).
  - After each batch the new containers are probed for O(monitor_seconds); O(failure_threshold)
    failed probes fail the rollout. O(final_monitor_seconds) probes every replica of the service once
    more after the last batch.
  - At the end every replica of the service must be running and healthy on the target image. One that
    died or turned unhealthy since its gate is replaced by a fresh copy (as a Deployment controller
    would), gated like the others; when that fails the rollout fails and is rolled back. The
    C(rollout.<service>.replicas) check counts the replicas before and after.
  - A container that fails (its gate, a monitor probe, the final replica check) is first disconnected
    from the networks where it carries the service's aliases, so that a load balancer that follows
    them stops sending it requests at once, then it is rolled back.
  - When a gate or the monitor fails, every replaced container is restored to its previous image
    B(by image ID) and its original configuration (O(rollback=true)). The result is critical with
    RV(rolled_back=true) and says what happened.
  - Every new container records the image it replaced (ID and reference) in the labels
    C(runbook.ops.previous-image) and C(runbook.ops.previous-image-ref), so O(state=rolled_back) goes
    back to it without arguments.
  - Images are never pulled. The image must be present on the engine (build it, or pull it with
    C(docker pull) or community.docker.docker_image beforehand).
  - In check mode the module returns the plan (containers, old and new image IDs, batches or surge waves,
    order, mode) and changes nothing. With C(--diff) it shows each replica's image before and after.
extends_documentation_fragment:
  - runbook.ops.docker
  - runbook.ops.attributes
options:
  state:
    description:
      - V(present) rolls the containers to O(image).
      - V(rolled_back) rolls them back to the image recorded in their C(runbook.ops.previous-image) label
        by the last rollout, or to O(image) when given.
    type: str
    choices: [present, rolled_back]
    default: present
  image:
    description:
      - The image to run, a reference (C(repo:tag)) or an image ID. Required with O(state=present).
    type: str
  project:
    description:
      - Compose project of the containers (label C(com.docker.compose.project)).
    type: str
  service:
    description:
      - Compose service of the containers (label C(com.docker.compose.service)).
    type: str
  labels:
    description:
      - Label selectors C(key) or C(key=value); a container must carry all of them (and O(project)/O(service) when given).
      - At least one of O(project), O(service), O(labels) is required.
    type: list
    elements: str
  batch_size:
    description:
      - How many containers are replaced at once.
    type: int
    default: 1
  max_surge:
    description:
      - Surge mode, as a Kubernetes Deployment's C(maxSurge) - how many new replicas run beside the old ones
        at once; V(0) (the default) rolls one batch (O(batch_size)) at a time instead.
      - The new replicas of a wave (up to O(max_surge), all of them when it is at least the number of
        replicas) are created and started at once, beside the old ones and without the service's network
        aliases. Each joins the aliases as soon as it passed its own gate. Once every gate of the wave passed
        (and O(drain_seconds) after the first one joined) the old ones stop together (SIGTERM,
        O(stop_timeout), each finishing its requests in flight and leaving the aliases as it exits) and are
        removed; the new ones take their names.
      - When a gate of the wave fails, its new replicas are removed (at once those that never carried a
        request) and its old ones were never touched; earlier waves are rolled back as in a rolling deploy.
      - O(batch_size) is not used. Needs O(order=start-first); a container that holds a fixed host port or
        address cannot run twice, so the rollout then falls back to stop-first one batch at a time and
        says so in a C(rollout.<service>.surge) check.
      - The deploy lock, the monitor periods and the final replica check work as in a rolling deploy.
    type: int
    default: 0
  drain_seconds:
    description:
      - Surge mode - each new replica joins the service's network aliases as soon as it passed its own gate;
        the old replicas keep serving until this many seconds after the first new one joined, then stop.
        Clients that cache Docker's DNS answers (nginx's C(resolver 127.0.0.11 valid=1s), HAProxy's
        C(hold valid)) then know a new address before the old ones go. Set it above their cache time (with
        nginx's C(valid=1s), 1 s lost requests in the tests, 2 s none).
      - The time overlaps the gates of the rest of the wave, so it costs nothing when they take longer.
    type: float
    default: 2
  order:
    description:
      - V(start-first) starts the new container before stopping the old one; V(stop-first) stops the old one first.
    type: str
    choices: [start-first, stop-first]
    default: start-first
  gate_timeout:
    description:
      - Seconds a new container has to pass its gate (healthy and HTTP gate).
    type: float
    default: 60
  monitor_seconds:
    description:
      - Seconds to keep probing the new containers after each batch; V(0) disables the monitor.
    type: float
    default: 0
  failure_threshold:
    description:
      - Failed probes during a monitor period that fail the rollout.
    type: int
    default: 1
  probe_interval:
    description:
      - Seconds between two probes of the monitor, and of a gate whose container is healthy but does not
        yet pass its HTTP gate (a probe is one container inspect, plus the HTTP gate request once the engine
        reports the container healthy).
      - Otherwise a gate waits for the engine's events about its containers (health status changes, exits)
        and probes as soon as one arrives, and at least every second; when the event stream is unavailable
        (an SSH engine) it probes every O(probe_interval).
    type: float
    default: 0.1
  final_monitor_seconds:
    description:
      - Seconds to keep probing every replica of the service (the new ones and those already on the
        target image) after the last batch; O(failure_threshold) failed probes fail the rollout and
        roll it back. V(0) disables it.
    type: float
    default: 0
  lock_timeout:
    description:
      - Seconds after which another run's deploy lock of this service is stale and taken over (its run
        is assumed dead). Keep it above the longest rollout.
    type: float
    default: 3600
  lock_owner:
    description:
      - Who holds the lock, shown to an operator who is refused (for example an AWX job URL).
      - Default C(<user>@<host> pid <pid>) of the process that runs the module.
    type: str
  wait_health:
    description:
      - Wait for Docker's HEALTHCHECK to report healthy. When false, a running container passes the engine part of the gate.
    type: bool
    default: true
  http_gate:
    description:
      - An HTTP request each new container must answer as expected, made from the host that runs the module.
    type: dict
    suboptions:
      url:
        description:
          - URL template; C({ip}) is the container's address on O(http_gate.network) (default the network it
            was created on),
            C({name}) its name, C({id}) its short ID, C({network}) the network. For example C(http://{ip}:8000/health).
          - Only these four placeholders are expanded, by plain substitution; any other C({...}) (an attribute
            such as C({ip.x}), an index, a conversion) is refused before anything changes.
        type: str
        required: true
      network:
        description:
          - Network whose address C({ip}) stands for.
        type: str
      status_codes:
        description:
          - Acceptable HTTP status codes.
        type: list
        elements: int
        default: [200]
      body_regex:
        description:
          - Regular expression the body must match.
        type: str
      timeout:
        description:
          - Seconds allowed for one request.
        type: float
        default: 2
      validate_certs:
        description:
          - Verify the TLS certificate of an C(https) URL.
        type: bool
        default: true
  traffic_after_gate:
    description:
      - Create each new container on its networks without its network aliases, and attach them (by
        reconnecting those networks, which gives the container a new address there) only once it passed
        its gate. A load balancer or client that finds the replicas through Docker's DNS and a shared alias
        (nginx or HAProxy with C(resolver 127.0.0.11), another service calling C(api)) then sends no
        request to a container before it is healthy, and none at all to a broken one.
      - Containers without aliases (on the default bridge) are not affected.
    type: bool
    default: true
  stop_timeout:
    description:
      - Seconds an old container has to stop after SIGTERM before it is killed.
    type: int
    default: 10
  rollback:
    description:
      - Restore the previous image automatically when a gate or the monitor fails.
    type: bool
    default: true
attributes:
  check_mode:
    description: Returns the plan (containers, old and new image IDs, batches, order) and changes nothing; it takes no lock and reports one held by another run.
    support: full
  diff_mode:
    description: One line per replica with its image before and after (what it would be in check mode).
    support: full
  action_group:
    support: full
    membership: [runbook.ops.docker]
notes:
  - The HTTP gate talks to the container's own address, so the module must run on the Docker host
    (or a host that routes to the container networks).
  - An action that could not be carried out fails the task, with the result schema (C(status), C(checks),
    C(metrics)) in the failed result - an unreachable engine (C(docker.engine), P0), no matching container
    (C(rollout.<service>.containers), P0), a missing image (C(rollout.<service>.image)), no recorded
    previous version, the lock held by another run (C(rollout.<service>.lock)). A deploy that ran and
    failed its gates returns a critical result (rolled back or not); M(runbook.ops.health_gate) fails on it.
seealso:
  - module: runbook.ops.http_check
"""

EXAMPLES = r"""
- name: Roll the API to v2, one container at a time, gated by health and an HTTP check
  runbook.ops.docker_rollout:
    project: finchat
    service: api
    image: finchat-sec-qa-api:2.0.0
    batch_size: 1
    gate_timeout: 60
    monitor_seconds: 10
    http_gate:
      url: "http://{ip}:8000/health"
      network: finchat_default
  register: api_rollout

- name: Stop the play when the deploy failed (it was rolled back)
  runbook.ops.health_gate:
    results: [api_rollout]

- name: Start all four new replicas at once beside the old ones, switch when every one passed its gate
  runbook.ops.docker_rollout:
    project: finchat
    service: api
    image: finchat-sec-qa-api:2.0.0
    max_surge: 4
    http_gate:
      url: "http://{ip}:8000/health"
      network: finchat_default

- name: Show the plan only
  runbook.ops.docker_rollout:
    labels: [app=webapp]
    image: finchat-sec-qa-webapp:2.0.0
  check_mode: true

- name: Roll back to the image recorded by the last rollout
  runbook.ops.docker_rollout:
    project: finchat
    service: api
    state: rolled_back
"""

RETURN = r"""
schema:
  description: Result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: Worst check status; V(critical) when the deploy failed (whether or not it was rolled back).
  returned: always
  type: str
  sample: ok
severity:
  description: P0 when the engine, the containers or the rollback are missing, P1 for a failed deploy, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "rollout api: 4 checks ok"
checks:
  description:
    - C(rollout.<service>.<container>) per container (replaced, would be replaced in check mode, or its gate failed),
      C(rollout.<service>.monitor.batch<N>) per batch with a monitor period, C(rollout.<service>.order) when
      start-first fell back to stop-first, C(rollout.<service>.deploy) and C(rollout.<service>.rollback) when
      a gate failed, C(rollout.<service>.image) when nothing needs replacing or the image is missing,
      C(rollout.<service>.containers) when no container matches, C(docker.engine) when the engine is unreachable,
      C(rollout.<service>.leftovers) when C(<name>-next) containers of an interrupted rollout were removed,
      C(rollout.<service>.lock) when the lock is held by another run (a warning in check mode) or a stale one
      was taken over, C(rollout.<service>.monitor.final) with O(final_monitor_seconds),
      C(rollout.<service>.replicas) after the last batch (replicas before and after),
      C(rollout.<service>.surge) when O(max_surge) was asked but surge is impossible.
  returned: always
  type: list
  elements: dict
metrics:
  description:
    - C(rollout_duration_seconds{service}), C(rollout_replaced{service}), C(rollout_rolled_back{service}),
      C(rollout_gate_seconds{container}) (seconds until each new container passed its gate),
      C(rollout_replicas_before{service}) and C(rollout_replicas_after{service}).
  returned: always
  type: dict
plan:
  description:
    - What the rollout does; null when the engine or the containers are missing.
    - C(containers) lists C(name), C(id), C(old_image_id), C(old_image), C(new_image_id), C(new_image) and
      C(action) (V(replace) or V(skip)); C(batches) lists container names per batch (per wave in surge
      mode); also C(order), C(order_note), C(image_id), C(image), C(mode) (V(rolling) or V(surge)) and
      C(max_surge) (the wave size in surge mode, else V(0)).
  returned: always
  type: dict
replaced:
  description: Containers replaced by a successful rollout (C(name), C(old_container_id), C(container_id), C(old_image_id), C(image_id)).
  returned: always
  type: list
  elements: dict
rolled_back:
  description: True when a failed gate led to an automatic rollback and every container was restored.
  returned: always
  type: bool
restored:
  description: One entry per container the automatic rollback touched (C(name), C(image_id), C(restored), C(error), C(container_id)).
  returned: when a rollback ran
  type: list
  elements: dict
previous_image:
  description: The image (C(id), C(ref)) the containers ran before this rollout; null when nothing was replaced.
  returned: always
  type: dict
image:
  description: The target image (C(id), C(ref)).
  returned: always
  type: dict
order:
  description: The order used (V(start-first) or V(stop-first)).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.docker import rollout_runner
from ansible_collections.runbook.ops.plugins.module_utils.docker.argspec import docker_argspec

OPTIONS = dict(
    state=dict(type="str", choices=["present", "rolled_back"], default="present"),
    image=dict(type="str"),
    project=dict(type="str"),
    service=dict(type="str"),
    labels=dict(type="list", elements="str"),
    batch_size=dict(type="int", default=1),
    max_surge=dict(type="int", default=0),
    drain_seconds=dict(type="float", default=2),
    order=dict(type="str", choices=["start-first", "stop-first"], default="start-first"),
    gate_timeout=dict(type="float", default=60),
    monitor_seconds=dict(type="float", default=0),
    final_monitor_seconds=dict(type="float", default=0),
    lock_timeout=dict(type="float", default=3600),
    lock_owner=dict(type="str"),
    failure_threshold=dict(type="int", default=1),
    probe_interval=dict(type="float", default=0.1),
    wait_health=dict(type="bool", default=True),
    http_gate=dict(type="dict", options=dict(
        url=dict(type="str", required=True),
        network=dict(type="str"),
        status_codes=dict(type="list", elements="int", default=[200]),
        body_regex=dict(type="str"),
        timeout=dict(type="float", default=2),
        validate_certs=dict(type="bool", default=True),
    )),
    traffic_after_gate=dict(type="bool", default=True),
    stop_timeout=dict(type="int", default=10),
    rollback=dict(type="bool", default=True),
)


def argspec():
    """The shared Docker options and rules, with this module's."""
    spec = docker_argspec()
    spec["argument_spec"].update(OPTIONS)
    spec["required_one_of"] = [["project", "service", "labels"]]
    spec["required_if"] = [["state", "present", ["image"]]]
    return spec


def main():
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec())
    rollout_runner.run(module)


if __name__ == "__main__":
    main()
