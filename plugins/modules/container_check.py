#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: container_check
short_description: State, HEALTHCHECK, restarts and log errors of Docker containers
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Selects containers by O(names) and/or O(labels) (for example C(com.docker.compose.project=finchat)) and,
    for each, reports
  - "C(container.<name>.state): running is ok, paused a warning, restarting critical; exited, dead or created
    (not running) is critical with severity P0, and the value carries the exit code, OOM flag and the last five
    log lines. A container named in O(names) that does not exist is critical P0 too."
  - "C(container.<name>.health) for running containers: the Docker HEALTHCHECK status; unhealthy is critical
    (with the last probe output), starting a warning, no HEALTHCHECK is ok."
  - "C(container.<name>.restarts): the restart count against O(restarts_warning) / O(restarts_critical) (at or
    above), and restart loops: critical while the engine is restarting the container, or when it restarted at
    least twice and the current run began less than O(restart_loop_seconds) ago."
  - "C(container.<name>.log_errors): log lines (stdout and stderr) of the last O(log_since_hours) hours that match
    O(log_pattern), like C(docker logs --since 24h | grep -c ERROR); more than O(log_errors_warning) is a warning."
  - When O(labels) match no container, the check C(containers.selected) is critical P0.
  - When the engine cannot be reached the result holds one critical P0 check C(docker.engine)
    (C(docker engine unreachable ...)); the task does not fail.
extends_documentation_fragment:
  - runbook.ops.docker
  - runbook.ops.attributes
options:
  names:
    description:
      - Names (or IDs) of containers that must exist.
      - At least one of O(names) and O(labels) is required.
    type: list
    elements: str
  labels:
    description:
      - Label selectors, C(key) or C(key=value); containers must carry all of them.
    type: list
    elements: str
  include_stopped:
    description:
      - Whether containers selected by O(labels) include stopped ones (which are then critical).
    type: bool
    default: true
  restarts_warning:
    description:
      - Warning when a container's restart count (since it was created) is at or above this.
    type: int
    default: 3
  restarts_critical:
    description:
      - Critical when the restart count is at or above this.
    type: int
    default: 10
  restart_loop_seconds:
    description:
      - A container that has restarted at least twice and whose current run began less than this many seconds ago
        is in a restart loop (critical).
    type: float
    default: 300
  check_logs:
    description:
      - Whether to count matching log lines (C(container.<name>.log_errors)).
    type: bool
    default: true
  log_pattern:
    description:
      - Python regular expression counted in the log lines.
    type: str
    default: ERROR
  log_ignore_case:
    description:
      - Match O(log_pattern) without regard to case.
    type: bool
    default: false
  log_since_hours:
    description:
      - Only log lines from the last this many hours count.
    type: float
    default: 24
  log_max_lines:
    description:
      - Read at most this many of the most recent log lines in the window per container; when reached, the message
        says so and the count is a lower bound.
    type: int
    default: 10000
  log_errors_warning:
    description:
      - Warning when more than this many lines match (the seeds' "more than 10 errors in 24 hours").
    type: int
    default: 10
  log_errors_critical:
    description:
      - Critical when more than this many lines match. Not set by default.
    type: int
  sample_lines:
    description:
      - How many of the most recent matching lines C(container.<name>.log_errors) returns in its value.
    type: int
    default: 5
attributes:
  check_mode:
    description: Runs the same read-only queries. C(changed) is always false.
    support: full
  diff_mode:
    description: Changes nothing, so there is nothing to show.
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health, runbook.ops.docker]
requirements:
  - Docker SDK for Python (C(docker)) on the host that runs the module.
notes:
  - Check mode runs the same read-only queries. C(changed) is always false.
seealso:
  - module: community.docker.docker_container_info
  - module: runbook.ops.log_check
"""

EXAMPLES = r"""
- name: Every container of the finchat Compose project, and the API that must exist
  runbook.ops.container_check:
    names: [finchat-api]
    labels:
      - com.docker.compose.project=finchat
  register: containers

- name: A remote engine over TLS, critical above 100 errors
  runbook.ops.container_check:
    docker_host: tcp://docker01.internal:2376
    validate_certs: true
    ca_path: /etc/docker/certs/ca.pem
    client_cert: /etc/docker/certs/cert.pem
    client_key: /etc/docker/certs/key.pem
    names: [finchat-api, finchat-webapp]
    log_errors_critical: 100
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: critical
severity:
  description: P0 when a container is missing or not running or the engine is unreachable, P1 for other critical
    checks, P2 for warnings, P3 when all is ok.
  returned: always
  type: str
  sample: P0
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "containers: container.finchat-api.state not running: exited with code 1 3m ago"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: >-
    C(container.<name>.state), C(.health) (running containers), C(.restarts) and C(.log_errors) per container;
    C(containers.selected) when labels match nothing; C(docker.engine) when the engine is unreachable.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: container.finchat-api.restarts
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was found.
      type: str
    value:
      description: >-
        state: C(status), C(running), C(exit_code), C(oom_killed), C(error), C(started_at), C(finished_at),
        C(restart_count), C(image), and C(last_logs) when not running; health: C(status), C(failing_streak),
        C(last_exit_code), C(last_output); restarts: C(restart_count), C(restart_policy), C(seconds_since_start);
        log_errors: C(count), C(pattern), C(since_hours), C(lines_read), C(capped), C(sample).
      type: dict
    threshold:
      description: The thresholds applied, when any.
      type: dict
metrics:
  description: >-
    C(docker_up), and per container C(container_up{container="..."}), C(container_restarts_total{...}) (a counter: Docker's restart count),
    C(container_healthy{...}) (running containers with a HEALTHCHECK) and C(container_log_errors{...}).
  returned: always
  type: dict
  sample: {"docker_up": 1.0, "container_up{container=\"finchat-api\"}": 1.0}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.docker import container_runner
from ansible_collections.runbook.ops.plugins.module_utils.docker.argspec import docker_argspec

OPTIONS = dict(
    names=dict(type="list", elements="str"),
    labels=dict(type="list", elements="str"),
    include_stopped=dict(type="bool", default=True),
    restarts_warning=dict(type="int", default=3),
    restarts_critical=dict(type="int", default=10),
    restart_loop_seconds=dict(type="float", default=300),
    check_logs=dict(type="bool", default=True),
    log_pattern=dict(type="str", default="ERROR"),
    log_ignore_case=dict(type="bool", default=False),
    log_since_hours=dict(type="float", default=24),
    log_max_lines=dict(type="int", default=10000),
    log_errors_warning=dict(type="int", default=10),
    log_errors_critical=dict(type="int"),
    sample_lines=dict(type="int", default=5),
)


def argspec():
    """The shared Docker options and rules, with this module's."""
    spec = docker_argspec()
    spec["argument_spec"].update(OPTIONS)
    spec["required_one_of"] = [["names", "labels"]]
    return spec


def main() -> None:
    module = AnsibleModule(supports_check_mode=True, **argspec())
    container_runner.run(module)


if __name__ == "__main__":
    main()
