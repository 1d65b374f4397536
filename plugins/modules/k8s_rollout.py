#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: k8s_rollout
short_description: Roll a Kubernetes Deployment (image, env, restart, scale, undo), wait, gate by health, undo on failure
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Changes one Deployment (apps/v1) the way C(kubectl set image), C(set env), C(rollout restart), C(scale)
    and C(rollout undo) do, waits for the rollout like C(kubectl rollout status), then probes HTTP endpoints.
  - With O(state=present) every change given (O(images), O(env), O(env_remove), O(restart), O(replicas)) goes
    into one JSON patch, so the pod template changes once and the Deployment gets one new revision. Only what
    differs is patched; when the Deployment already matches nothing is sent and C(changed) is false.
    With none of them the module only waits for and reports the current rollout.
  - With O(state=rolled_back) the pod template of a former revision (O(revision), default the previous one) is
    copied from its ReplicaSet (annotation C(deployment.kubernetes.io/revision)) into the Deployment, without
    its C(pod-template-hash) label, as C(kubectl rollout undo) does.
  - The rollout is complete when the controller observed the new generation, all desired replicas are updated,
    no old replica is left and all updated replicas are available. It fails when the C(Progressing) condition
    has reason C(ProgressDeadlineExceeded) (the Deployment's C(progressDeadlineSeconds)), when O(wait_timeout)
    passes first, or when the Deployment is paused with the rollout unfinished.
  - After a complete rollout the O(http_gate) endpoints are probed until none is critical or the gate's timeout passes.
  - When the rollout or the gate fails and this task changed the Deployment, the change is undone (O(rollback=true))
    by restoring the pod template of the revision that was current before (from its ReplicaSet, else the template read
    before the change) and the former replica count; that rollout is waited for too.
    The result is critical with RV(rolled_back=true) and says what happened.
  - In check mode the patch is sent with the server-side dry run (C(dryRun=All)); the result shows the
    Deployment before and after (images, env, replicas, restartedAt) and nothing changes. A server that cannot
    dry-run (HTTP 405, 415 or 501) gets the patch applied locally instead, and C(dry_run) in RV(plan) says so.
extends_documentation_fragment:
  - runbook.ops.k8s
  - runbook.ops.attributes
options:
  name:
    description:
      - Name of the Deployment.
    type: str
    required: true
    aliases: [deployment]
  namespace:
    description:
      - Namespace of the Deployment.
    type: str
    default: default
  state:
    description:
      - V(present) applies O(images), O(env), O(env_remove), O(restart) and O(replicas) (any of them, or none
        to only wait for and report the rollout).
      - V(rolled_back) undoes to O(revision), or to the previous revision.
    type: str
    choices: [present, rolled_back]
    default: present
  images:
    description:
      - Images by container name (containers and init containers), as C(kubectl set image deployment/NAME CONTAINER=IMAGE).
    type: dict
  env:
    description:
      - Environment variables to set (name to value) in every container, or only in O(container),
        as C(kubectl set env). A variable taken from a secret or config map is replaced by the plain value.
    type: dict
  env_remove:
    description:
      - Names of environment variables to remove (C(kubectl set env NAME-)).
    type: list
    elements: str
  container:
    description:
      - Limit O(env) and O(env_remove) to this container.
    type: str
  restart:
    description:
      - Restart the pods by a rollout, as C(kubectl rollout restart) does (sets the pod-template annotation
        C(kubectl.kubernetes.io/restartedAt) to the current time). Always a change.
    type: bool
    default: false
  replicas:
    description:
      - Desired number of replicas (C(kubectl scale --replicas)).
    type: int
  revision:
    description:
      - With O(state=rolled_back), the revision to go back to (C(kubectl rollout undo --to-revision)).
        A revision that does not exist fails the task and lists those that do.
    type: int
  wait:
    description:
      - Wait for the rollout to complete (and run the gate). Without waiting there is no gate and no automatic undo.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the rollout (and again for an automatic undo); more than 0, at most 3600.
      - The wait ends early, failing the task, when the task that started the module is killed.
    type: float
    default: 300
  wait_sleep:
    description:
      - Seconds between two reads of the Deployment while waiting; more than 0, at most 3600.
    type: float
    default: 2
  http_gate:
    description:
      - HTTP endpoints that must answer as expected after the rollout. The entries take the options of
        M(runbook.ops.http_check)'s O(runbook.ops.http_check#module:endpoints) (C(url), C(name), C(status_codes),
        C(json_conditions), C(body_regex), C(headers), C(bearer_token), C(timeout), C(validate_certs), latency
        thresholds ...). A latency warning passes; anything critical fails the gate.
    type: dict
    suboptions:
      endpoints:
        description:
          - The endpoints, probed concurrently.
        type: list
        elements: dict
        required: true
      timeout:
        description:
          - Seconds the endpoints have to pass, probed again every O(http_gate.interval); at most 3600.
        type: float
        default: 60
      interval:
        description:
          - Seconds between two rounds of probes; at most 3600.
        type: float
        default: 2
  rollback:
    description:
      - Undo this task's change automatically when the rollout or the gate fails.
    type: bool
    default: true
attributes:
  check_mode:
    description: Sends the patch with the server-side dry run and returns the plan and the before/after summary; changes nothing.
    support: full
  diff_mode:
    description: Returns the Deployment's images, env, replicas, restartedAt and revision before and after.
    support: full
  action_group:
    support: full
    membership: [runbook.ops.kubernetes]
notes:
  - A rollout that could not be carried out fails the task, and the failed result keeps C(status), C(checks),
    C(metrics) and C(summary) - an API server that does not answer (critical C(k8s.api) check, P0), a missing
    Deployment (critical C(rollout.<name>.deployment) check, P0), a 401 or 403 answer (critical C(k8s.api) check),
    a paused Deployment or a refused change (in check mode, a refused dry run). So do invalid options, an unknown
    container, a revision that does not exist and a patch the API server rejects as invalid (400, 422).
  - A change that was made and then failed its wait or its gate does not fail the task - it is a critical
    C(rollout.<name>.deploy) check (undone or not), for the health gate to judge.
  - The automatic undo restores the revision that was current before this task, not the one before that, so it
    also undoes an O(state=rolled_back) that failed.
seealso:
  - module: runbook.ops.http_check
  - module: runbook.ops.docker_rollout
"""

EXAMPLES = r"""
- name: Roll the API to 2.0.0 and verify it; undo automatically on failure
  runbook.ops.k8s_rollout:
    name: api
    namespace: sec-analysis
    images:
      api: registry.example.com/sec-analysis/api:2.0.0
    wait_timeout: 600
    http_gate:
      endpoints:
        - name: api_health
          url: https://api.sec-analysis.example.com/health
          json_conditions:
            - {path: status, op: eq, value: healthy}
      timeout: 120
  register: api_rollout

- name: Stop the play when the rollout failed (it was undone)
  runbook.ops.health_gate:
    results: [api_rollout]

- name: kubectl rollout undo deployment/api (to the previous revision), then rollout status
  runbook.ops.k8s_rollout:
    name: api
    namespace: sec-analysis
    state: rolled_back

- name: kubectl rollout undo deployment/api --to-revision=3
  runbook.ops.k8s_rollout:
    name: api
    namespace: sec-analysis
    state: rolled_back
    revision: 3

- name: kubectl scale deployment/celery-worker --replicas=20
  runbook.ops.k8s_rollout:
    name: celery-worker
    namespace: sec-analysis
    replicas: 20

- name: kubectl set env deployment/celery-worker CELERY_WORKER_CONCURRENCY=8
  runbook.ops.k8s_rollout:
    name: celery-worker
    namespace: sec-analysis
    env:
      CELERY_WORKER_CONCURRENCY: "8"

- name: kubectl rollout restart deployment/celery-worker, through a kubeconfig context
  runbook.ops.k8s_rollout:
    name: celery-worker
    namespace: sec-analysis
    restart: true
    kubeconfig: ~/.kube/config
    context: prod

- name: What would the image change do? (server-side dry run)
  runbook.ops.k8s_rollout:
    name: api
    namespace: sec-analysis
    images:
      api: registry.example.com/sec-analysis/api:2.1.0
  check_mode: true
  diff: true
"""

RETURN = r"""
schema:
  description: Result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: Worst check status; V(critical) when the rollout or the gate failed (whether or not it was undone).
  returned: always
  type: str
  sample: ok
severity:
  description: P0 when the API server or the Deployment is missing or an automatic undo failed, P1 for a failed rollout, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "rollout api: 3 checks ok"
checks:
  description:
    - C(rollout.<name>.change) (what was or would be changed), C(rollout.<name>.status) (the rollout, with the
      replica counts in C(value)), C(http.<endpoint>) per gate endpoint, C(rollout.<name>.deploy) and
      C(rollout.<name>.rollback) when the rollout or gate failed, C(rollout.<name>.deployment) when the
      Deployment does not exist, C(k8s.api) when the API server is unreachable or refuses the request.
  returned: always
  type: list
  elements: dict
metrics:
  description:
    - C(k8s_rollout_duration_seconds{deployment}), C(k8s_rollout_rolled_back{deployment}),
      C(k8s_rollout_wait_seconds{deployment}), C(k8s_rollout_gate_seconds{deployment}),
      C(k8s_rollout_revision{deployment}), C(k8s_rollout_available_replicas{deployment}) and the gate's
      C(http_*) metrics.
  returned: always
  type: dict
plan:
  description:
    - What the task does; null when the API server or the Deployment is missing.
    - C(changes) (one line per change), C(patch) (the JSON patch operations), C(before) and C(after) (summaries
      with C(replicas), C(containers) (C(image), C(env), C(init) per container), C(restarted_at), C(revision),
      C(paused)), C(target_revision) (with O(state=rolled_back)), C(dry_run) (V(server), a V(local) note, or null).
  returned: always
  type: dict
revision:
  description: The Deployment's revision before the task and at its end (C(before), C(after)); null when it was not read.
  returned: always
  type: dict
  sample: {before: 4, after: 5}
revisions:
  description:
    - The rollout history read from the Deployment's ReplicaSets before the change, oldest first
      (C(kubectl rollout history)), with C(revision), C(replicaset), C(images), C(change_cause), C(replicas), C(created).
  returned: always
  type: list
  elements: dict
rollout:
  description:
    - The wait with C(state) (V(complete) or V(failed)), C(message), C(seconds); C(rollback) holds the same for an
      automatic undo. Null when O(wait=false) or nothing was waited for.
  returned: always
  type: dict
rolled_back:
  description: True when a failed rollout or gate was undone and the undo completed.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.k8s import rollout_runner
from ansible_collections.runbook.ops.plugins.module_utils.k8s.argspec import k8s_argspec

OPTIONS = dict(
    name=dict(type="str", required=True, aliases=["deployment"]),
    namespace=dict(type="str", default="default"),
    state=dict(type="str", choices=["present", "rolled_back"], default="present"),
    images=dict(type="dict"),
    env=dict(type="dict"),
    env_remove=dict(type="list", elements="str"),
    container=dict(type="str"),
    restart=dict(type="bool", default=False),
    replicas=dict(type="int"),
    revision=dict(type="int"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="float", default=300),
    wait_sleep=dict(type="float", default=2),
    http_gate=dict(type="dict", options=dict(
        endpoints=dict(type="list", elements="dict", required=True),
        timeout=dict(type="float", default=60),
        interval=dict(type="float", default=2),
    )),
    rollback=dict(type="bool", default=True),
)


def argspec():
    """The shared Kubernetes connection options and rules, with this module's."""
    spec = k8s_argspec()
    spec["argument_spec"].update(OPTIONS)
    return spec


def main():
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec())
    rollout_runner.run(module)


if __name__ == "__main__":
    main()
