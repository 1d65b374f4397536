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
    type: dict
    suboptions:
      bucket:
        description:
          - Name of the bucket.
        type: str
        required: true
      prefix:
        description:
          - Key prefix the backups were uploaded under.
        type: str
        default: ""
      endpoint_url:
        description:
          - URL of an S3-compatible endpoint.
        type: str
      region:
        description:
          - Region of the bucket.
        type: str
        default: us-east-1
      access_key:
        description:
          - Access key ID. Never shown.
        type: str
        aliases: [aws_access_key_id]
      secret_key:
        description:
          - Secret access key. Never shown.
        type: str
        aliases: [aws_secret_access_key]
      session_token:
        description:
          - Session token. Never shown.
        type: str
      validate_certs:
        description:
          - Verify the endpoint's TLS certificate.
        type: bool
        default: true
      retries:
        description:
          - Most attempts per request.
        type: int
        default: 5
      s3_connect_timeout:
        description:
          - Connect timeout in seconds.
        type: float
        default: 10
      s3_read_timeout:
        description:
          - Read timeout in seconds.
        type: float
        default: 60
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

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3u
from ansible_collections.runbook.ops.plugins.module_utils.common.result import WARNING, build, check, metric_key

S3_OPTIONS = dict(s3u.S3_ARGUMENT_SPEC, prefix=dict(type="str", default=""))

ARGUMENT_SPEC = dict(
    backup_dir=dict(type="path"),
    s3=dict(type="dict", options=S3_OPTIONS),
    rules=dict(type="dict"),
    database=dict(type="str"),
    verify_checksums=dict(type="bool", default=True),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_one_of=[("backup_dir", "s3")])
    params = module.params
    try:
        rules = bk.normalize_rules(params["rules"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    now = bk.utcnow()
    out = {"changed": False}
    checks = []
    metrics = {}
    before, after = [], []
    if params["backup_dir"]:
        _local(module, params, rules, now, out, checks, metrics, before, after)
    if params["s3"]:
        _remote(module, params, rules, now, out, checks, metrics, before, after)
    out.update(build(checks, metrics, "retention"))
    out["diff"] = {"before": "".join(n + "\n" for n in before), "after": "".join(n + "\n" for n in after)}
    module.exit_json(**out)


def _summarize(module, where, backups, keep, delete, checks, metrics, labels):
    for kind in sorted({b["kind"] for b in backups}):
        kept_n = sum(1 for b in backups if b["kind"] == kind and b["name"] in keep)
        del_n = sum(1 for b in backups if b["kind"] == kind and b["name"] in delete)
        verb = "would delete" if module.check_mode else "deleted"
        checks.append(check("retention.%s%s" % (where, kind), "ok", "kept %d, %s %d" % (kept_n, verb, del_n),
                            value={"kept": kept_n, "deleted": del_n}))
        corrupt = [b["name"] for b in backups if b["kind"] == kind and b["complete"] and b["verified"] is False]
        if corrupt:
            checks.append(check("retention.%s%s.corrupt" % (where, kind), WARNING,
                                "%d corrupt backup(s): %s" % (len(corrupt), ", ".join(corrupt[:5])), value=corrupt))
        metrics[metric_key("backup_retention_kept", kind=kind, **labels)] = float(kept_n)
        metrics[metric_key("backup_retention_deleted", kind=kind, **labels)] = float(del_n)


def _ordered(backups):
    return [b["name"] for b in sorted(backups, key=lambda b: (b["timestamp"], b["name"]))]


def _local(module, params, rules, now, out, checks, metrics, before, after):
    directory = params["backup_dir"]
    out.update(kept=[], deleted=[], reasons={})
    if os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg="backup_dir %s is not a directory" % directory)
    if not os.path.exists(directory):
        # Nothing written yet (a first run, or check mode before the first backup).
        checks.append(check("retention", "ok", "no backups: %s does not exist" % directory))
        return
    try:
        backups = bk.list_backups(directory, database=params["database"])
    except OSError as exc:
        module.fail_json(msg="cannot list %s: %s" % (directory, exc.strerror or exc))
    if params["verify_checksums"]:
        for item in backups:
            if item["complete"]:
                bk.check_backup(item)
    keep, delete, reasons = bk.plan_retention(backups, rules, now)
    by_name = {b["name"]: b for b in backups}
    deleted = []
    if not module.check_mode:
        for name in delete:
            try:
                bk.delete_backup(by_name[name])
            except OSError as exc:
                module.fail_json(msg="deleting %s failed: %s" % (name, exc.strerror or exc), deleted=deleted,
                                 kept=keep, reasons=reasons)
            deleted.append(name)
    out.update(kept=keep, deleted=delete, reasons=reasons, changed=out["changed"] or bool(delete))
    _summarize(module, "", backups, set(keep), set(delete), checks, metrics, {})
    names = _ordered(backups)
    before.extend(names)
    after.extend(n for n in names if n not in set(delete))


def _remote(module, params, rules, now, out, checks, metrics, before, after):
    options = params["s3"]
    if not s3u.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=s3u.BOTO3_IMPORT_ERROR)
    problem = s3u.validate_params(options)
    if problem:
        module.fail_json(msg="s3: %s" % problem)
    secrets = s3u.secrets_of(options)
    bucket = options["bucket"]
    try:
        client = s3u.client(options)
        backups = s3u.list_backups(client, bucket, options["prefix"], database=params["database"], secrets=secrets)
        if params["verify_checksums"]:
            for item in backups:
                if item["complete"]:
                    s3u.check_backup(client, bucket, item, secrets)
        keep, delete, reasons = bk.plan_retention(backups, rules, now)
        by_name = {b["name"]: b for b in backups}
        if not module.check_mode:
            for name in delete:
                s3u.delete_backup(client, bucket, by_name[name], secrets)
    except s3u.S3Error as exc:
        module.fail_json(msg=s3u.scrub(str(exc), secrets))
    out.update(s3_kept=keep, s3_deleted=delete, s3_reasons=reasons, changed=out["changed"] or bool(delete))
    _summarize(module, "s3.", backups, set(keep), set(delete), checks, metrics, {"store": "s3"})
    names = ["s3://%s/%s" % (bucket, b["path"]) for b in sorted(backups, key=lambda b: (b["timestamp"], b["name"]))]
    before.extend(names)
    gone = {"s3://%s/%s" % (bucket, by_name[n]["path"]) for n in delete}
    after.extend(n for n in names if n not in gone)


if __name__ == "__main__":
    main()
