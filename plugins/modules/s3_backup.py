#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: s3_backup
short_description: Upload a verified pg_backup backup to S3, or download one and verify it
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - O(mode=upload) checks the local backup against its manifest first (a corrupt backup is never
    uploaded), then streams the archive to C(s3://<bucket>/<prefix>/<kind>/<name>) with SHA-256
    checksums (C(ChecksumAlgorithm=SHA256)) through boto3's transfer manager; a file larger than O(part_size_mb)
    goes as a multipart upload of O(concurrency) parts at a time, and only about that many parts are in memory at
    once (O(concurrency) x O(part_size_mb), plus one read ahead), with optional server-side encryption and storage class. The
    manifest is uploaded LAST; on S3 too a backup without its manifest is incomplete. A failed
    multipart upload is aborted and no manifest is written.
  - When the same backup (same checksums) is already on S3 nothing is uploaded and C(changed) is false;
    a different backup under the same name is refused unless O(overwrite).
  - O(mode=download) reads the manifest from S3 (refusing a backup without one), streams every object
    to a C(.partial) file while hashing it, checks the SHA-256 against the manifest, renames it into
    place and writes the local manifest last. A mismatch fails and leaves nothing behind.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.s3
options:
  mode:
    description:
      - C(upload) a local backup or C(download) one.
    type: str
    choices: [upload, download]
    required: true
  backup:
    description:
      - With O(mode=upload), the path of the local archive (file or directory) or of its manifest.
    type: path
  name:
    description:
      - With O(mode=download), the backup's name relative to the backup directory, as in the manifest,
        for example C(daily/finchat-20261122T020000Z.dump.zst).
    type: str
  backup_dir:
    description:
      - With O(mode=download), the local backup directory to download into (C(<backup_dir>/<name>)).
    type: path
  prefix:
    description:
      - Key prefix in the bucket.
    type: str
    default: ""
  part_size_mb:
    description:
      - Size of a multipart upload part in MiB (at least 5). Files up to this size are sent in one PUT.
    type: int
    default: 16
  concurrency:
    description:
      - Parts of a multipart upload sent at the same time (and ranged GETs of a download).
    type: int
    default: 4
  sse:
    description:
      - Server-side encryption.
    type: str
    choices: [AES256, "aws:kms"]
  sse_kms_key_id:
    description:
      - KMS key for O(sse=aws:kms).
    type: str
  storage_class:
    description:
      - Storage class of the uploaded objects, for example C(STANDARD_IA) or C(GLACIER_IR).
    type: str
  overwrite:
    description:
      - Replace a different backup of the same name (on S3 when uploading, locally when downloading).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads the manifests (local and on S3) and reports what would be transferred; transfers nothing.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.backup, runbook.ops.s3]
notes:
  - Check mode reads the manifests (local and on S3) and reports what would be transferred.
seealso:
  - module: runbook.ops.pg_backup
  - module: runbook.ops.pg_restore
"""

EXAMPLES = r"""
- name: Offload last night's backup
  runbook.ops.s3_backup:
    mode: upload
    backup: "{{ backup.path }}"
    bucket: finchat-backups
    prefix: postgres
    sse: AES256
    storage_class: STANDARD_IA
    access_key: "{{ vault_s3_access_key }}"
    secret_key: "{{ vault_s3_secret_key }}"

- name: Fetch a backup for a restore
  runbook.ops.s3_backup:
    mode: download
    name: daily/finchat-20261122T020000Z.dump.zst
    backup_dir: /var/backups/restore
    bucket: finchat-backups
    prefix: postgres
"""

RETURN = r"""
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: C(ok) when the transfer succeeded (failures fail the task).
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
  sample: "s3: 1 check ok"
checks:
  description: C(s3.upload) or C(s3.download) with what was transferred.
  returned: always
  type: list
  elements: dict
metrics:
  description: C(s3_transfer_bytes{mode}) and C(s3_transfer_seconds{mode}) when something was transferred.
  returned: always
  type: dict
keys:
  description: The S3 keys of the backup's data objects, then its manifest.
  returned: always
  type: list
  elements: str
path:
  description: Local archive path (the downloaded one with O(mode=download)).
  returned: always
  type: str
manifest_path:
  description: Local manifest path.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import offload_runner
from ansible_collections.runbook.ops.plugins.module_utils.s3 import argspec as s3_argspec


def main() -> None:
    spec = argspec.extend(s3_argspec.s3_argspec(), dict(
        mode=dict(type="str", choices=["upload", "download"], required=True),
        backup=dict(type="path"),
        name=dict(type="str"),
        backup_dir=dict(type="path"),
        prefix=dict(type="str", default=""),
        part_size_mb=dict(type="int", default=16),
        concurrency=dict(type="int", default=4),
        sse=dict(type="str", choices=["AES256", "aws:kms"]),
        sse_kms_key_id=dict(type="str"),
        storage_class=dict(type="str"),
        overwrite=dict(type="bool", default=False),
    ), required_if=[("mode", "upload", ["backup"]), ("mode", "download", ["name", "backup_dir"])])
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **spec)
    offload_runner.run(module)


if __name__ == "__main__":
    main()
