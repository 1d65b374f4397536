#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: pg_maintenance
short_description: Plan and run VACUUM, ANALYZE, VACUUM FULL and REINDEX CONCURRENTLY where needed
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Reads table and index statistics of one database and decides, per table and per index, what
    maintenance is due, or runs the requested operations on explicit O(tables) / O(indexes).
  - VACUUM when dead tuples pass autovacuum's own rule (threshold + scale_factor x reltuples, using the
    table's reloptions when set, see O(autovacuum_rule)), or the dead tuple ratio passes
    O(dead_tuple_ratio), or the last (auto)vacuum is older than O(vacuum_max_age_hours) while dead tuples exist.
  - ANALYZE when rows modified since the last analyze pass autovacuum's analyze rule, the table was never
    analyzed, or the last (auto)analyze is older than O(analyze_max_age_hours) while rows changed.
    VACUUM and ANALYZE of the same table become one C(VACUUM (ANALYZE)).
  - VACUUM FULL (operation C(vacuum_full)) only with O(maintenance_window=true), when the estimated table
    bloat passes O(table_bloat_ratio) and the table is at least O(min_table_size) bytes.
  - REINDEX INDEX CONCURRENTLY (operation C(reindex)) for btree indexes whose estimated bloat passes
    O(index_bloat_ratio) and that are at least O(min_index_size) bytes. The bloat estimate is the well-known
    approximation from pg_class and pg_stats, not an exact measure (pgstattuple is exact but scans).
  - When a table gets both, its REINDEX statements run before its VACUUM, so that VACUUM reads the small
    rebuilt indexes rather than the bloated ones it would clean and that are rebuilt anyway.
  - With O(reindex_database=true) and C(reindex) in O(operations), every index of the database is rebuilt
    (the scope of C(REINDEX DATABASE CONCURRENTLY)), as one C(REINDEX INDEX CONCURRENTLY) per index; see
    O(reindex_database) for why.
  - Drops (DROP INDEX CONCURRENTLY, operation C(drop_invalid_indexes)) the INVALID indexes named C(*_ccnew*)
    or C(*_ccold*) that a failed REINDEX CONCURRENTLY leaves behind, unless a REINDEX is running on that table.
    When a REINDEX run by this module fails, its leftovers are dropped at once.
  - Runs in autocommit (VACUUM and REINDEX CONCURRENTLY cannot run inside a transaction) with a session
    O(lock_timeout) and O(statement_timeout). A statement that hits the lock_timeout is retried
    O(lock_retries) times with exponential backoff starting at O(retry_backoff) seconds; when the object is
    still locked it is skipped and reported as a warning check.
  - Every identifier is quoted with psycopg2's C(sql) module.
  - One check C(postgres.maintenance) with the counts, and one check C(postgres.<action>.<schema>.<name>) per
    object, ok when done, warning when skipped because locked, critical when the statement failed.
    Maintenance that could not be carried out fails the task - a server that cannot be reached, a
    O(database) that does not exist (critical check C(postgres.connection), P0) or statistics that cannot be
    read. The failed result keeps C(status), C(checks), C(metrics) and C(summary). Statements that ran and
    failed, or were skipped because locked, are checks of a successful result, for the health gate to judge.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.postgres
options:
  operations:
    description:
      - What may run. C(vacuum_full) requires O(maintenance_window=true).
    type: list
    elements: str
    choices: [vacuum, analyze, vacuum_full, reindex, drop_invalid_indexes]
    default: [vacuum, analyze, drop_invalid_indexes]
  maintenance_window:
    description:
      - Declares that a maintenance window is open; required for C(vacuum_full), which takes an
        ACCESS EXCLUSIVE lock and rewrites the table.
    type: bool
    default: false
  tables:
    description:
      - Only these tables, as C(schema.table) or C(table) (schema C(public)), taken exactly as written
        (case-sensitive, spaces allowed). Wrap a part in double quotes only when it contains a dot.
      - Listed tables get every requested operation without thresholds; with C(reindex) that is
        REINDEX TABLE CONCURRENTLY. An unknown table fails the task.
    type: list
    elements: str
    default: []
  indexes:
    description:
      - Only these indexes (C(schema.index) or C(index)), reindexed concurrently without thresholds when
        O(operations) contains C(reindex). An unknown index fails the task.
    type: list
    elements: str
    default: []
  schemas:
    description:
      - Only tables and indexes in these schemas. All user schemas when empty.
    type: list
    elements: str
    default: []
  autovacuum_rule:
    description:
      - Apply autovacuum's own rules (threshold + scale_factor x reltuples, with the table's reloptions
        overriding the server settings) for VACUUM and ANALYZE.
    type: bool
    default: true
  dead_tuple_ratio:
    description:
      - VACUUM when dead / (live + dead) tuples reaches this share (0 to 1) and there are at least
        O(min_dead_tuples) dead tuples.
    type: float
    default: 0.2
  min_dead_tuples:
    description:
      - Fewest dead tuples for the O(dead_tuple_ratio) rule.
    type: int
    default: 1000
  vacuum_max_age_hours:
    description:
      - VACUUM a table with dead tuples whose last (auto)vacuum is older than this. Disabled when not set.
    type: float
  analyze_max_age_hours:
    description:
      - ANALYZE a table with modified rows whose last (auto)analyze is older than this. Disabled when not set.
    type: float
  index_bloat_ratio:
    description:
      - REINDEX when the estimated btree bloat (0 to 1) reaches this share.
    type: float
    default: 0.3
  min_index_size:
    description:
      - Smallest index, in bytes, considered for REINDEX by bloat.
    type: int
    default: 1048576
  table_bloat_ratio:
    description:
      - VACUUM FULL when the estimated table bloat (0 to 1) reaches this share.
    type: float
    default: 0.5
  min_table_size:
    description:
      - Smallest table (main fork, bytes) considered for VACUUM FULL.
    type: int
    default: 1048576
  reindex_database:
    description:
      - Rebuild every index of the database regardless of estimated bloat (needs C(reindex) in O(operations);
        not combinable with O(tables) or O(indexes); O(schemas) still limits it). The same coverage as
        C(REINDEX DATABASE CONCURRENTLY) (user indexes and the TOAST indexes of user tables; system
        catalogs cannot be reindexed concurrently and are left out; indexes of exclusion constraints cannot
        either and are skipped), run as one C(REINDEX INDEX CONCURRENTLY) per index, because the single
        database-wide statement would wait on every lock with no retry, stop at the first error leaving INVALID
        C(*_ccnew) copies behind, and report nothing per index. Per index, each statement gets O(lock_timeout)
        with O(lock_retries), a failure costs only that index (its INVALID copy is dropped at once), sizes are
        reported per index, and check mode lists every statement. INVALID indexes are not rebuilt (leftovers of
        failed runs are dropped by C(drop_invalid_indexes)); indexes of tables rewritten by C(vacuum_full) in
        the same run are left out (VACUUM FULL rebuilds them).
      - Like the server's command, every statement runs outside a transaction (autocommit).
    type: bool
    default: false
  lock_timeout:
    description:
      - Session lock_timeout in seconds for every statement; a statement waiting longer for a lock is
        cancelled and retried.
    type: float
    default: 2
  statement_timeout:
    description:
      - Session statement_timeout in seconds; 0 disables it. A statement cancelled by it fails (critical).
    type: float
    default: 0
  lock_retries:
    description:
      - Attempts per statement when it hits the lock_timeout (at least 1).
    type: int
    default: 3
  retry_backoff:
    description:
      - First sleep in seconds between attempts; doubled after each attempt.
    type: float
    default: 1
attributes:
  check_mode:
    support: full
    details: Reads the statistics and returns the plan (every statement and its reason) in RV(plan); runs nothing.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.postgres]
notes:
  - Check mode reads the statistics and returns the plan (the exact SQL statements and the reason for
    each) in RV(plan); it runs nothing and C(changed) is false.
  - C(changed) is true only when at least one statement ran successfully.
  - The login role must own the tables (or be a superuser) to vacuum and reindex them.
seealso:
  - module: runbook.ops.pg_diagnostics
  - module: runbook.ops.pg_terminate
"""

EXAMPLES = r"""
- name: Weekly run, analyze and vacuum where needed
  runbook.ops.pg_maintenance:
    login_host: db.internal
    login_user: maintenance
    login_password: "{{ vault_pg_maintenance_password }}"
    database: finchat
  register: maintenance

- name: Monthly run inside the maintenance window
  runbook.ops.pg_maintenance:
    database: finchat
    operations: [vacuum, analyze, reindex, vacuum_full, drop_invalid_indexes]
    maintenance_window: true
    index_bloat_ratio: 0.4

- name: Rebuild every index of the database, one REINDEX INDEX CONCURRENTLY at a time
  runbook.ops.pg_maintenance:
    database: finchat
    operations: [reindex, drop_invalid_indexes]
    reindex_database: true
    lock_timeout: 1
    lock_retries: 5

- name: Rebuild one index, show the plan only
  runbook.ops.pg_maintenance:
    database: finchat
    operations: [reindex]
    indexes: [public.idx_filings_cik_date]
  check_mode: true
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: ok
severity:
  description: P0 when the server is unreachable, P1 when a statement failed, P2 when an object was skipped, else P3.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "pg_maintenance: 3 checks ok"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: >-
    C(postgres.maintenance) (value holds the counts), then C(postgres.<action>.<schema>.<name>) per object,
    or C(postgres.connection) when the server cannot be reached.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: postgres.vacuum_analyze.public.orders
    status:
      description: C(ok) done (or planned in check mode), C(warning) skipped because locked, C(critical) failed.
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: Statement, duration, sizes and reason, or the error.
      type: str
    value:
      description: Size after the statement in bytes for done actions; counts for C(postgres.maintenance).
      type: raw
    threshold:
      description: Not used.
      type: raw
metrics:
  description: >-
    C(pg_maintenance_actions{database,status}), C(pg_maintenance_reclaimed_bytes{database}),
    C(pg_maintenance_duration_seconds{database}); in check mode C(pg_maintenance_planned_actions{database}).
  returned: always
  type: dict
plan:
  description: The planned statements, in the order they run (also outside check mode).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: C(table) or C(index).
      type: str
    action:
      description: >-
        C(vacuum), C(analyze), C(vacuum_analyze), C(vacuum_full), C(vacuum_full_analyze), C(reindex_index),
        C(reindex_table) or C(drop_invalid_index).
      type: str
    schema:
      description: Schema of the object.
      type: str
    name:
      description: Table or index name.
      type: str
    table:
      description: The table (of the index).
      type: str
    reason:
      description: Why the action was chosen.
      type: str
      sample: "dead tuple ratio 45.0% >= 20.0%"
    sql:
      description: The exact statement, identifiers quoted.
      type: str
      sample: VACUUM (ANALYZE) "public"."orders"
actions:
  description: What ran (empty in check mode); the plan entries plus the outcome.
  returned: always
  type: list
  elements: dict
  contains:
    status:
      description: C(done), C(skipped) (still locked after the retries) or C(failed).
      type: str
    error:
      description: First line of the error when not done.
      type: str
    attempts:
      description: Attempts made.
      type: int
    duration_seconds:
      description: Wall time of the statement including retries.
      type: float
    size_before:
      description: pg_total_relation_size (tables) or pg_relation_size (indexes) before, in bytes.
      type: int
    size_after:
      description: The same size after, in bytes.
      type: int
changed:
  description: True when at least one statement ran successfully.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec, maintenance_plan, maintenance_runner

OPTIONS = dict(
    operations=dict(type="list", elements="str", default=list(maintenance_plan.DEFAULT_OPERATIONS),
                    choices=list(maintenance_plan.OPERATIONS)),
    maintenance_window=dict(type="bool", default=False),
    tables=dict(type="list", elements="str", default=[]),
    indexes=dict(type="list", elements="str", default=[]),
    schemas=dict(type="list", elements="str", default=[]),
    autovacuum_rule=dict(type="bool", default=True),
    dead_tuple_ratio=dict(type="float", default=0.2),
    min_dead_tuples=dict(type="int", default=1000),
    vacuum_max_age_hours=dict(type="float"),
    analyze_max_age_hours=dict(type="float"),
    index_bloat_ratio=dict(type="float", default=0.3),
    min_index_size=dict(type="int", default=1048576),
    table_bloat_ratio=dict(type="float", default=0.5),
    min_table_size=dict(type="int", default=1048576),
    reindex_database=dict(type="bool", default=False),
    lock_timeout=dict(type="float", default=2),
    statement_timeout=dict(type="float", default=0),
    lock_retries=dict(type="int", default=3),
    retry_backoff=dict(type="float", default=1),
)


def main() -> None:
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec.module_argspec(OPTIONS))
    maintenance_runner.run(module)


if __name__ == "__main__":
    main()
