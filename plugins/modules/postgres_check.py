#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: postgres_check
short_description: Read-only health checks of a PostgreSQL server
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Opens one read-only session (C(default_transaction_read_only=on), autocommit, C(statement_timeout)
    from O(query_timeout), C(application_name=runbook.ops)) and reports one check per aspect of the
    server's health. A role that is a member of C(pg_monitor) is enough.
  - C(postgres.ping) is critical with severity P0 when no session can be opened (connection refused,
    authentication failed, unknown host, timeout, database missing, too many connections); the other
    checks are then not run.
  - C(postgres.connections) compares the client connections with C(max_connections) in percent.
  - C(postgres.long_queries) counts queries active for longer than O(long_query_seconds).
  - C(postgres.idle_in_transaction) counts sessions idle inside a transaction for longer than
    O(idle_in_transaction_seconds).
  - C(postgres.replication) counts the connected replicas (critical below O(min_replicas)) and
    C(postgres.replication.<replica>) compares each replica's C(replay_lag) with the lag thresholds.
    A replica that is not streaming is a warning.
  - C(postgres.xid_age) is the highest transaction-ID age (C(age) of C(datfrozenxid)) of all databases,
    which approaches wraparound. C(postgres.database_size) is the largest database.
  - C(postgres.cache_hit_ratio) is C(blks_hit) divided by the sum of C(blks_hit) and C(blks_read) over
    all databases since the statistics were reset, not judged before O(cache_hit_min_blocks) blocks.
  - A check whose query fails (for example permission denied or cancelled by the statement timeout)
    is a warning that says why; the other checks still run.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.postgres
options:
  checks:
    description:
      - Which checks to run besides C(postgres.ping), which always runs.
    type: list
    elements: str
    choices: [connections, long_queries, idle_in_transaction, replication, xid_age, database_sizes, cache_hit_ratio]
    default: [connections, long_queries, idle_in_transaction, replication, xid_age, database_sizes, cache_hit_ratio]
  query_timeout:
    description:
      - C(statement_timeout) of the session in seconds.
    type: float
    default: 10
  connections_warning:
    description:
      - Warning at this percentage of C(max_connections) in use.
    type: float
    default: 80
  connections_critical:
    description:
      - Critical at this percentage of C(max_connections) in use.
    type: float
    default: 95
  long_query_seconds:
    description:
      - A query counts as long-running when it has been active for more than this many seconds.
    type: float
    default: 300
  long_queries_warning:
    description:
      - Warning at this many long-running queries or more.
    type: int
    default: 1
  long_queries_critical:
    description:
      - Critical at this many long-running queries or more. Not judged when not set.
    type: int
  idle_in_transaction_seconds:
    description:
      - A session counts when it has been idle inside a transaction for more than this many seconds.
    type: float
    default: 60
  idle_in_transaction_warning:
    description:
      - Warning at this many such sessions or more.
    type: int
    default: 1
  idle_in_transaction_critical:
    description:
      - Critical at this many such sessions or more. Not judged when not set.
    type: int
  replication_lag_warning:
    description:
      - Warning at this replay lag in seconds or more.
    type: float
    default: 1
  replication_lag_critical:
    description:
      - Critical at this replay lag in seconds or more.
    type: float
    default: 30
  min_replicas:
    description:
      - Critical when fewer replicas than this are connected.
    type: int
    default: 0
  xid_age_warning:
    description:
      - Warning at this transaction-ID age of any database or more.
    type: int
    default: 500000000
  xid_age_critical:
    description:
      - Critical at this transaction-ID age of any database or more (wraparound happens near 2.1 billion).
    type: int
    default: 1500000000
  database_size_warning_bytes:
    description:
      - Warning when a database is this large or larger. Not judged when not set.
    type: int
  database_size_critical_bytes:
    description:
      - Critical when a database is this large or larger. Not judged when not set.
    type: int
  cache_hit_ratio_warning:
    description:
      - Warning when the buffer cache hit ratio (0 to 1) is below this.
    type: float
    default: 0.9
  cache_hit_ratio_critical:
    description:
      - Critical when the buffer cache hit ratio (0 to 1) is below this. Not judged when not set.
    type: float
  cache_hit_min_blocks:
    description:
      - Fewest blocks (hit plus read) before the cache hit ratio is judged.
    type: int
    default: 10000
  show_queries:
    description:
      - Include the first 200 characters of each long-running query's text in the check value.
        Off by default because query text can hold personal data or secrets.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Runs the same read-only probes in check mode; it never changes anything.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health, runbook.ops.postgres]
notes:
  - Check mode runs the same read-only probes. C(changed) is always false.
  - No identifier is ever formatted into SQL; all values are bound parameters.
seealso:
  - module: community.postgresql.postgresql_ping
  - module: community.postgresql.postgresql_info
  - module: runbook.ops.redis_check
"""

EXAMPLES = r"""
- name: Database health with the monitoring role
  runbook.ops.postgres_check:
    login_host: db.internal
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    database: finchat
  register: pg

- name: Only connections and slow queries, stricter, over TLS
  runbook.ops.postgres_check:
    login_host: db.internal
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/private-ca.pem
    checks: [connections, long_queries]
    connections_warning: 70
    long_query_seconds: 60

- name: Over the local Unix socket on the database host
  runbook.ops.postgres_check:
    login_unix_socket: /var/run/postgresql
    login_user: postgres
    min_replicas: 1
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P0 when PostgreSQL is unreachable, P1 for other critical checks, P2 for warnings, P3 when all is ok.
  returned: always
  type: str
  sample: P2
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "postgres: postgres.long_queries 2 queries active longer than 300s (longest 912s, pid 4242)"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: >-
    C(postgres.ping), then as selected by O(checks) C(postgres.connections), C(postgres.long_queries),
    C(postgres.idle_in_transaction), C(postgres.replication) and C(postgres.replication.<replica>),
    C(postgres.xid_age), C(postgres.database_size), C(postgres.cache_hit_ratio).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: postgres.connections
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was found, for example C(connection refused by 127.0.0.1:5432).
      type: str
    value:
      description: >-
        The measured value: connect time in seconds, connections in percent, replay lag in seconds,
        XID age, size in bytes, hit ratio; for long queries and idle transactions a dict with C(count)
        and C(sessions) (pid, user, database, application, seconds, and C(query) with O(show_queries)).
      type: raw
    threshold:
      description: C(warning) and C(critical) limits, when the check has them.
      type: dict
metrics:
  description: >-
    C(postgres_up) (1 or 0) always; when reachable C(postgres_connect_seconds), C(postgres_max_connections),
    C(postgres_connections_used), C(postgres_connections{state="..."}), C(postgres_connections_used_ratio) (0 to 1),
    C(postgres_long_queries), C(postgres_longest_query_seconds), C(postgres_idle_in_transaction_sessions),
    C(postgres_oldest_idle_in_transaction_seconds), C(postgres_in_recovery), C(postgres_replicas),
    C(postgres_replication_lag_seconds{replica="..."}), C(postgres_replication_lag_bytes{replica="..."}),
    C(postgres_xid_age{database="..."}), C(postgres_database_size_bytes{database="..."}),
    C(postgres_blocks_hit_total), C(postgres_blocks_read_total) (counters: cumulative since the statistics were reset),
    C(postgres_cache_hit_ratio).
  returned: always
  type: dict
  sample: {"postgres_up": 1, "postgres_connections{state=\"active\"}": 3, "postgres_xid_age{database=\"app\"}": 742}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, check_plan, check_runner

OPTIONS = dict(
    checks=dict(type="list", elements="str", choices=list(check_plan.CHECKS), default=list(check_plan.CHECKS)),
    query_timeout=dict(type="float", default=10),
    connections_warning=dict(type="float", default=80),
    connections_critical=dict(type="float", default=95),
    long_query_seconds=dict(type="float", default=300),
    long_queries_warning=dict(type="int", default=1),
    long_queries_critical=dict(type="int"),
    idle_in_transaction_seconds=dict(type="float", default=60),
    idle_in_transaction_warning=dict(type="int", default=1),
    idle_in_transaction_critical=dict(type="int"),
    replication_lag_warning=dict(type="float", default=1),
    replication_lag_critical=dict(type="float", default=30),
    min_replicas=dict(type="int", default=0),
    xid_age_warning=dict(type="int", default=500000000),
    xid_age_critical=dict(type="int", default=1500000000),
    database_size_warning_bytes=dict(type="int"),
    database_size_critical_bytes=dict(type="int"),
    cache_hit_ratio_warning=dict(type="float", default=0.9),
    cache_hit_ratio_critical=dict(type="float"),
    cache_hit_min_blocks=dict(type="int", default=10000),
    show_queries=dict(type="bool", default=False),
)


def main() -> None:
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec.module_argspec(OPTIONS))
    check_runner.run(module)


if __name__ == "__main__":
    main()
