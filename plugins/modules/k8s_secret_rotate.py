#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: k8s_secret_rotate
short_description: Rotate a Kubernetes Secret and restart, one after another, the workloads that use it; roll back on failure
version_added: 0.2.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Sets new values for keys of an existing Secret, each from one source - a literal (O(data[].value)), a file
    or an environment variable on the host that runs the module, or generated (O(data[].generate) random letters
    and digits). Keys not listed keep their values. The Secret is written once, guarded by its resourceVersion.
  - Then finds every Deployment and StatefulSet of the namespace whose pod template references the Secret
    (C(env) C(secretKeyRef), C(envFrom) C(secretRef), a secret or projected volume) and restarts them one after
    another - Deployments with the rollout of M(runbook.ops.k8s_rollout) (its wait, its O(http_gate), its own
    undo), StatefulSets by the C(kubectl.kubernetes.io/restartedAt) annotation and a wait for their rolling update.
  - When a restart fails (its rollout or its gate), the Secret's former data is put back and the workloads
    already restarted, and the one that failed, are restarted again so that they run with the former values.
    The result is then critical with RV(rolled_back=true).
  - No value appears in the result, the diff or a message; the new values are also registered as no_log values.
    When the Secret already holds the values, nothing is written or restarted and C(changed) is false.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.k8s
options:
  name:
    description:
      - Name of the Secret.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the Secret and of the workloads restarted.
    type: str
    default: default
  data:
    description:
      - The keys to set, each with exactly one source.
    type: list
    elements: dict
    required: true
    suboptions:
      key:
        description:
          - Key of the Secret (letters, digits, C(-), C(_), C(.)).
        type: str
        required: true
      value:
        description:
          - The new value.
        type: str
      file:
        description:
          - A file on the host that runs the module whose content (UTF-8, as it is) is the new value.
        type: path
      env:
        description:
          - An environment variable of the module's process whose value is the new value.
        type: str
      generate:
        description:
          - Generate a random value of this many letters and digits (8 to 4096), with Python's C(secrets).
        type: int
  restart:
    description:
      - Restart the workloads that reference the Secret. Without it only the Secret changes.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds each restart may take; more than 0, at most 3600.
    type: float
    default: 300
  wait_sleep:
    description:
      - Seconds between two reads while waiting for a restart; more than 0.
    type: float
    default: 2
  http_gate:
    description:
      - HTTP endpoints that must pass after each restart (the options of M(runbook.ops.k8s_rollout)'s O(runbook.ops.k8s_rollout#module:http_gate)).
    type: dict
    suboptions:
      endpoints:
        description:
          - The endpoints, as in M(runbook.ops.http_check).
        type: list
        elements: dict
        required: true
      timeout:
        description:
          - Seconds the endpoints have to pass.
        type: float
        default: 60
      interval:
        description:
          - Seconds between two rounds of probes.
        type: float
        default: 2
attributes:
  check_mode:
    description: Sends the new data with the server-side dry run and lists the keys that would change and the workloads that would restart; changes nothing.
    support: full
  diff_mode:
    description: Returns the Secret's key names before and after, the keys that change and the workloads restarted; never a value.
    support: full
  action_group:
    support: full
    membership: [runbook.ops.kubernetes]
notes:
  - A rotation that could not be carried out fails the task, keeping the result schema - the API server
    unreachable or refusing (C(k8s.api)), the Secret missing (C(secret.<name>.secret), P0), the new data
    refused. So do a file that cannot be read and an environment variable that is not set.
  - A restart that failed after the Secret was written does not fail the task - C(secret.<name>.rotate) is
    critical and C(secret.<name>.rollback) says whether the former values are back, for the health gate to judge.
seealso:
  - module: runbook.ops.k8s_rollout
"""

EXAMPLES = r"""
- name: Rotate the database password of the SEC Filing Analysis API and restart what uses it
  runbook.ops.k8s_secret_rotate:
    name: api-db
    namespace: sec-analysis
    data:
      - key: DATABASE_PASSWORD
        env: NEW_DB_PASSWORD
    http_gate:
      endpoints:
        - name: api_health
          url: https://api.sec-analysis.example.com/health
  register: rotated

- name: A new random session key, from a file for the TLS key
  runbook.ops.k8s_secret_rotate:
    name: web
    namespace: sec-analysis
    data:
      - key: SECRET_KEY
        generate: 64
      - key: tls.key
        file: /etc/pki/new/web.key

- name: Which workloads would restart? (nothing changes)
  runbook.ops.k8s_secret_rotate:
    name: api-db
    namespace: sec-analysis
    data:
      - key: DATABASE_PASSWORD
        generate: 32
  check_mode: true
"""

RETURN = r"""
schema:
  description: Result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: Worst check status; V(critical) when a restart failed (rolled back or not).
  returned: always
  type: str
  sample: ok
severity:
  description: P0 when the API server or the Secret is missing or the rollback failed, P1 for a failed restart, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "secret sec-analysis/api-db: 3 checks ok"
checks:
  description:
    - C(secret.<name>.rotate), C(secret.<name>.rollback) after a failed restart, C(secret.<name>.secret) when the
      Secret does not exist, the restarts' C(rollout.<deployment>.*) and C(statefulset.<name>.restart) checks,
      C(k8s.api) when the API server is unreachable or refuses.
  returned: always
  type: list
  elements: dict
metrics:
  description:
    - C(k8s_secret_rotated_keys{secret}), C(k8s_secret_restarted_workloads{secret}), C(k8s_secret_rolled_back{secret}).
  returned: always
  type: dict
changed_keys:
  description: The keys whose value changed (or would, in check mode); names only.
  returned: always
  type: list
  elements: str
workloads:
  description: The workloads that reference the Secret and are (or would be) restarted, with C(kind), C(name) and C(references).
  returned: always
  type: list
  elements: dict
restarted:
  description: The workloads restarted with the new values, as C(kind/name), in order.
  returned: always
  type: list
  elements: str
rolled_back:
  description: True when a restart failed and the former values are back.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.k8s import argspec as k8s_argspec
from ansible_collections.runbook.ops.plugins.module_utils.k8s import secret_runner


def argspec():
    """The shared Kubernetes connection options with this module's (k8s/argspec.py)."""
    return k8s_argspec.k8s_secret_rotate_argspec()


def main():
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec())
    secret_runner.run(module)


if __name__ == "__main__":
    main()
