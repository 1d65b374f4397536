#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: pg_restore
short_description: Restore a verified pg_backup archive into a new or empty database, optionally swapping it in
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Reads the backup's manifest and checks the archive's SHA-256 (or every file's, for a directory
    backup) against it BEFORE touching any database. A missing manifest or a checksum mismatch fails
    the task and nothing is changed.
  - Without O(swap), restores into O(target), creating it when it does not exist. An existing target
    must be empty; a non-empty one is refused unless O(force), which drops and recreates it.
  - With O(swap=true), restores into a new database C(<target>_restore_<UTC stamp>), compares the row
    counts, and only when they match renames the current O(target) to C(<target>_before_<UTC stamp>)
    (kept, for rollback) and the new database to O(target). Open connections to the old database
    refuse the swap before anything is done, unless O(force), which terminates them.
  - Runs C(pg_restore -j O(jobs)). A compressed custom archive is decompressed to a temp file in
    O(work_dir) first, because C(pg_restore -j) needs a seekable file, and the data files of a zstd
    directory backup into a temp directory; the checksums are checked at the same time, after the
    target was inspected and the plan accepted (a refused plan costs no decompression) and before any
    database is touched. The temp file or directory is always removed.
  - Afterwards compares every table's row count with the manifest; a difference is a critical check
    (and with O(swap) the swap is not done). The restored tables are fresh, so the server's statistics
    of inserted rows give their exact counts without scanning them; any table whose statistics do not
    equal the manifest is counted with C(count(*)) before it is reported.
  - Puts back the database's own settings recorded in the manifest, which C(pg_restore) without C(-C)
    leaves out - the encoding, collation and ctype when it creates the database, then the owner, the
    ACL, the comment, the connection limit and the C(ALTER DATABASE ... SET) and
    C(ALTER ROLE ... IN DATABASE ... SET) settings (also with O(swap)). A role missing on this server
    is skipped with a warning (see O(restore_globals)); with O(no_owner) the owner and ACL are left as they are.
  - When any step fails (pg_restore, the row counts, the settings, the swap), what the task made is
    removed again - a database it created is dropped, an existing empty target is emptied (created
    again with its own settings), a half-done swap is renamed back, roles it created are dropped -
    and the task fails.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.s3.backup_suboptions
  - runbook.ops.postgres
options:
  database:
    description:
      - Maintenance database to connect to for C(CREATE DATABASE), renames and drops.
    type: str
    default: postgres
  backup:
    description:
      - Path of the backup archive (file or directory) or of its C(.manifest.json); with O(s3), the backup's name on S3.
    type: path
    required: true
  s3:
    description:
      - Restore a backup uploaded by M(runbook.ops.s3_backup). O(backup) is then the backup's name on S3
        (C(<kind>/<file>), as in its manifest), and it is first downloaded into O(download_dir) with every
        SHA-256 checked against the manifest (a backup without a manifest on S3 is refused).
  download_dir:
    description:
      - Local backup directory the S3 backup is downloaded into (C(<download_dir>/<kind>/<file>)); required with O(s3).
    type: path
  target:
    description:
      - Name of the database to restore into (with O(swap), the name the restored database ends up with).
    type: str
    required: true
  swap:
    description:
      - Restore into a new database and swap it in by rename (see description).
    type: bool
    default: false
  force:
    description:
      - Without O(swap), allow dropping and recreating a non-empty O(target). With O(swap), terminate
        the connections to the old database before renaming it.
    type: bool
    default: false
  jobs:
    description:
      - Parallel pg_restore workers.
    type: int
    default: 2
  work_dir:
    description:
      - Directory for the decompressed temp file (or directory). Defaults to the archive's directory.
    type: path
  no_owner:
    description:
      - Restore without ownership and privileges (C(--no-owner --no-privileges)), for a server without the original roles.
    type: bool
    default: false
  restore_globals:
    description:
      - Before restoring, create the roles of the backup's globals file (written by
        M(runbook.ops.pg_backup)'s O(runbook.ops.pg_backup#module:globals)) that this server lacks, with their
        attributes, comments, settings and memberships, in one transaction; existing roles are left
        untouched. For a restore onto a new server. The file's checksum is checked first; tablespaces
        are not created (a warning says so). Roles created by a restore that then fails are dropped again.
    type: bool
    default: false
  pg_restore_path:
    description:
      - Path of the pg_restore binary. Defaults to C(pg_restore) on PATH, else the newest C(/usr/lib/postgresql/*/bin/pg_restore).
    type: path
attributes:
  check_mode:
    support: full
    details: Reads the manifest, checks the archive's checksum (or, with O(s3), the manifest on S3), inspects the
      target and returns the plan; downloads, creates and restores nothing.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.postgres, runbook.ops.backup]
notes:
  - Check mode verifies the checksum, inspects the target and returns the plan; it changes nothing. With O(s3)
    it reads the manifest on S3 but downloads nothing.
  - Stop the writers before restoring (playbooks/restore.yml does).
requirements:
  - pg_restore, and zstd or gzip for compressed archives, on the host that runs the module.
seealso:
  - module: runbook.ops.pg_backup
"""

EXAMPLES = r"""
- name: Restore last night's backup in place of the live database
  runbook.ops.pg_restore:
    login_host: 127.0.0.1
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    backup: /var/backups/postgres/daily/finchat-20261122T020000Z.dump.zst
    target: finchat
    swap: true
    force: true
    jobs: 4

- name: Restore into a fresh database for inspection
  runbook.ops.pg_restore:
    login_unix_socket: /var/run/postgresql
    backup: /var/backups/postgres/daily/finchat-20261122T020000Z.dump.zst.manifest.json
    target: finchat_inspect
"""

RETURN = r"""
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: C(critical) when the restored row counts differ from the manifest.
  returned: always
  type: str
  sample: ok
severity:
  description: P1 for a critical check, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "restore: 4 checks ok"
checks:
  description: >-
    C(restore.<target>.checksum), C(restore.<target>.plan) (check mode), C(restore.<target>.globals)
    (with O(restore_globals)), C(restore.<target>.pg_restore) (value seconds),
    C(restore.<target>.database_settings) (a warning for what could not be put back),
    C(restore.<target>.row_counts), C(restore.<target>.swap) (with O(swap)).
  returned: always
  type: list
  elements: dict
metrics:
  description: C(backup_restore_seconds{database=<target>}) when a restore ran.
  returned: always
  type: dict
plan:
  description: The steps done (or, in check mode, that would be done).
  returned: always
  type: list
  elements: str
restored_database:
  description: Database that holds the restored data (O(target), or the C(_restore_) name when the swap was not done).
  returned: when a restore ran
  type: str
downloaded:
  description: Local path of the archive downloaded from S3 (to be) restored.
  returned: when O(s3) is set
  type: str
previous_database:
  description: Name the old O(target) was renamed to by the swap.
  returned: when a swap renamed an existing database
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import restore_runner


def main() -> None:
    spec = argspec.extend(argspec.postgres_argspec(), dict(
        backup=dict(type="path", required=True),
        s3=argspec.S3_BACKUP_OPTIONS,
        download_dir=dict(type="path"),
        target=dict(type="str", required=True),
        swap=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        no_owner=dict(type="bool", default=False),
        restore_globals=dict(type="bool", default=False),
        **argspec.restore_options()
    ), required_by={"s3": ["download_dir"]})
    module = AnsibleModule(supports_check_mode=True, **spec)
    restore_runner.run(module)


if __name__ == "__main__":
    main()
