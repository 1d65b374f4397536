#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: k8s_check
short_description: Health of a Kubernetes cluster's namespaces - workloads, pods, nodes, events, certificates, volumes
version_added: 0.2.0
author: runbook.ops contributors (@runbook-ops)
description:
  - The morning check of a Kubernetes platform (C(kubectl get pods), restarts, events, nodes, cert-manager)
    as one result. Only reads; C(changed) is always false.
  - Per namespace of O(namespaces) - C(k8s.<ns>.deployment.<name>) and C(k8s.<ns>.statefulset.<name>) compare
    available (for a StatefulSet, ready) replicas with desired ones; none available is critical with severity P0,
    fewer a warning, a Deployment past its progress deadline (C(ProgressDeadlineExceeded)) critical, a paused
    unfinished rollout a warning.
  - C(k8s.<ns>.pods) lists the pods in C(CrashLoopBackOff) or an image pull error (C(ImagePullBackOff),
    C(ErrImagePull)) and those Pending for O(pending_minutes) or more (critical, with the scheduler's reason),
    not Ready for O(not_ready_minutes) or more, or restarted more than O(restart_threshold) times with a restart
    in the last O(window_hours) (warnings).
  - C(k8s.<ns>.events) counts the Warning events of the last O(window_hours) by reason (with one example each);
    a warning from O(events_warning) events on.
  - C(k8s.<ns>.certificates) reads cert-manager's C(certificates.cert-manager.io) resources - not Ready is
    critical, expiry (C(status.notAfter)) within O(cert_critical_days) critical, within O(cert_warning_days) a
    warning. Without cert-manager's CRD the check is ok and says cert-manager is not installed.
  - C(k8s.<ns>.pvcs) lists PersistentVolumeClaims not Bound (Lost critical, Pending a warning).
  - Cluster-wide, C(k8s.nodes) counts Ready nodes (none Ready is P0) and C(k8s.node.<name>) reports each node
    NotReady (critical), under memory, disk or PID pressure, or cordoned (warnings).
  - An API server that does not answer is the P0 check C(k8s.api); an answer 401 or 403 a critical C(k8s.api)
    check naming what could not be read; a namespace that does not exist the P0 check C(k8s.<ns>.namespace).
    None of them fails the task.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.k8s
options:
  namespaces:
    description:
      - Namespaces to check.
    type: list
    elements: str
    default: [default]
  checks:
    description:
      - Which categories to check.
    type: list
    elements: str
    choices: [workloads, pods, nodes, events, certificates, pvcs]
    default: [workloads, pods, nodes, events, certificates, pvcs]
  window_hours:
    description:
      - Hours looked back for Warning events and recent restarts; more than 0.
    type: float
    default: 24
  restart_threshold:
    description:
      - A container restarted more than this many times, once in the last O(window_hours), is a warning.
    type: int
    default: 5
  pending_minutes:
    description:
      - A pod Pending for this many minutes or more is critical.
    type: float
    default: 10
  not_ready_minutes:
    description:
      - A running pod not Ready for this many minutes or more is a warning (younger ones may be starting).
    type: float
    default: 5
  events_warning:
    description:
      - Warning events (repeats counted) in the window from which C(k8s.<ns>.events) is a warning; at least 1.
    type: int
    default: 1
  cert_warning_days:
    description:
      - A Certificate expiring within this many days is a warning.
    type: float
    default: 14
  cert_critical_days:
    description:
      - A Certificate expiring within this many days is critical; at most O(cert_warning_days).
    type: float
    default: 7
attributes:
  check_mode:
    description: Runs the same reads; it never changes anything.
    support: full
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health, runbook.ops.kubernetes]
notes:
  - Needs C(get) on namespaces (optional - without it a missing namespace shows as empty) and C(list) on
    deployments, statefulsets, pods, events, persistentvolumeclaims, nodes and certificates.cert-manager.io.
seealso:
  - module: runbook.ops.k8s_rollout
"""

EXAMPLES = r"""
- name: Morning check of the SEC Filing Analysis cluster
  runbook.ops.k8s_check:
    namespaces: [sec-analysis, cert-manager]
    kubeconfig: ~/.kube/config
    context: production
  register: k8s_health

- name: Only workloads and pods, stricter restarts
  runbook.ops.k8s_check:
    namespaces: [sec-analysis]
    checks: [workloads, pods]
    restart_threshold: 2
    window_hours: 6
"""

RETURN = r"""
schema:
  description: Result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: Worst check status.
  returned: always
  type: str
  sample: ok
severity:
  description:
    - P0 when the API server, a namespace or every replica of a workload (or every node) is missing, P1 for
      another critical check, P2 for a warning, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "kubernetes: 7 checks ok"
checks:
  description:
    - C(k8s.<ns>.deployment.<name>), C(k8s.<ns>.statefulset.<name>), C(k8s.<ns>.pods), C(k8s.<ns>.events),
      C(k8s.<ns>.certificates), C(k8s.<ns>.pvcs), C(k8s.<ns>.namespace) (a missing namespace), C(k8s.nodes),
      C(k8s.node.<name>) (a node with a problem), C(k8s.api) (the API server unreachable or refusing).
  returned: always
  type: list
  elements: dict
metrics:
  description:
    - C(k8s_up), C(k8s_nodes), C(k8s_nodes_ready), C(k8s_workload_desired_replicas{namespace,kind,workload}),
      C(k8s_workload_available_replicas{namespace,kind,workload}), C(k8s_pods{namespace}),
      C(k8s_pods_unhealthy{namespace,problem}), C(k8s_warning_events{namespace,reason}),
      C(k8s_certificate_expiry_seconds{namespace,certificate}), C(k8s_pvcs_unbound{namespace}).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.k8s import argspec as k8s_argspec
from ansible_collections.runbook.ops.plugins.module_utils.k8s import check_runner


def argspec():
    """The shared Kubernetes connection options with this module's (k8s/argspec.py)."""
    return k8s_argspec.k8s_check_argspec()


def main():
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec())
    check_runner.run(module)


if __name__ == "__main__":
    main()
