#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: health_gate
short_description: Fail the host when a runbook.ops check result is critical (or warning)
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - "Judges registered C(runbook.ops/result/v1) results on the controller and fails the host when
    any of their checks is at or above O(fail_on). The failure message has one line per failed
    check, for example C(critical redis.ping: connection refused)."
  - Put it last in a health-check play so that C(ansible-playbook) exits non-zero on a critical run,
    or before a deploy step to stop it on an unhealthy system.
  - With O(results) it judges exactly those registered results; without, it scans the host's
    variables for registered results carrying the schema (the items of loops included).
  - In O(results), a registered result of a task that failed (or whose failure C(failed_when) hid,
    for example a module error from bad input) counts as a critical check C(task.<label>); skipped
    results are ignored.
  - Never changes anything; in check mode it makes the same decision.
  - This module is an action plugin running on the controller; it needs no Python on the host.
options:
  fail_on:
    description:
      - The lowest check status that fails the host.
    type: str
    choices: [critical, warning]
    default: critical
  results:
    description:
      - Registered results to judge, as a list, or as a dict whose keys label each result in
        the messages (C(task.<key>) for failed tasks).
      - Loop results (with a C(results) list) are expanded into their items.
      - Default is every registered result of the host that carries the C(runbook.ops/result/v1) schema.
    type: raw
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details: Makes the same decision in check mode; it never changes anything.
  diff_mode:
    support: none
  action_group:
    support: none
    membership: []
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: All of it runs on the controller; the host needs no Python.
notes:
  - Failed checks are listed one per line in RV(msg) and RV(failures).
seealso:
  - module: runbook.ops.http_check
  - module: runbook.ops.redis_check
  - module: runbook.ops.postgres_check
"""

EXAMPLES = r"""
- name: Check the API
  runbook.ops.http_check:
    endpoints:
      - name: api_health
        url: http://127.0.0.1:8000/health
  register: health_http

- name: Stop here when any check is critical
  runbook.ops.health_gate:

- name: Stop a deploy on warnings too, judging only these results
  runbook.ops.health_gate:
    fail_on: warning
    results:
      http: "{{ health_http }}"
"""

RETURN = r"""
msg:
  description: The verdict; when failed, a header line then one line per failed check.
  returned: always
  type: str
  sample: "health gate: 1 check at or above critical:\ncritical redis.ping: connection refused"
failures:
  description: One line per check at or above O(fail_on).
  returned: always
  type: list
  elements: str
  sample: ["critical redis.ping: connection refused"]
results_checked:
  description: How many results (failed tasks included) were judged.
  returned: always
  type: int
  sample: 5
status:
  description: Worst status over all judged checks (C(ok), C(warning), C(critical)).
  returned: always
  type: str
  sample: critical
severity:
  description: Most urgent severity over the non-ok checks (C(P0)..C(P2)), C(P3) when all are ok.
  returned: always
  type: str
  sample: P0
fail_on:
  description: The O(fail_on) in effect.
  returned: always
  type: str
  sample: critical
changed:
  description: Always false.
  returned: always
  type: bool
  sample: false
"""
