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
    checksums (C(ChecksumAlgorithm=SHA256); a multipart upload sends O(concurrency) parts at a time, each
    read by its own thread, so memory stays bounded by O(concurrency) x O(part_size_mb)), with optional server-side encryption and storage class. The
    manifest is uploaded LAST; on S3 too a backup without its manifest is incomplete. A failed
    multipart upload is aborted and no manifest is written.
  - When the same backup (same checksums) is already on S3 nothing is uploaded and C(changed) is false;
    a different backup under the same name is refused unless O(overwrite).
  - O(mode=download) reads the manifest from S3 (refusing a backup without one), streams every object
    to a C(.partial) file while hashing it, checks the SHA-256 against the manifest, renames it into
    place and writes the local manifest last. A mismatch fails and leaves nothing behind.
extends_documentation_fragment:
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
      - Parts of a multipart upload sent at the same time.
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

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3u
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, metric_key

ARGUMENT_SPEC = dict(s3u.S3_ARGUMENT_SPEC)
ARGUMENT_SPEC.update(
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
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("mode", "upload", ["backup"]), ("mode", "download", ["name", "backup_dir"])])
    if not s3u.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=s3u.BOTO3_IMPORT_ERROR)
    params = module.params
    problem = s3u.validate_params(params)
    if problem:
        module.fail_json(msg=problem)
    if params["part_size_mb"] < 5:
        module.fail_json(msg="part_size_mb must be at least 5 (S3's smallest part), got %d" % params["part_size_mb"])
    if params["concurrency"] < 1:
        module.fail_json(msg="concurrency must be at least 1, got %d" % params["concurrency"])
    secrets = s3u.secrets_of(params)
    try:
        client = s3u.client(params)
        if params["mode"] == "upload":
            result = _upload(module, client, params, secrets)
        else:
            result = _download(module, client, params, secrets)
    except (s3u.S3Error, bk.BackupError) as exc:
        module.fail_json(msg=s3u.scrub(str(exc), secrets))
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback
        module.fail_json(msg="s3_backup %s failed: %s" % (params["mode"], s3u.error_message(exc, secrets)))
    module.exit_json(**result)


def _done(changed, common, name, message, metrics=None, value=None):
    result = dict(changed=changed, **common)
    result.update(build([check(name, "ok", message, value=value)], metrics or {}, "s3"))
    return result


def _upload(module, client, params, secrets):
    archive, manifest, _message = bk.load_verified(params["backup"])
    bucket, prefix = params["bucket"], params["prefix"]
    data = s3u.archive_keys(prefix, manifest)
    mkey = s3u.join_key(prefix, manifest["name"]) + bk.MANIFEST_SUFFIX
    keys = [k for k, _p, _s in data] + [mkey]
    common = dict(keys=keys, path=archive, manifest_path=bk.manifest_path(archive))
    remote = s3u.get_bytes(client, bucket, mkey, secrets=secrets)
    if remote is not None:
        try:
            remote_manifest = json.loads(remote.decode("utf-8"))
        except ValueError:
            remote_manifest = {}
        if s3u.same_backup(remote_manifest, manifest):
            return _done(False, common, "s3.upload", "s3://%s/%s is already uploaded" % (bucket, mkey))
        if not params["overwrite"]:
            raise s3u.S3Error("s3://%s/%s holds a different backup of the same name: refusing to overwrite it "
                              "without overwrite" % (bucket, mkey))
    if module.check_mode:
        return _done(True, common, "s3.upload", "would upload %d object(s) and the manifest to s3://%s/%s"
                     % (len(data), bucket, keys[0]))
    started = time.monotonic()
    total = 0
    meta = {"sha256": manifest["sha256"]} if bk.single_file(manifest) else None
    for key, rel, digest in data:
        path = os.path.join(archive, rel) if rel else archive
        done = s3u.upload_file(client, bucket, key, path, part_size=params["part_size_mb"] * 1024 * 1024,
                               concurrency=params["concurrency"],
                               sse=params["sse"], kms_key=params["sse_kms_key_id"],
                               storage_class=params["storage_class"],
                               metadata=meta or {"sha256": digest}, secrets=secrets)
        total += done["size"]
    body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    try:
        client.put_object(Bucket=bucket, Key=mkey, Body=body, ChecksumAlgorithm="SHA256",
                          ChecksumSHA256=s3u.b64_sha256(body), ContentType="application/json",
                          **s3u._extra(params["sse"], params["sse_kms_key_id"], params["storage_class"], None))
    except Exception as exc:  # pylint: disable=broad-except
        why = s3u.error_message(exc, secrets)
        raise s3u.S3Error("uploading the manifest s3://%s/%s failed: %s" % (bucket, mkey, why))
    seconds = time.monotonic() - started
    metrics = {metric_key("s3_transfer_bytes", mode="upload"): float(total),
               metric_key("s3_transfer_seconds", mode="upload"): round(seconds, 3)}
    message = "uploaded %d bytes in %d object(s) and the manifest to s3://%s/%s in %.1fs" % (
        total, len(data), bucket, keys[0], seconds)
    return _done(True, common, "s3.upload", message, metrics, {"bytes": total})


def _download(module, client, params, secrets):
    got = s3u.fetch_backup(client, params["bucket"], params["prefix"], params["name"], params["backup_dir"],
                           overwrite=params["overwrite"], check_mode=module.check_mode, secrets=secrets)
    common = dict(keys=got["keys"], path=got["path"], manifest_path=got["manifest_path"])
    if not got["changed"] or module.check_mode:
        return _done(got["changed"], common, "s3.download", got["message"])
    metrics = {metric_key("s3_transfer_bytes", mode="download"): float(got["bytes"]),
               metric_key("s3_transfer_seconds", mode="download"): round(got["seconds"], 3)}
    return _done(True, common, "s3.download", got["message"], metrics, {"bytes": got["bytes"]})


if __name__ == "__main__":
    main()
