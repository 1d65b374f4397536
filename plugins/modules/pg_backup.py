#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: pg_backup
short_description: Back up a PostgreSQL database with pg_dump, a streamed SHA-256 and a manifest written last
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Runs C(pg_dump) in custom format without compression (C(-Fc -Z0)) piped through C(pzstd) on
    every core (standard zstd frames that C(zstd -d) reads too; C(zstd -T0) where pzstd is absent)
    (or C(gzip), or nothing), reading the pipe in bounded chunks to compute the SHA-256 while
    writing; or in directory format with O(jobs) parallel workers, each data file then compressed
    with zstd, and a checksum per file.
  - The dump, the row counts and the versions all come from one exported snapshot, so the row
    counts in the manifest describe exactly what the dump holds.
  - Writes C(<backup_dir>/<kind>/<database>-<UTC timestamp>.<ext>) (C(dump.zst), C(dump.gz),
    C(dump) or C(dir)) and then, last and by atomic rename, the manifest
    C(<archive>.manifest.json) (database, server and pg_dump versions, format, compression, size,
    sha256 or per-file checksums, start, end, duration, per-table row counts with schema and table
    apart, kind, and the database's own settings - owner, encoding, collation and ctype, ACL,
    comment, connection limit, C(ALTER DATABASE ... SET) and C(ALTER ROLE ... IN DATABASE ... SET)
    settings, which C(pg_restore) without C(-C) leaves out and M(runbook.ops.pg_restore) puts back.
    The manifest is the completion marker.
  - With O(globals) (the default), the cluster's roles, memberships and role settings are written
    beside the archive by C(pg_dumpall --globals-only) as C(<archive>.globals.sql) (mode 0600, no
    role passwords unless O(globals_passwords)), before the manifest, which records its checksum.
  - When pg_dump fails or is killed, the compressor fails or the disk fills up, the partial files
    are removed and the task fails with a clear message; earlier backups are not touched.
  - The password is passed to pg_dump in the environment (C(PGPASSWORD)), never on a command line.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.postgres
options:
  database:
    description:
      - Database to back up. Its name is part of the file name.
    type: str
    default: postgres
  backup_dir:
    description:
      - Directory that holds the backups; C(<kind>/) subdirectories are created in it.
    type: path
    required: true
  kind:
    description:
      - Backup kind, the subdirectory and the retention class (for example C(daily), C(weekly), C(monthly)).
    type: str
    default: daily
  format:
    description:
      - C(custom) (one file, streamed and compressed outside pg_dump) or C(directory) (parallel dump
        into files; large tables restore faster from it, since pg_restore reads their data in large
        blocks instead of one block per row, while thousands of small tables back up and restore
        faster from C(custom)).
    type: str
    choices: [custom, directory]
    default: custom
  compression:
    description:
      - How the archive is compressed. C(zstd) (the default) pipes the custom-format stream through
        zstd, since PostgreSQL 15's pg_dump cannot write zstd; for O(format=directory) pg_dump writes
        the data files uncompressed and each is compressed with zstd on all cores right after the
        dump (C(NNNN.dat.zst)); M(runbook.ops.pg_restore) decompresses them into a temp directory for
        C(pg_restore -j).
        C(gzip) is pg_dump's own compression for O(format=directory), a gzip pipe for O(format=custom).
    type: str
    choices: [zstd, gzip, none]
  jobs:
    description:
      - Parallel pg_dump workers for O(format=directory).
    type: int
    default: 2
  exact_counts:
    description:
      - Count the rows of every table exactly with C(count(*)). When false, the planner's estimate
        (C(reltuples)) is recorded instead, which is fast but cannot be compared exactly on restore.
    type: bool
    default: true
  globals:
    description:
      - Back up the cluster's globals (roles, role memberships, role settings; tablespaces) beside
        the database with C(pg_dumpall --globals-only), for M(runbook.ops.pg_restore)'s O(runbook.ops.pg_restore#module:restore_globals)
        on a new server.
    type: bool
    default: true
  globals_passwords:
    description:
      - Include the roles' password hashes in the globals file. They are secrets, so by default the file
        is written with C(--no-role-passwords), and restored roles get no password.
    type: bool
    default: false
  pg_dumpall_path:
    description:
      - Path of the pg_dumpall binary. Defaults to C(pg_dumpall) on PATH, else the newest C(/usr/lib/postgresql/*/bin/pg_dumpall).
    type: path
  pg_dump_path:
    description:
      - Path of the pg_dump binary. Defaults to C(pg_dump) on PATH, else the newest C(/usr/lib/postgresql/*/bin/pg_dump).
    type: path
attributes:
  check_mode:
    support: full
    details: Checks that pg_dump (and, with O(globals), pg_dumpall) exists and the database answers, and returns the name the backup would have; writes nothing.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.postgres, runbook.ops.backup]
notes:
  - Check mode connects (read-only), reports the path it would write and writes nothing.
  - C(changed) is true when a backup was written (or would be, in check mode).
requirements:
  - pg_dump, and zstd or gzip for those compressions, on the host that runs the module.
seealso:
  - module: runbook.ops.pg_restore
  - module: runbook.ops.backup_verify
  - module: runbook.ops.backup_retention
"""

EXAMPLES = r"""
- name: Daily backup of the app database
  runbook.ops.pg_backup:
    login_host: 127.0.0.1
    login_user: backup
    login_password: "{{ vault_pg_backup_password }}"
    database: finchat
    backup_dir: /var/backups/postgres
    kind: daily
  register: backup

- name: Parallel directory-format dump
  runbook.ops.pg_backup:
    login_unix_socket: /var/run/postgresql
    database: finchat
    backup_dir: /var/backups/postgres
    kind: weekly
    format: directory
    jobs: 4
"""

RETURN = r"""
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: C(ok) when the backup was written.
  returned: always
  type: str
  sample: ok
severity:
  description: P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "backup: 1 check ok"
checks:
  description: C(backup.<database>.dump) with the path and size.
  returned: always
  type: list
  elements: dict
metrics:
  description: C(backup_size_bytes) and C(backup_duration_seconds) labelled with database and kind (not in check mode).
  returned: always
  type: dict
path:
  description: Path of the archive (file or directory), written or to be written.
  returned: always
  type: str
  sample: /var/backups/postgres/daily/finchat-20261122T020000Z.dump.zst
manifest_path:
  description: Path of the manifest.
  returned: always
  type: str
  sample: /var/backups/postgres/daily/finchat-20261122T020000Z.dump.zst.manifest.json
name:
  description: The backup's name relative to O(backup_dir).
  returned: always
  type: str
  sample: daily/finchat-20261122T020000Z.dump.zst
manifest:
  description: The manifest written (not in check mode).
  returned: when a backup was written
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import dump_runner


def main() -> None:
    spec = argspec.postgres_argspec(
        backup_dir=dict(type="path", required=True),
        kind=dict(type="str", default="daily"),
        format=dict(type="str", choices=["custom", "directory"], default="custom"),
        compression=dict(type="str", choices=["zstd", "gzip", "none"]),
        jobs=dict(type="int", default=2),
        exact_counts=dict(type="bool", default=True),
        pg_dump_path=dict(type="path"),
        globals=dict(type="bool", default=True),
        globals_passwords=dict(type="bool", default=False, no_log=False),
        pg_dumpall_path=dict(type="path"),
    )
    module = AnsibleModule(supports_check_mode=True, **spec)
    dump_runner.run(module)


if __name__ == "__main__":
    main()
