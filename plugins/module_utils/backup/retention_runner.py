# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention (module backup_retention): retention_plan.py decides, this file lists the backups
(local, and on S3 through offload_runner.py), checks them and deletes what the plan says.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import offload_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import retention_plan
from ansible_collections.runbook.ops.plugins.module_utils.common.result import WARNING, build, check, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client


def run(module) -> None:
    """The module backup_retention: the rules applied to the local backups and/or those on S3."""
    validation.validate(module, argspec.VALUE_RULES)
    params = module.params
    try:
        rules = retention_plan.normalize_rules(params["rules"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    now = catalog_runner.utcnow()
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
        backups = catalog_runner.list_backups(directory, database=params["database"])
    except OSError as exc:
        module.fail_json(msg="cannot list %s: %s" % (directory, exc.strerror or exc))
    if params["verify_checksums"]:
        for item in backups:
            if item["complete"]:
                catalog_runner.check_backup(item)
    keep, delete, reasons = retention_plan.plan_retention(backups, rules, now)
    by_name = {b["name"]: b for b in backups}
    deleted = []
    if not module.check_mode:
        for name in delete:
            try:
                catalog_runner.delete_backup(by_name[name])
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
    s3 = offload_runner.s3_session(module, options, "s3: ")
    secrets = s3_client.secrets_of(options)
    bucket = options["bucket"]
    try:
        backups = offload_runner.list_backups(s3, bucket, options["prefix"], database=params["database"], secrets=secrets)
        if params["verify_checksums"]:
            for item in backups:
                if item["complete"]:
                    offload_runner.check_backup(s3, bucket, item, secrets)
        keep, delete, reasons = retention_plan.plan_retention(backups, rules, now)
        by_name = {b["name"]: b for b in backups}
        if not module.check_mode:
            for name in delete:
                offload_runner.delete_backup(s3, bucket, by_name[name], secrets)
    except s3_client.S3Error as exc:
        module.fail_json(msg=s3_client.scrub(str(exc), secrets))
    out.update(s3_kept=keep, s3_deleted=delete, s3_reasons=reasons, changed=out["changed"] or bool(delete))
    _summarize(module, "s3.", backups, set(keep), set(delete), checks, metrics, {"store": "s3"})
    names = ["s3://%s/%s" % (bucket, b["path"]) for b in sorted(backups, key=lambda b: (b["timestamp"], b["name"]))]
    before.extend(names)
    gone = {"s3://%s/%s" % (bucket, by_name[n]["path"]) for n in delete}
    after.extend(n for n in names if n not in gone)
