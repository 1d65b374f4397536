#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: notify
short_description: Send the notifications of a run's report (PagerDuty, Slack, signed webhook, e-mail)
version_added: 0.2.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Sends the notifications of a written run report (C(report.json) of the C(runbook.ops.report) callback)
    with the same code the callback uses after each run; for re-sending a report, testing a route, and AWX
    workflows whose notification step runs after the job.
  - Each failing check of the report is one alert per platform, runbook and check (its C(dedup_key)); with
    O(track=true) the state file of open alerts decides whether it is opened, updated or resolved, and the
    O(threshold) of consecutive failed runs applies; with O(track=false) every failing check is sent as new
    and no state is read or written (testing a route).
  - PagerDuty Events API v2 (C(trigger)/C(resolve) with the C(dedup_key), severity from the incident level,
    a link to the report); Slack Web API (C(chat.postMessage), then C(chat.update) of the same message,
    whose C(ts) is kept in the state); a Slack incoming webhook; a generic webhook whose JSON body is signed
    with HMAC-SHA256; e-mail over SMTP with STARTTLS and authentication (one message for the run).
  - A send that fails after its retries is a warning check C(notify.<channel>) and fails the task (the
    notification could not be carried out); what was delivered is still recorded in the state file.
  - Use the FQCN C(runbook.ops.notify) in tasks (C(notify) alone is a task keyword). Runs on the controller
    (C(delegate_to=localhost)) where the report and the state file are.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.notify
options:
  report:
    description:
      - The C(report.json) to send, or a run's report directory (for example C(reports/latest)).
    type: path
    required: true
  state_file:
    description:
      - The state file of the open alerts. Default C(notify-state.json) in the directory above the run's
        report directory (the callback's C(report_dir)), the one the callback uses.
    type: path
  track:
    description:
      - Use the state file (open, update, resolve, threshold). V(false) sends every failing check as a new
        alert and writes nothing.
    type: bool
    default: true
attributes:
  check_mode:
    description: Returns the exact requests that would be sent (secrets masked) in RV(requests), sends nothing and
      writes no state.
    support: full
  diff_mode:
    support: none
  action_group:
    description: Not in any action group (it takes no connection settings of a system).
    support: none
    membership: []
"""

EXAMPLES = r"""
- name: Send the latest report's notifications again
  runbook.ops.notify:
    report: reports/latest
    slack_token: "{{ vault_slack_token }}"
    slack_channel: C0123456789
    pagerduty_routing_key: "{{ vault_pagerduty_routing_key }}"
  delegate_to: localhost

- name: Test the e-mail route with a report, without touching the state
  runbook.ops.notify:
    report: reports/latest/report.json
    track: false
    smtp_host: smtp.example.com
    smtp_username: runbook
    smtp_password: "{{ vault_smtp_password }}"
    email_from: runbook@example.com
    email_to: [oncall@example.com]
    email_severities: [P0, P1, P2]
  delegate_to: localhost
  check_mode: true
"""

RETURN = r"""
schema:
  description: C(runbook.ops/result/v1).
  returned: always
  type: str
status:
  description: C(ok), or C(warning) when a channel is misconfigured or a send failed.
  returned: always
  type: str
severity:
  description: The incident level of the notification result (P2 for a failed send, P3 when all went out).
  returned: always
  type: str
summary:
  description: One line for people.
  returned: always
  type: str
checks:
  description: One C(notify.<channel>) check per channel used (C(notify.state) when the state file failed).
  returned: always
  type: list
  elements: dict
metrics:
  description: C(notify_sent), the notifications delivered.
  returned: always
  type: dict
events:
  description: The events of this run, each with C(channel), C(action) (trigger, update, resolve),
    C(dedup_key), C(check), C(severity) and C(sent).
  returned: always
  type: list
  elements: dict
requests:
  description: The requests sent (in check mode, those that would be), secrets masked.
  returned: always
  type: list
  elements: dict
held:
  description: The dedup keys of alerts held back while a P0 of their platform is open.
  returned: always
  type: list
  elements: str
state_file:
  description: The state file used (null with O(track=false)).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.notify import argspec, notify_runner


def main():
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec.notify_argspec())
    notify_runner.run(module)


if __name__ == "__main__":
    main()
