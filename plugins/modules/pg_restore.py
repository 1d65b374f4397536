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
  - When pg_restore fails, a database created by this task is dropped again and the task fails.
extends_documentation_fragment:
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
    type: dict
    suboptions:
      bucket:
        description:
          - Name of the bucket.
        type: str
        required: true
      prefix:
        description:
          - Key prefix the backup was uploaded under.
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
  pg_restore_path:
    description:
      - Path of the pg_restore binary. Defaults to C(pg_restore) on PATH, else the newest C(/usr/lib/postgresql/*/bin/pg_restore).
    type: path
notes:
  - Check mode verifies the checksum, inspects the target and returns the plan; it changes nothing. With O(s3)
    it reads the manifest on S3 but downloads nothing.
  - Stop the writers before restoring (playbooks/restore.yml does).
requirements:
  - pg_restore, and zstd or gzip for compressed archives, on the managed host.
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
    C(restore.<target>.checksum), C(restore.<target>.plan) (check mode), C(restore.<target>.pg_restore)
    (value seconds), C(restore.<target>.row_counts), C(restore.<target>.swap) (with O(swap)).
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk
from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as pg
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3u
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, metric_key

S3_OPTIONS = dict(s3u.S3_ARGUMENT_SPEC, prefix=dict(type="str", default=""))
ARGUMENT_SPEC = dict(pg.CONNECTION_ARGUMENT_SPEC)
ARGUMENT_SPEC.update(
    backup=dict(type="path", required=True),
    s3=dict(type="dict", options=S3_OPTIONS),
    download_dir=dict(type="path"),
    target=dict(type="str", required=True),
    swap=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
    jobs=dict(type="int", default=2),
    work_dir=dict(type="path"),
    no_owner=dict(type="bool", default=False),
    pg_restore_path=dict(type="path"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not pg.HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"))
    params = module.params
    problem = pg.validate_params(params)
    if problem:
        module.fail_json(msg=problem)
    if params["jobs"] < 1:
        module.fail_json(msg="jobs must be at least 1, got %d" % params["jobs"])
    target = params["target"]
    if not target or "\x00" in target:
        module.fail_json(msg="target must be a database name")
    if target == params["database"]:
        module.fail_json(msg="target %s is the maintenance database this task connects to: set database "
                             "to another one (for example postgres)" % target)
    # A compressed archive is decompressed for pg_restore into a temp file: removed whatever
    # happens (fail_json and exit_json leave through SystemExit).
    state = {"temp": None}
    try:
        result = _run(module, params, state)
    finally:
        if state["temp"]:
            bk.remove_path(state["temp"])
    module.exit_json(changed=True, **result)


def _run(module, params, state):
    """Verify, plan and restore; returns the result. The temp file made is in ``state["temp"]``."""
    target = params["target"]
    prefix = "restore.%s" % target
    # 1. The manifest, and in check mode the archive's checksum. (The real run checks it after
    #    the plan, while decompressing: a refused plan costs no decompression.)
    backup = params["backup"]
    downloaded = None
    verified = ""  # the checksum check's message, once it passed
    try:
        bk.find_pg_binary("pg_restore", params["pg_restore_path"])
        if params["s3"]:
            downloaded = _download(module, params)
            backup = downloaded["path"]
        if downloaded and module.check_mode:
            archive, manifest = downloaded["path"], downloaded["manifest"]
            verified = "s3://%s: %s; checksums are verified while downloading" % (
                params["s3"]["bucket"], downloaded["message"])
        else:
            archive, mpath = bk.resolve_backup(backup)
            manifest = bk.load_manifest(mpath)
        if manifest["format"] not in bk.DATABASE_FORMATS:
            module.fail_json(msg="%s is a file archive (format %s), not a database dump: restore it with "
                                 "runbook.ops.file_archive state=restored" % (params["backup"], manifest["format"]))
        if module.check_mode and not downloaded:
            verified = bk.require_verified(archive, manifest)
    except (bk.BackupError, s3u.S3Error) as exc:
        module.fail_json(msg="%s: %s" % (params["backup"], exc))

    # 2. Inspect the target and plan; 3. check the archive's checksum while decompressing it for
    #    pg_restore -j, before anything is touched; 4. restore.
    try:
        maint = bk.connect(params, params["database"])
    except bk.BackupError as exc:
        module.fail_json(msg=str(exc))
    try:
        exists = bk.database_exists(maint, target)
        objects = bk.database_object_count(params, target) if exists else 0
        connections = bk.connection_count(maint, target) if exists else 0  # after our own session closed
        plan = bk.plan_restore(target, exists, objects, connections, params["swap"], params["force"],
                               bk.format_ts(bk.utcnow()))
        if plan["refused"]:
            maint.close()
            module.fail_json(msg=plan["refused"], plan=plan["steps"])
        if module.check_mode:
            maint.close()
            checks = [check(prefix + ".checksum", "ok", verified, value={"archive": archive}),
                      check(prefix + ".plan", "ok", "; ".join(plan["steps"]), value=plan["steps"])]
            extra = {"downloaded": downloaded["path"]} if downloaded else {}
            module.exit_json(changed=True, plan=plan["steps"], **dict(build(checks, {}, "restore"), **extra))
        try:
            source, state["temp"], verified = bk.prepare_source(archive, manifest, params["work_dir"])
        except bk.BackupError as exc:
            maint.close()
            module.fail_json(msg="%s: %s" % (params["backup"], exc))
        checks = [check(prefix + ".checksum", "ok", verified, value={"archive": archive})]
        result = _execute(module, params, maint, archive, source, manifest, plan, checks)
    except bk.BackupError as exc:
        module.fail_json(msg="restore into %s failed: %s" % (target, exc))
    except pg.psycopg2.Error as exc:
        module.fail_json(msg="restore into %s failed: %s" % (target, pg.error_message(exc, params["login_password"])))
    finally:
        try:
            maint.close()
        except Exception:  # pylint: disable=broad-except
            pass
    if downloaded:
        result["downloaded"] = downloaded["path"]
    return result


def _download(module, params):
    options = params["s3"]
    if not s3u.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=s3u.BOTO3_IMPORT_ERROR)
    problem = s3u.validate_params(options)
    if problem:
        module.fail_json(msg="s3: %s" % problem)
    if not params["download_dir"]:
        module.fail_json(msg="download_dir is required with s3")
    secrets = s3u.secrets_of(options)
    try:
        client = s3u.client(options)
        return s3u.fetch_backup(client, options["bucket"], options["prefix"], params["backup"],
                                params["download_dir"], overwrite=False, check_mode=module.check_mode,
                                secrets=secrets)
    except s3u.S3Error as exc:
        raise s3u.S3Error(s3u.scrub(str(exc), secrets))


def _execute(module, params, maint, archive, source, manifest, plan, checks):
    target = params["target"]
    prefix = "restore.%s" % target
    into = plan["restore_into"]
    done = []
    if plan["drop_first"]:
        bk.drop_database(maint, target, force=True)
        done.append("dropped %s" % target)
    seconds = bk.restore_new_database(params, maint, source, into, create=plan["create"], jobs=params["jobs"],
                                      pg_restore_path=params["pg_restore_path"], no_owner=params["no_owner"])
    done.append("restored %s into %s in %.1fs" % (archive, into, seconds))
    metrics = {metric_key("backup_restore_seconds", database=target): round(seconds, 3)}
    checks.append(check(prefix + ".pg_restore", "ok", "restored into %s in %.1fs" % (into, seconds),
                        value=round(seconds, 3)))
    exact = manifest.get("row_count_method") == "exact"
    if exact:
        counts, scanned = bk.restored_counts(params, into, manifest.get("row_counts") or {})
    else:
        counts, scanned = bk.counts_of(params, into, exact=False), 0
    status, message, value = bk.row_count_check(target, manifest, counts)
    if exact:
        message += " (%d of %d tables from the server's insert statistics, %d counted with count(*))" % (
            len(counts) - scanned, len(counts), scanned)
    checks.append(check(prefix + ".row_counts", status, message, value=value))
    extra = {"restored_database": into}
    if params["swap"]:
        if status != "ok":
            checks.append(check(prefix + ".swap", "critical",
                                "not swapped: the restored database %s does not match the manifest; %s is unchanged"
                                % (into, target), value={"restored": into}))
        else:
            if plan["rename_old_to"]:
                if plan["terminate"] or params["force"]:
                    bk.terminate_connections(maint, target)
                try:
                    bk.rename_database(maint, target, plan["rename_old_to"])
                except pg.psycopg2.Error as exc:
                    raise bk.BackupError("renaming %s to %s failed (%s); the restored data is in %s" % (
                        target, plan["rename_old_to"], pg.error_message(exc), into))
                done.append("renamed %s to %s" % (target, plan["rename_old_to"]))
                extra["previous_database"] = plan["rename_old_to"]
            bk.rename_database(maint, into, target)
            done.append("renamed %s to %s" % (into, target))
            extra["restored_database"] = target
            checks.append(check(prefix + ".swap", "ok", "; ".join(done[1:]),
                                value={"previous": plan["rename_old_to"]}))
    result = build(checks, metrics, "restore")
    result["plan"] = done
    result.update(extra)
    return result


if __name__ == "__main__":
    main()
