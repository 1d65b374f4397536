#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: pg_diagnostics
short_description: Read-only PostgreSQL performance diagnostics (slow queries, locks, bloat, indexes)
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - The diagnosis steps of the "P1 Database Performance Degradation" runbook, in one read-only session.
  - C(postgres.top_queries) from pg_stat_statements (queries of the database connected to); when the extension is missing (or not preloaded) this
    is a warning check that says how to enable it, not a failure.
  - C(postgres.connections) (client connections against max_connections, by state),
    C(postgres.long_transactions), C(postgres.slow_queries) (active queries running longer than
    O(slow_query_seconds)).
  - C(postgres.blocking_locks) - who blocks whom, from C(pg_blocking_pids); critical when a session has waited
    O(blocking_critical_seconds) or more.
  - C(postgres.largest_tables), C(postgres.largest_indexes), C(postgres.table_bloat), C(postgres.index_bloat)
    (the well-known approximate estimates from pg_class and pg_stats; the login role only sees statistics
    of tables it may read), C(postgres.invalid_indexes), C(postgres.unused_indexes) (idx_scan = 0, not
    unique, primary or backing a constraint) and C(postgres.duplicate_indexes).
  - The details of every diagnostic are in RV(diagnostics). A diagnostic whose query fails is a critical
    check; an unreachable server is a critical check C(postgres.connection) (P0).
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.postgres
options:
  top:
    description:
      - How many top queries, largest tables and largest indexes to return.
    type: int
    default: 10
  slow_query_seconds:
    description:
      - Active queries running this long, or top queries averaging this long, are warnings.
    type: float
    default: 5
  long_transaction_seconds:
    description:
      - Transactions open this long are warnings.
    type: float
    default: 300
  blocking_critical_seconds:
    description:
      - A blocked session waiting this long makes C(postgres.blocking_locks) critical (warning before).
    type: float
    default: 60
  connections_warning_pct:
    description:
      - Warning at this share of max_connections in use (percent).
    type: float
    default: 80
  connections_critical_pct:
    description:
      - Critical at this share of max_connections in use (percent).
    type: float
    default: 95
  table_bloat_ratio:
    description:
      - Tables with estimated bloat at or above this share (0 to 1) are reported.
    type: float
    default: 0.5
  index_bloat_ratio:
    description:
      - Btree indexes with estimated bloat at or above this share (0 to 1) are reported.
    type: float
    default: 0.3
  min_bloat_size:
    description:
      - Smallest table or index, in bytes, reported as bloated.
    type: int
    default: 1048576
  min_unused_index_size:
    description:
      - Smallest never-scanned index, in bytes, reported as unused.
    type: int
    default: 0
  query_chars:
    description:
      - Characters of each query returned.
    type: int
    default: 300
  statement_timeout:
    description:
      - Session statement_timeout in seconds for the diagnostic queries.
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    details: Runs the same read-only queries in check mode; it never changes anything.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.postgres]
notes:
  - Read-only (the session runs with default_transaction_read_only). C(changed) is always false; check mode
    runs the same queries.
  - Membership in C(pg_monitor) is enough for everything but the bloat estimates of tables the role cannot read.
seealso:
  - module: runbook.ops.pg_maintenance
  - module: runbook.ops.pg_terminate
"""

EXAMPLES = r"""
- name: Diagnose a slow database
  runbook.ops.pg_diagnostics:
    login_host: db.internal
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    database: finchat
    slow_query_seconds: 5
  register: diag

- name: Show who blocks whom
  ansible.builtin.debug:
    var: diag.diagnostics.blocking.chains
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P0 when the server is unreachable, P1 for other critical checks, P2 for warnings, else P3.
  returned: always
  type: str
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
  description: >-
    C(postgres.top_queries), C(postgres.connections), C(postgres.long_transactions), C(postgres.slow_queries),
    C(postgres.blocking_locks), C(postgres.largest_tables), C(postgres.largest_indexes), C(postgres.table_bloat),
    C(postgres.index_bloat), C(postgres.invalid_indexes), C(postgres.unused_indexes),
    C(postgres.duplicate_indexes); or C(postgres.connection) when the server cannot be reached.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
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
      description: Usually the number of findings.
      type: raw
    threshold:
      description: The threshold compared against, when there is one.
      type: raw
metrics:
  description: >-
    C(pg_connections{state="..."}), C(pg_long_transactions), C(pg_slow_queries), C(pg_blocked_sessions).
  returned: always
  type: dict
diagnostics:
  description: Details per diagnostic.
  returned: always
  type: dict
  contains:
    top_queries:
      description: queryid, database, user, calls, total_ms, mean_ms, rows, query; empty without pg_stat_statements.
      type: list
    connections:
      description: by_state, total, max_connections.
      type: dict
    long_transactions:
      description: Sessions with a transaction open longer than O(long_transaction_seconds).
      type: list
    slow_queries:
      description: Active queries running longer than O(slow_query_seconds).
      type: list
    blocking:
      description: >-
        edges ([blocker, blocked] pids), roots (blockers waiting on nobody), chains (per root blocker, the pids it
        holds up), sessions (user, application, state, query of every pid involved), blocked (the waiting sessions).
      type: dict
    largest_tables:
      description: schema, name, total_bytes, table_bytes.
      type: list
    largest_indexes:
      description: schema, name, table, bytes.
      type: list
    table_bloat:
      description: table, bytes, estimated_bloat (0 to 1), n_dead_tup.
      type: list
    index_bloat:
      description: index, table, bytes, estimated_bloat (0 to 1).
      type: list
    invalid_indexes:
      description: INVALID indexes (schema.name).
      type: list
    unused_indexes:
      description: index, table, bytes.
      type: list
    duplicate_indexes:
      description: Groups of equivalent indexes (schema.name).
      type: list
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, diagnostics_runner

OPTIONS = dict(
    top=dict(type="int", default=10),
    slow_query_seconds=dict(type="float", default=5),
    long_transaction_seconds=dict(type="float", default=300),
    blocking_critical_seconds=dict(type="float", default=60),
    connections_warning_pct=dict(type="float", default=80),
    connections_critical_pct=dict(type="float", default=95),
    table_bloat_ratio=dict(type="float", default=0.5),
    index_bloat_ratio=dict(type="float", default=0.3),
    min_bloat_size=dict(type="int", default=1048576),
    min_unused_index_size=dict(type="int", default=0),
    query_chars=dict(type="int", default=300),
    statement_timeout=dict(type="float", default=30),
)


def main() -> None:
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec.module_argspec(OPTIONS))
    diagnostics_runner.run(module)


if __name__ == "__main__":
    main()
