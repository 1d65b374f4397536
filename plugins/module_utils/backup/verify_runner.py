# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup verification (module backup_verify): freshness of the newest backup of each kind, its
checksums, and a test restore into a scratch database whose duration is the measured RTO.

Problems are checks in the result, not task failures (a missing ``backup_dir`` too: a
critical ``backup.dir`` check); nothing is changed but the scratch
database, which is dropped again whatever happens.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import time

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import database_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import files_restore_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import restore_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import restore_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import retention_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_runner
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL, OK, WARNING, build, check, down, metric_key, threshold_check,
)
from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as postgres_client


def run(module) -> None:
    """The module backup_verify: freshness, checksums and, with test_restore, a measured restore."""
    validation.validate(module, argspec.VALUE_RULES)
    params = module.params
    max_age = {}
    for kind, hours in (params["max_age_hours"] or {}).items():
        try:
            max_age[kind] = float(hours)
        except (TypeError, ValueError):
            module.fail_json(msg="max_age_hours.%s must be a number of hours, got %r" % (kind, hours))
    database_runner.check_options(module, connects=params["test_restore"])
    # No backup directory (or one that cannot be listed) means no backup: a health condition,
    # reported as a critical check like the others, not a task failure.
    if not os.path.isdir(params["backup_dir"]):
        module.exit_json(changed=False, **build([down("backup.dir", "backup_dir %s is not a directory"
                                                      % params["backup_dir"])], {}, "backup"))

    now = catalog_runner.utcnow()
    try:
        backups = catalog_runner.list_backups(params["backup_dir"], database=params["backup_database"])
    except OSError as exc:
        module.exit_json(changed=False, **build([down("backup.dir", "cannot list %s: %s" % (
            params["backup_dir"], exc.strerror or exc))], {}, "backup"))
    newest = retention_plan.newest_complete(backups)
    checks = []
    metrics = {}
    for kind in sorted(max_age):
        if not any(k == kind for k, _db in newest):
            checks.append(check("backup.%s.freshness" % kind, CRITICAL, "no complete %s backup%s in %s" % (
                kind, (" of %s" % params["backup_database"]) if params["backup_database"] else "",
                params["backup_dir"]), threshold={"critical": max_age[kind]}))
    for (kind, database), item in sorted(newest.items()):
        labels = dict(database=database, kind=kind)
        age = retention_plan.freshness(item["timestamp"], now)
        metrics[metric_key("backup_age_seconds", **labels)] = round(age, 1)
        if kind in max_age:
            checks.append(threshold_check("backup.%s.%s.freshness" % (database, kind), round(age / 3600.0, 2),
                                          None, max_age[kind], unit="h",
                                          what="newest %s backup %s" % (kind, item["name"])))
        if params["verify_checksums"]:
            catalog_runner.check_backup(item)
            status = OK if item["verified"] else CRITICAL
            checks.append(check("backup.%s.%s.checksum" % (database, kind), status,
                                "%s: %s" % (item["name"], item["verify_message"]), value={"backup": item["name"]}))
            metrics[metric_key("backup_verified", **labels)] = 1.0 if item["verified"] else 0.0
            if item.get("manifest"):
                metrics[metric_key("backup_size_bytes", **labels)] = float(item["manifest"]["size"] or 0)

    if params["test_restore"]:
        archives = {item["database"] for item in backups if item.get("files_archive")}
        for database in sorted({db for _k, db in newest} | ({params["backup_database"]} if params["backup_database"] else set())):
            if database in archives:
                checks.extend(_test_extract(module, database, backups, metrics))
            else:
                checks.extend(_test_restore(module, params, database, backups, metrics))
    result = build(checks, metrics, "backup")
    module.exit_json(changed=False, **result)


def _newest_verified(backups, database, files_archive):
    candidates = sorted((b for b in backups if b["database"] == database and b["complete"]
                         and bool(b.get("files_archive")) == files_archive),
                        key=lambda b: (b["timestamp"], b["name"]), reverse=True)
    for item in candidates:
        if item["verified"] is None:
            catalog_runner.check_backup(item)
        if item["verified"]:
            return item
    return None


def _test_extract(module, name, backups, metrics):
    """A file archive's test restore: read every member back and compare it with the manifest."""
    prefix = "backup.%s" % name
    chosen = _newest_verified(backups, name, True)
    if chosen is None:
        return [check(prefix + ".restore", CRITICAL, "no verified file archive of %s to read back" % name)]
    started = time.monotonic()
    ok, message = files_restore_runner.verify_members(chosen["path"], chosen["manifest"])
    seconds = time.monotonic() - started
    if not ok:
        return [check(prefix + ".restore", CRITICAL, "reading %s back failed: %s" % (chosen["name"], message))]
    metrics[metric_key("backup_restore_seconds", database=name)] = round(seconds, 3)
    return [check(prefix + ".restore", OK, "%s read back in %.1fs: %s" % (chosen["name"], seconds, message),
                  value=round(seconds, 3))]


def _test_restore(module, params, database, backups, metrics):
    prefix = "backup.%s" % database
    chosen = _newest_verified(backups, database, False)
    if chosen is None:
        return [check(prefix + ".restore", CRITICAL, "no verified backup of %s to restore" % database)]
    if module.check_mode:
        return [check(prefix + ".restore", OK, "test restore of %s not run in check mode" % chosen["name"],
                      value={"backup": chosen["name"]})]
    scratch = params["scratch_database"] or restore_plan.scratch_name(database, catalog_plan.format_ts(catalog_runner.utcnow()))
    checks = []
    created = False
    try:
        maint = database_runner.connect(params, params["database"])
    except catalog_plan.BackupError as exc:
        return [down(prefix + ".restore", "test restore impossible: %s" % exc)]
    try:
        if database_runner.database_exists(maint, scratch):
            return [check(prefix + ".restore", CRITICAL, "scratch database %s already exists; not touching it" % scratch)]
        temp = None
        try:
            started = time.monotonic()
            source, temp, _message = restore_runner.prepare_source(chosen["path"], chosen["manifest"], params["work_dir"])
            # The scratch database gets the source's encoding, collation and ctype (as the
            # manifest recorded them), so sorting and case rules are production's; a server
            # without that locale gets its defaults and a warning.
            props = chosen["manifest"].get("database_properties")
            fallback = database_runner.create_database(maint, scratch, settings_plan.create_options(props),
                                                       locale_fallback=True)
            created = True
            restore_runner.restore_new_database(params, maint, source, scratch, create=False, jobs=params["jobs"],
                                                pg_restore_path=params["pg_restore_path"], no_owner=params["no_owner"])
            seconds = time.monotonic() - started
        except catalog_plan.BackupError as exc:
            return [check(prefix + ".restore", CRITICAL, "test restore of %s failed: %s" % (chosen["name"], exc))]
        finally:
            if temp:
                catalog_runner.remove_path(temp)
        metrics[metric_key("backup_restore_seconds", database=database)] = round(seconds, 3)
        used = settings_plan.locale_text(settings_runner.read_properties(maint, scratch))
        checks.append(check(prefix + ".restore", OK, "%s restored into %s (%s) in %.1fs (measured RTO)" % (
            chosen["name"], scratch, used, seconds), value=round(seconds, 3)))
        if fallback:
            checks.append(check(prefix + ".collation", WARNING, "the backup's %s cannot be used on this server (%s): "
                                "the test restore used the server's %s, so sorting and case rules may differ "
                                "from the source's" % (settings_plan.locale_text(props), fallback, used),
                                value={"backup": settings_plan.locale_text(props), "restored": used}))
        exact = chosen["manifest"].get("row_count_method") == "exact"
        status, message, value = catalog_plan.row_count_check(database, chosen["manifest"],
                                                              database_runner.counts_of(params, scratch, exact=exact))
        checks.append(check(prefix + ".row_counts", status, message, value=value))
        if params["smoke_queries"]:
            for index, (ok, text) in enumerate(database_runner.run_smoke_queries(params, scratch, params["smoke_queries"]), 1):
                checks.append(check("%s.smoke.%d" % (prefix, index), OK if ok else CRITICAL,
                                    ("returned %s" % text) if ok else "failed: %s" % text, value=text if ok else None))
    except catalog_plan.BackupError as exc:
        checks.append(check(prefix + ".restore", CRITICAL, "test restore failed: %s" % exc))
    except postgres_client.DatabaseError as exc:
        checks.append(check(prefix + ".restore", CRITICAL, "test restore failed: %s" % postgres_client.error_message(
            exc, params["login_password"])))
    finally:
        try:
            if created:
                database_runner.drop_database(maint, scratch, force=True)
        except Exception as exc:  # pylint: disable=broad-except
            checks.append(check(prefix + ".scratch", CRITICAL, "scratch database %s could not be dropped: %s" % (
                scratch, postgres_client.error_message(exc, params["login_password"]))))
        maint.close()
    return checks
