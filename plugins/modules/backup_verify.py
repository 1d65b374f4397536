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
    it, and the scratch database is dropped again whatever happens. The time the restore took (checksum
    and decompression included, as in a real restore) is reported as the measured RTO, metric
    C(backup_restore_seconds). A file archive's test restore reads
    every member back through the decompressor and compares its SHA-256 with the manifest, writing nothing.
  - Problems are checks in the result (it feeds the daily health check), not task failures; C(changed)
    is always false.
extends_documentation_fragment:
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

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk
from ansible_collections.runbook.ops.plugins.module_utils.backup import files_runner as fa
from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as pg
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL, OK, build, check, down, metric_key, threshold_check,
)

ARGUMENT_SPEC = dict(pg.CONNECTION_ARGUMENT_SPEC)
ARGUMENT_SPEC.update(
    backup_dir=dict(type="path", required=True),
    backup_database=dict(type="str"),
    max_age_hours=dict(type="dict", default={"daily": 26}),
    verify_checksums=dict(type="bool", default=True),
    test_restore=dict(type="bool", default=False),
    scratch_database=dict(type="str"),
    smoke_queries=dict(type="list", elements="str", default=[]),
    jobs=dict(type="int", default=2),
    work_dir=dict(type="path"),
    no_owner=dict(type="bool", default=True),
    pg_restore_path=dict(type="path"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    max_age = {}
    for kind, hours in (params["max_age_hours"] or {}).items():
        try:
            max_age[kind] = float(hours)
        except (TypeError, ValueError):
            module.fail_json(msg="max_age_hours.%s must be a number of hours, got %r" % (kind, hours))
    if params["jobs"] < 1:
        module.fail_json(msg="jobs must be at least 1, got %d" % params["jobs"])
    if params["test_restore"]:
        if not pg.HAS_PSYCOPG2:
            module.fail_json(msg=missing_required_lib("psycopg2"))
        problem = pg.validate_params(params)
        if problem:
            module.fail_json(msg=problem)
    if not os.path.isdir(params["backup_dir"]):
        module.fail_json(msg="backup_dir %s is not a directory" % params["backup_dir"])

    now = bk.utcnow()
    try:
        backups = bk.list_backups(params["backup_dir"], database=params["backup_database"])
    except OSError as exc:
        module.fail_json(msg="cannot list %s: %s" % (params["backup_dir"], exc.strerror or exc))
    newest = bk.newest_complete(backups)
    checks = []
    metrics = {}
    for kind in sorted(max_age):
        if not any(k == kind for k, _db in newest):
            checks.append(check("backup.%s.freshness" % kind, CRITICAL, "no complete %s backup%s in %s" % (
                kind, (" of %s" % params["backup_database"]) if params["backup_database"] else "",
                params["backup_dir"]), threshold={"critical": max_age[kind]}))
    for (kind, database), item in sorted(newest.items()):
        labels = dict(database=database, kind=kind)
        age = bk.freshness(item["timestamp"], now)
        metrics[metric_key("backup_age_seconds", **labels)] = round(age, 1)
        if kind in max_age:
            checks.append(threshold_check("backup.%s.%s.freshness" % (database, kind), round(age / 3600.0, 2),
                                          None, max_age[kind], unit="h",
                                          what="newest %s backup %s" % (kind, item["name"])))
        if params["verify_checksums"]:
            bk.check_backup(item)
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
            bk.check_backup(item)
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
    ok, message = fa.verify_members(chosen["path"], chosen["manifest"])
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
    scratch = params["scratch_database"] or bk.scratch_name(database, bk.format_ts(bk.utcnow()))
    checks = []
    created = False
    try:
        maint = bk.connect(params, params["database"])
    except bk.BackupError as exc:
        return [down(prefix + ".restore", "test restore impossible: %s" % exc)]
    try:
        if bk.database_exists(maint, scratch):
            return [check(prefix + ".restore", CRITICAL, "scratch database %s already exists; not touching it" % scratch)]
        temp = None
        try:
            started = time.monotonic()
            source, temp, _message = bk.prepare_source(chosen["path"], chosen["manifest"], params["work_dir"])
            bk.restore_new_database(params, maint, source, scratch, jobs=params["jobs"],
                                    pg_restore_path=params["pg_restore_path"], no_owner=params["no_owner"])
            seconds = time.monotonic() - started
        except bk.BackupError as exc:
            return [check(prefix + ".restore", CRITICAL, "test restore of %s failed: %s" % (chosen["name"], exc))]
        finally:
            if temp:
                bk.remove_path(temp)
        created = True
        metrics[metric_key("backup_restore_seconds", database=database)] = round(seconds, 3)
        checks.append(check(prefix + ".restore", OK, "%s restored into %s in %.1fs (measured RTO)" % (
            chosen["name"], scratch, seconds), value=round(seconds, 3)))
        exact = chosen["manifest"].get("row_count_method") == "exact"
        status, message, value = bk.row_count_check(database, chosen["manifest"],
                                                    bk.counts_of(params, scratch, exact=exact))
        checks.append(check(prefix + ".row_counts", status, message, value=value))
        if params["smoke_queries"]:
            for index, (ok, text) in enumerate(bk.run_smoke_queries(params, scratch, params["smoke_queries"]), 1):
                checks.append(check("%s.smoke.%d" % (prefix, index), OK if ok else CRITICAL,
                                    ("returned %s" % text) if ok else "failed: %s" % text, value=text if ok else None))
    except bk.BackupError as exc:
        checks.append(check(prefix + ".restore", CRITICAL, "test restore failed: %s" % exc))
    except pg.psycopg2.Error as exc:
        checks.append(check(prefix + ".restore", CRITICAL, "test restore failed: %s" % pg.error_message(
            exc, params["login_password"])))
    finally:
        try:
            if created:
                bk.drop_database(maint, scratch, force=True)
        except Exception as exc:  # pylint: disable=broad-except
            checks.append(check(prefix + ".scratch", CRITICAL, "scratch database %s could not be dropped: %s" % (
                scratch, pg.error_message(exc, params["login_password"]))))
        maint.close()
    return checks


if __name__ == "__main__":
    main()
