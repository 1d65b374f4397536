#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: file_archive
short_description: Archive config, cache, logs and live SQLite databases with checksums, or restore such an archive
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - With O(state=archived), writes a tar of O(paths) compressed with C(zstd) (the binary, through a pipe,
    no shell) or C(gzip), leaving out what matches O(exclude), to
    C(<backup_dir>/<kind>/<name>-<UTC timestamp>.tar.zst) (C(.tar.gz), C(.tar)).
  - The SHA-256 of every file is computed while it is archived and the SHA-256 of the archive while it is
    written. The manifest C(<archive>.manifest.json), in the same schema as M(runbook.ops.pg_backup)'s (format
    C(tar), its C(database) field holding O(name)), is written last by atomic rename as the completion marker,
    so M(runbook.ops.backup_verify), M(runbook.ops.backup_retention) and M(runbook.ops.s3_backup) handle file
    archives like database backups.
  - SQLite databases (listed in O(sqlite_databases), or found among the files by their header with
    O(detect_sqlite)) are copied with SQLite's online backup API, so the copy is consistent while the
    application writes; the copy must pass C(PRAGMA integrity_check) and its row counts are recorded. Their
    C(-wal), C(-shm) and C(-journal) files are not archived.
  - If anything fails (an unreadable file, the compressor, a full disk), the partial archive is removed and the
    task fails with a clear message; no manifest is written and earlier archives are not touched.
  - With O(state=restored), verifies the archive's SHA-256 against its manifest before touching anything, then
    extracts it into O(dest), checking every file's SHA-256 while writing into a staging directory next to
    O(dest); only a complete, matching extraction is moved into place. A non-empty O(dest) is refused unless
    O(force). Restored SQLite databases are checked again (integrity and row counts).
extends_documentation_fragment:
  - runbook.ops.attributes
options:
  state:
    description:
      - C(archived) writes a new archive; C(restored) extracts one.
    type: str
    choices: [archived, restored]
    default: archived
  name:
    description:
      - Name of the archive set, part of the file name (for example C(finchat-files)).
    type: str
    default: files
  paths:
    description:
      - Files and directories to archive (directories recursively). Required with O(state=archived).
    type: list
    elements: path
    default: []
  exclude:
    description:
      - Shell globs; a file or directory is left out when a glob matches its absolute path, its path
        without the leading slash, or its base name (for example C(*.tmp), C(__pycache__), C(/var/log/app/*.gz)).
    type: list
    elements: str
    default: []
  sqlite_databases:
    description:
      - SQLite database files to copy with the online backup API (they are archived even when outside O(paths)).
    type: list
    elements: path
    default: []
  detect_sqlite:
    description:
      - Treat every file under O(paths) that starts with the SQLite header as a database to copy with the backup API.
    type: bool
    default: true
  sqlite_timeout:
    description:
      - Seconds to wait for a SQLite lock held by the application before giving up.
    type: float
    default: 30
  ignore_missing:
    description:
      - Skip paths that do not exist (reported as a warning) instead of failing.
    type: bool
    default: false
  compression:
    description:
      - C(zstd) (default, multithreaded), C(gzip) or C(none).
    type: str
    choices: [zstd, gzip, none]
    default: zstd
  backup_dir:
    description:
      - Directory holding the C(<kind>/) subdirectories. Required with O(state=archived).
    type: path
  kind:
    description:
      - Backup kind, the subdirectory and the retention class.
    type: str
    default: monthly
  work_dir:
    description:
      - Directory for the temporary SQLite copies. Defaults to the archive's directory.
    type: path
  backup:
    description:
      - With O(state=restored), the archive or its manifest.
    type: path
  dest:
    description:
      - With O(state=restored), the directory to extract into; member C(etc/app/x.yml) lands in C(<dest>/etc/app/x.yml).
    type: path
  force:
    description:
      - Restore into a non-empty O(dest), replacing the files the archive holds.
    type: bool
    default: false
  restore_owner:
    description:
      - Restore file owners (only when running as root).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Walks the paths and reports what would be archived, or verifies the archive and reports what would be extracted; writes nothing.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.backup]
notes:
  - Check mode with O(state=archived) walks the paths and returns what would be archived, writing nothing.
  - Check mode with O(state=restored) verifies the checksum and returns what would be extracted.
  - C(changed) is true when an archive was written or extracted (or would be, in check mode); a new archive
    each run is a change.
requirements:
  - C(zstd) or C(gzip) on the host that runs the module for those compressions; Python's C(sqlite3) module for SQLite databases.
seealso:
  - module: runbook.ops.pg_backup
  - module: runbook.ops.backup_verify
  - module: runbook.ops.backup_retention
  - module: runbook.ops.s3_backup
"""

EXAMPLES = r"""
- name: Monthly archive of config, cache, logs and the SQLite database
  runbook.ops.file_archive:
    name: finchat-files
    paths:
      - /app/config
      - /root/.cache/finchat_sec_qa
      - /var/log/finchat
      - /app/data/finchat.db
    exclude: ["*.tmp", "__pycache__"]
    backup_dir: /var/backups/files
    kind: monthly
  register: archive

- name: Restore the configuration into a staging directory
  runbook.ops.file_archive:
    state: restored
    backup: "{{ archive.path }}"
    dest: /srv/restore/finchat
"""

RETURN = r"""
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: C(ok), or C(warning) when a file changed while it was read or a path was missing.
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
  sample: "files: 2 checks ok"
checks:
  description: >-
    C(files.<name>.archive) (or C(files.<name>.restore) and C(files.<name>.checksum)),
    C(files.<name>.sqlite.<member>) per SQLite database, C(files.<name>.warnings) when there are any.
  returned: always
  type: list
  elements: dict
metrics:
  description: C(backup_size_bytes), C(backup_duration_seconds) and C(backup_files) labelled with database (the name) and kind.
  returned: always
  type: dict
path:
  description: The archive written (or to be written), or restored.
  returned: always
  type: str
  sample: /var/backups/files/monthly/finchat-files-20261101T020000Z.tar.zst
manifest_path:
  description: Path of the manifest.
  returned: always
  type: str
  sample: /var/backups/files/monthly/finchat-files-20261101T020000Z.tar.zst.manifest.json
name:
  description: The archive's name relative to O(backup_dir).
  returned: with state=archived
  type: str
  sample: monthly/finchat-files-20261101T020000Z.tar.zst
manifest:
  description: The manifest written, or the one restored from.
  returned: when an archive was written or restored
  type: dict
members:
  description: Member paths archived (or that would be, in check mode), at most 1000.
  returned: with state=archived
  type: list
  elements: str
excluded:
  description: Paths left out by O(exclude), with the glob that matched, at most 1000.
  returned: with state=archived
  type: list
  elements: dict
sqlite:
  description: SQLite databases copied with the backup API (or found, in check mode).
  returned: with state=archived
  type: list
  elements: str
restored:
  description: Counts of files, directories, symlinks and bytes extracted.
  returned: with state=restored, not in check mode
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.backup import files_restore_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import files_runner


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["archived", "restored"], default="archived"),
            name=dict(type="str", default="files"),
            paths=dict(type="list", elements="path", default=[]),
            exclude=dict(type="list", elements="str", default=[]),
            sqlite_databases=dict(type="list", elements="path", default=[]),
            detect_sqlite=dict(type="bool", default=True),
            sqlite_timeout=dict(type="float", default=30),
            ignore_missing=dict(type="bool", default=False),
            compression=dict(type="str", choices=["zstd", "gzip", "none"], default="zstd"),
            backup_dir=dict(type="path"),
            kind=dict(type="str", default="monthly"),
            work_dir=dict(type="path"),
            backup=dict(type="path"),
            dest=dict(type="path"),
            force=dict(type="bool", default=False),
            restore_owner=dict(type="bool", default=True),
        ),
        required_if=[("state", "archived", ["backup_dir"]), ("state", "restored", ["backup", "dest"])],
        supports_check_mode=True,
    )
    runner = files_runner if module.params["state"] == "archived" else files_restore_runner
    runner.run(module)


if __name__ == "__main__":
    main()
