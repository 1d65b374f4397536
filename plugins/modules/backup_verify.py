#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: backup_verify
short_description: Check that database backups are fresh, intact and restorable, and measure the RTO
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Looks at the backups written by M(runbook.ops.pg_backup) and the archives written by
    M(runbook.ops.file_archive) under O(backup_dir).
  - Freshness, per kind listed in O(max_age_hours) and per database, of the newest complete backup
    (one with a manifest) - the daily one younger than 26 hours by default. An older backup, or none at
    all, is critical.
  - Checksum verification of the newest complete backup of every kind against its manifest; a mismatch
    or a damaged manifest is critical.
  - With O(test_restore), the newest verified backup of each database is restored with C(pg_restore -j)
    into a scratch database, its row counts are compared with the manifest, the O(smoke_queries) run in
    it, and the scratch database is dropped again whatever happens. The scratch database has the source
    database's encoding, collation and ctype as the manifest records them; on a server that lacks that
    locale it gets the server's defaults and a warning check C(backup.<database>.collation) says so. The time the restore took (checksum
    and decompression included, as in a real restore) is reported as the measured RTO, metric
    C(backup_restore_seconds). A file archive's test restore reads
    every member back through the decompressor and compares its SHA-256 with the manifest, writing nothing.
  - Problems are checks in the result (it feeds the daily health check), not task failures; C(changed)
    is always false.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.postgres
options:
  database:
    description:
      - Maintenance database to connect to for creating and dropping the scratch database (O(test_restore)).
    type: str
    default: postgres
  backup_dir:
    description:
      - Directory holding the C(<kind>/) subdirectories.
      - When it does not exist, is not a directory or cannot be listed, the result is a critical
        C(backup.dir) check (P0), not a task failure.
    type: path
    required: true
  backup_database:
    description:
      - Only look at backups of this database. Defaults to all databases found.
    type: str
  max_age_hours:
    description:
      - Kinds whose freshness is checked, with the age in hours beyond which the newest backup is critical.
        A listed kind without any complete backup is critical.
    type: dict
    default: {daily: 26}
  verify_checksums:
    description:
      - Check the newest complete backup of every kind against its manifest.
    type: bool
    default: true
  test_restore:
    description:
      - Restore the newest verified backup of each database into a scratch database and compare it with the manifest.
    type: bool
    default: false
  scratch_database:
    description:
      - Name of the scratch database. Defaults to C(<database>_verify_<UTC stamp>). It must not exist.
    type: str
  smoke_queries:
    description:
      - Queries run in the scratch database after the restore; each must succeed. The first column of the first row
        is reported.
    type: list
    elements: str
    default: []
  jobs:
    description:
      - Parallel pg_restore workers.
    type: int
    default: 2
  work_dir:
    description:
      - Directory for the decompressed temp file (or directory) of the test restore. Defaults to the
        archive's directory.
    type: path
  no_owner:
    description:
      - Test restore without ownership and privileges.
    type: bool
    default: true
  pg_restore_path:
    description:
      - Path of the pg_restore binary.
    type: path
attributes:
  check_mode:
    support: full
    details: Runs the freshness and checksum checks; the test restore is not run in check mode (it would create a scratch database).
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.postgres, runbook.ops.backup]
notes:
  - Check mode runs the freshness and checksum checks but no test restore (it would create a database).
seealso:
  - module: runbook.ops.pg_backup
  - module: runbook.ops.pg_restore
"""

EXAMPLES = r"""
- name: Daily backup verification with a test restore
  runbook.ops.backup_verify:
    login_unix_socket: /var/run/postgresql
    backup_dir: /var/backups/postgres
    max_age_hours: {daily: 26, weekly: 192}
    test_restore: true
    smoke_queries:
      - SELECT count(*) FROM filings WHERE created_at > now() - interval '7 days'
  register: backups
"""

RETURN = r"""
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: ok
severity:
  description: P0 when the server for the test restore is unreachable, P1 for other critical checks, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "backup: backup.finchat.daily.freshness newest daily backup at 30h (critical >= 26h)"
checks:
  description: >-
    C(backup.<db>.<kind>.freshness), C(backup.<db>.<kind>.checksum), and with O(test_restore)
    C(backup.<db>.restore), C(backup.<db>.row_counts), C(backup.<db>.smoke.<n>); C(backup.<kind>.freshness)
    when a kind has no backup at all.
  returned: always
  type: list
  elements: dict
metrics:
  description: >-
    C(backup_age_seconds), C(backup_size_bytes) and C(backup_verified) labelled with database and kind;
    C(backup_restore_seconds{database}) (the measured RTO) after a test restore.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import verify_runner


def main() -> None:
    spec = argspec.postgres_argspec(
        backup_dir=dict(type="path", required=True),
        backup_database=dict(type="str"),
        max_age_hours=dict(type="dict", default={"daily": 26}),
        verify_checksums=dict(type="bool", default=True),
        test_restore=dict(type="bool", default=False),
        scratch_database=dict(type="str"),
        smoke_queries=dict(type="list", elements="str", default=[]),
        no_owner=dict(type="bool", default=True),
        **argspec.restore_options()
    )
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **spec)
    verify_runner.run(module)


if __name__ == "__main__":
    main()
