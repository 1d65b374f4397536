#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: pg_terminate
short_description: Cancel, then terminate, PostgreSQL sessions running or idle in transaction too long
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Finds client sessions in one of O(states) for at least O(min_duration) seconds (active sessions count
    from the start of their query, idle-in-transaction ones from the start of their transaction).
  - Never touches its own session, sessions of O(exclude_users) or with an application name in
    O(exclude_applications); optionally only sessions connected to O(databases).
  - Sends C(pg_cancel_backend) to each first, waits up to O(grace_seconds), then sends
    C(pg_terminate_backend) to those still in the same transaction (a cancelled query inside a
    transaction leaves it open, holding its locks), unless O(terminate=false).
  - One check C(postgres.long_sessions) with the count, then C(postgres.session.<pid>) per session, ok when
    cancelled or terminated, warning when still running, critical when the signal failed (for example
    permission denied). A server that cannot be reached or a O(database) that does not exist fails the task,
    as does a C(pg_stat_activity) that cannot be read; the failed result keeps C(status), C(checks) (a critical
    C(postgres.connection), P0), C(metrics), C(summary) and an empty C(sessions).
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.postgres
options:
  min_duration:
    description:
      - Seconds a session must have been running (or idle in transaction) to be stopped.
    type: float
    default: 300
  states:
    description:
      - pg_stat_activity states to consider.
    type: list
    elements: str
    choices: [active, idle in transaction, idle in transaction (aborted), fastpath function call]
    default: [active, idle in transaction, idle in transaction (aborted)]
  exclude_users:
    description:
      - Roles whose sessions are never stopped (replication, backup and admin roles).
    type: list
    elements: str
    default: []
  exclude_applications:
    description:
      - Application names whose sessions are never stopped.
    type: list
    elements: str
    default: []
  databases:
    description:
      - Only sessions connected to these databases; all databases when empty.
    type: list
    elements: str
    default: []
  grace_seconds:
    description:
      - Seconds to wait after the cancel before terminating; also how long pg_terminate_backend waits for
        the backend to exit. At least 0, at most 3600; the wait ends early, failing the task, when the task
        that started the module is killed.
    type: float
    default: 5
  terminate:
    description:
      - Terminate sessions that are still running after the grace period. With V(false) only cancel.
    type: bool
    default: true
  query_chars:
    description:
      - Characters of each query returned.
    type: int
    default: 200
attributes:
  check_mode:
    support: full
    details: Lists the sessions it would stop (warning checks) and signals nothing.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.postgres]
notes:
  - Check mode lists the sessions it would stop (warning checks) and signals nothing; C(changed) is false.
  - C(changed) is true when at least one cancel or terminate signal was sent.
  - The login role needs C(pg_signal_backend) (or superuser) to signal other roles' sessions; only a
    superuser can signal superuser sessions.
seealso:
  - module: runbook.ops.pg_diagnostics
"""

EXAMPLES = r"""
- name: Stop queries running longer than 5 minutes, never the replication or backup roles
  runbook.ops.pg_terminate:
    login_host: db.internal
    login_user: ops
    login_password: "{{ vault_pg_ops_password }}"
    database: finchat
    min_duration: 300
    exclude_users: [replicator, backup]
    grace_seconds: 10

- name: Only list what would be stopped
  runbook.ops.pg_terminate:
    database: finchat
    min_duration: 60
  check_mode: true
  register: slow_sessions
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: ok
severity:
  description: P0 when the server is unreachable, P1 when a signal failed, P2 for warnings, else P3.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: C(postgres.long_sessions), then C(postgres.session.<pid>) per session found.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: postgres.session.4242
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was done to which session.
      type: str
    value:
      description: The count for C(postgres.long_sessions); the query in check mode.
      type: raw
    threshold:
      description: O(min_duration) for C(postgres.long_sessions).
      type: raw
metrics:
  description: C(pg_long_sessions) and, outside check mode, C(pg_sessions_stopped{outcome="..."}).
  returned: always
  type: dict
sessions:
  description: The sessions found and what happened to each.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Backend process id.
      type: int
    user:
      description: Role of the session.
      type: str
    application:
      description: Application name.
      type: str
    database:
      description: Database of the session.
      type: str
    state:
      description: State when found.
      type: str
    duration_seconds:
      description: Seconds running (or idle in transaction) when found.
      type: float
    wait_event_type:
      description: What it waited on when found.
      type: str
    wait_event:
      description: Wait event when found.
      type: str
    query:
      description: Start of the query.
      type: str
    outcome:
      description: C(cancelled), C(terminated), C(still_running) or C(failed); null in check mode.
      type: str
    error:
      description: Why a signal failed.
      type: str
changed:
  description: True when a signal was sent.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, sessions_plan, sessions_runner

OPTIONS = dict(
    min_duration=dict(type="float", default=300),
    states=dict(type="list", elements="str", choices=list(sessions_plan.STATES),
                default=list(sessions_plan.DEFAULT_STATES)),
    exclude_users=dict(type="list", elements="str", default=[]),
    exclude_applications=dict(type="list", elements="str", default=[]),
    databases=dict(type="list", elements="str", default=[]),
    grace_seconds=dict(type="float", default=5),
    terminate=dict(type="bool", default=True),
    query_chars=dict(type="int", default=200),
)


def main() -> None:
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec.module_argspec(OPTIONS))
    sessions_runner.run(module)


if __name__ == "__main__":
    main()
