#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: backup_retention
short_description: Delete old database backups by age and count per kind, never the newest verified one
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Lists the backups written by M(runbook.ops.pg_backup) under O(backup_dir) (C(<kind>/<database>-<stamp>.<ext>)
    with their manifests) and deletes those that fall outside the retention O(rules) of their kind.
  - A complete backup (its manifest exists) is deleted when it is older than C(keep_days) or is not among
    the C(keep_count) newest complete backups of its kind and database; both apply when both are set.
  - An incomplete backup (no manifest, or a C(.partial) leftover) is deleted once it is older than the newest
    complete backup of its kind; a newer one may still be being written and is kept.
  - Whatever the rules say, the newest verified backup of every kind and database is never deleted. A backup
    is verified when its manifest exists and the archive's checksums match it (O(verify_checksums)); a corrupt
    backup never protects anything, so when the newest backup is corrupt the newest verified one survives.
  - Kinds that have no rule are kept.
  - A O(backup_dir) that does not exist yet holds no backups (an ok result); a path that is not a directory fails.
  - Corrupt backups are reported as a warning check C(retention.<kind>.corrupt).
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.s3.backup_suboptions
options:
  backup_dir:
    description:
      - Directory holding the C(<kind>/) subdirectories. At least one of O(backup_dir) and O(s3) is required.
    type: path
  s3:
    description:
      - Also (or only) apply the rules to the backups uploaded by M(runbook.ops.s3_backup) under
        C(s3://<bucket>/<prefix>/<kind>/). The S3 copies are judged on their own, so the newest verified
        backup on S3 survives too.
      - On S3 a backup is verified when its manifest is valid and its objects match it (sizes, and the
        SHA-256 recorded at upload for a custom archive); objects are not downloaded.
  rules:
    description:
      - "Retention per kind: a mapping of kind to C(keep_days) and/or C(keep_count); either key may be omitted or null."
      - Defaults to C(daily) 30 days, C(weekly) 90 days, C(monthly) the 12 newest.
    type: dict
  database:
    description:
      - Only consider backups of this database. Defaults to all databases found.
    type: str
  verify_checksums:
    description:
      - Read every complete backup and check it against its manifest, so that the protected backup is one
        that is known to be restorable. When false, complete backups count as unchecked (and the newest
        unchecked one is protected).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Lists what would be kept and deleted, with the reasons; deletes nothing.
  diff_mode:
    support: full
    details: The backups before and after, one name a line.
  action_group:
    support: full
    membership: [runbook.ops.backup]
notes:
  - Check mode lists what would be deleted and deletes nothing. With C(--diff) the before and after lists are shown.
seealso:
  - module: runbook.ops.pg_backup
  - module: runbook.ops.backup_verify
"""

EXAMPLES = r"""
- name: The same rules for the copies on S3
  runbook.ops.backup_retention:
    backup_dir: /var/backups/postgres
    rules: "{{ backup_retention_rules }}"
    s3:
      bucket: finchat-backups
      prefix: postgres
      access_key: "{{ vault_s3_access_key }}"
      secret_key: "{{ vault_s3_secret_key }}"

- name: Daily 30 days, weekly 90 days, monthly the newest 12
  runbook.ops.backup_retention:
    backup_dir: /var/backups/postgres
    rules:
      daily: {keep_days: 30}
      weekly: {keep_days: 90}
      monthly: {keep_count: 12}
  register: retention
"""

RETURN = r"""
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: C(warning) when corrupt backups were found, else C(ok).
  returned: always
  type: str
  sample: ok
severity:
  description: P2 for a warning, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "retention: 2 checks ok"
checks:
  description: C(retention.<kind>) per kind found (kept and deleted counts), C(retention.<kind>.corrupt) when corrupt backups exist.
  returned: always
  type: list
  elements: dict
metrics:
  description: C(backup_retention_kept{kind}) and C(backup_retention_deleted{kind}).
  returned: always
  type: dict
kept:
  description: Backups kept, relative to O(backup_dir), oldest first.
  returned: always
  type: list
  elements: str
deleted:
  description: Backups deleted (or that would be, in check mode), oldest first.
  returned: always
  type: list
  elements: str
reasons:
  description: Why each backup is kept or deleted.
  returned: always
  type: dict
s3_kept:
  description: Backups kept on S3 (names relative to the prefix), oldest first.
  returned: when O(s3) is set
  type: list
  elements: str
s3_deleted:
  description: Backups deleted from S3 (or that would be, in check mode), oldest first.
  returned: when O(s3) is set
  type: list
  elements: str
s3_reasons:
  description: Why each S3 backup is kept or deleted.
  returned: when O(s3) is set
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import retention_runner


def main() -> None:
    spec = dict(
        argument_spec=dict(
            backup_dir=dict(type="path"),
            s3=argspec.S3_BACKUP_OPTIONS,
            rules=dict(type="dict"),
            database=dict(type="str"),
            verify_checksums=dict(type="bool", default=True),
        ),
        required_one_of=[("backup_dir", "s3")],
    )
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **spec)
    retention_runner.run(module)


if __name__ == "__main__":
    main()
