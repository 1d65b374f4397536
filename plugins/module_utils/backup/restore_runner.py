# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore runs: a verified (and, where needed, decompressed) backup restored into a new or
empty database."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import tempfile
import time
from typing import Any, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as postgres_client
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import offload_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import compress_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import database_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import globals_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import restore_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import tool_runner


def restore_archive(params: Mapping[str, Any], source: str, target: str, jobs: int = 2,
                    pg_restore_path: Optional[str] = None, no_owner: bool = False,
                    extra_args: Sequence[str] = ()) -> float:
    """pg_restore ``source`` (a dump pg_restore reads as it is: see ``prepare_source``) into the
    existing (empty) database ``target``; returns seconds taken."""
    pg_restore = tool_runner.find_pg_binary("pg_restore", pg_restore_path)
    started = time.monotonic()
    argv = [pg_restore, "--no-password", "--exit-on-error", "-j", str(max(1, jobs)), "-d", database_runner.conninfo_dbname(target)]
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    argv += list(extra_args)
    argv.append(source)
    tool_runner.run_tool(argv, database_runner.libpq_env(params), "pg_restore", [params.get("login_password")])
    return time.monotonic() - started


def prepare_source(archive: str, manifest: Mapping[str, Any],
                   work_dir: Optional[str] = None) -> Tuple[str, Optional[str], str]:
    """Check ``archive`` against its manifest and make it readable by ``pg_restore -j``.

    A compressed custom archive is decompressed into a temp file in ``work_dir`` (default: the
    archive's directory; pg_restore -j needs a seekable file), a zstd directory backup into a
    temp directory, while the SHA-256 sums are checked, at the same time rather than one after
    the other. Other backups are checked as they are. Returns ``(source for pg_restore, temp
    path to remove or None, verification message)``; raises BackupError (a checksum mismatch
    first) with no temp file left behind.
    """
    if not restore_plan.needs_decompression(manifest):
        return archive, None, catalog_runner.require_verified(archive, manifest)
    directory = work_dir or os.path.dirname(os.path.abspath(archive))
    try:
        if manifest["format"] == "directory":
            temp = tempfile.mkdtemp(prefix=".restore-", suffix=".dir", dir=directory)
        else:
            fd, temp = tempfile.mkstemp(prefix=".restore-", suffix=".dump", dir=directory)
            os.close(fd)
    except OSError as exc:
        raise catalog_runner.io_error("creating a temp file in", directory, exc)
    try:
        message = compress_runner.verified_decompress(archive, manifest, temp)
    except BaseException:
        catalog_runner.remove_path(temp)
        raise
    return temp, temp, message


def restore_new_database(params: Mapping[str, Any], maint, source: str, name: str, create: bool = True,
                         jobs: int = 2, pg_restore_path: Optional[str] = None, no_owner: bool = False,
                         properties: Optional[Mapping[str, Any]] = None) -> float:
    """Create ``name`` (unless ``create`` is false; with the backup's encoding, collation and ctype
    from ``properties``) and pg_restore ``source`` into it; drop it again on failure."""
    if create:
        database_runner.create_database(maint, name, settings_plan.create_options(properties))
    try:
        return restore_archive(params, source, name, jobs=jobs, pg_restore_path=pg_restore_path, no_owner=no_owner)
    except BaseException:
        if create:
            try:
                database_runner.drop_database(maint, name, force=True)
            except Exception:  # pylint: disable=broad-except
                pass
        raise


def run(module) -> None:
    """The module pg_restore: verify, plan and restore (in check mode: verify and plan)."""
    validation.validate(module, argspec.VALUE_RULES)
    database_runner.check_options(module)
    params = module.params
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
            catalog_runner.remove_path(state["temp"])
    module.exit_json(changed=True, **result)


def _source(module, params):
    """``(archive, manifest, downloaded or None, verified message)``: the backup (downloaded from S3
    first with ``s3``), its manifest and, in check mode, its checksum checked. (The real run checks
    it after the plan, while decompressing: a refused plan costs no decompression.)"""
    backup = params["backup"]
    downloaded = None
    verified = ""
    try:
        tool_runner.find_pg_binary("pg_restore", params["pg_restore_path"])
        if params["s3"]:
            downloaded = _download(module, params)
            backup = downloaded["path"]
        if downloaded and module.check_mode:
            archive, manifest = downloaded["path"], downloaded["manifest"]
            verified = "s3://%s: %s; checksums are verified while downloading" % (
                params["s3"]["bucket"], downloaded["message"])
        else:
            archive, mpath = catalog_plan.resolve_backup(backup)
            manifest = catalog_runner.load_manifest(mpath)
        if manifest["format"] not in catalog_plan.DATABASE_FORMATS:
            module.fail_json(msg="%s is a file archive (format %s), not a database dump: restore it with "
                                 "runbook.ops.file_archive state=restored" % (params["backup"], manifest["format"]))
        if module.check_mode and not downloaded:
            verified = catalog_runner.require_verified(archive, manifest)
    except (catalog_plan.BackupError, s3_client.S3Error) as exc:
        module.fail_json(msg="%s: %s" % (params["backup"], exc))
    return archive, manifest, downloaded, verified


def _run(module, params, state):
    """Verify, plan and restore; returns the result. The temp file made is in ``state["temp"]``."""
    target = params["target"]
    prefix = "restore.%s" % target
    archive, manifest, downloaded, verified = _source(module, params)
    extra = {"downloaded": downloaded["path"]} if downloaded else {}
    # Inspect the target and plan; check the archive's checksum while decompressing it for
    # pg_restore -j, before anything is touched; restore.
    try:
        maint = database_runner.connect(params, params["database"])
    except catalog_plan.BackupError as exc:
        module.fail_json(msg=str(exc))
    try:
        exists = database_runner.database_exists(maint, target)
        objects = database_runner.database_object_count(params, target) if exists else 0
        connections = database_runner.connection_count(maint, target) if exists else 0  # after our own session closed
        plan = restore_plan.plan_restore(target, exists, objects, connections, params["swap"], params["force"],
                                         catalog_plan.format_ts(catalog_runner.utcnow()))
        if plan["refused"]:
            maint.close()
            module.fail_json(msg=plan["refused"], plan=plan["steps"])
        roles = _globals(params, maint, archive, manifest, check_mode=True)
        if roles is not None:
            plan["steps"].insert(0, "create the missing roles: %s" % (", ".join(roles["create"]) or "none"))
        if module.check_mode:
            maint.close()
            checks = [check(prefix + ".checksum", "ok", verified, value={"archive": archive}),
                      check(prefix + ".plan", "ok", "; ".join(plan["steps"]), value=plan["steps"])]
            module.exit_json(changed=True, plan=plan["steps"], **dict(build(checks, {}, "restore"), **extra))
        try:
            source, state["temp"], verified = prepare_source(archive, manifest, params["work_dir"])
        except catalog_plan.BackupError as exc:
            maint.close()
            module.fail_json(msg="%s: %s" % (params["backup"], exc))
        checks = [check(prefix + ".checksum", "ok", verified, value={"archive": archive})]
        result = _execute(params, maint, archive, source, manifest, plan, checks)
    except catalog_plan.BackupError as exc:
        module.fail_json(msg="restore into %s failed: %s" % (target, exc))
    except postgres_client.DatabaseError as exc:
        module.fail_json(msg="restore into %s failed: %s" % (target, postgres_client.error_message(
            exc, params["login_password"])))
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback; _execute cleaned up
        module.fail_json(msg="restore into %s failed: %s" % (target, database_runner.scrub(
            str(exc), [params["login_password"]])))
    finally:
        try:
            maint.close()
        except Exception:  # pylint: disable=broad-except
            pass
    result.update(extra)
    return result


def _download(module, params):
    options = params["s3"]
    s3 = offload_runner.s3_session(module, options, "s3: ")
    secrets = s3_client.secrets_of(options)
    try:
        return offload_runner.fetch_backup(s3, options["bucket"], options["prefix"], params["backup"],
                                           params["download_dir"], overwrite=False, check_mode=module.check_mode,
                                           secrets=secrets)
    except s3_client.S3Error as exc:
        raise s3_client.S3Error(s3_client.scrub(str(exc), secrets))


def _row_counts(params, into, manifest, prefix):
    """The row-count check of the restored database ``into``."""
    exact = manifest.get("row_count_method") == "exact"
    if exact:
        counts, scanned, parents = database_runner.restored_counts(params, into, catalog_plan.expected_counts(manifest))
    else:
        counts, scanned, parents = database_runner.counts_of(params, into, exact=False), 0, 0
    status, message, value = catalog_plan.row_count_check(params["target"], manifest, counts)
    if exact:
        message += " (%d of %d tables from the server's insert statistics, %d counted with count(*): " \
                   "%d parents counted directly)" % (len(counts) - scanned, len(counts), scanned, parents)
    return check(prefix + ".row_counts", status, message, value=value)


def _settings(params, maint, into, manifest, prefix, before):
    """Put the database's own settings back; a warning check for what could not be."""
    props = manifest.get("database_properties")
    if not props:
        return check(prefix + ".database_settings", "ok",
                     "the manifest records no database settings (a backup taken before they were recorded): "
                     "owner, ACL, comment and ALTER DATABASE settings were not restored")
    done = settings_runner.apply_properties(maint, into, props, no_owner=params["no_owner"])
    problems = list(done["skipped"])
    if before is not None:
        problems += settings_plan.locale_differences(props, before)
    if problems:
        return check(prefix + ".database_settings", "warning", "database settings restored but: %s"
                     % "; ".join(problems), value={"skipped": problems})
    return check(prefix + ".database_settings", "ok", "owner, ACL, comment, %s and settings restored (%d steps)" % (
        "collation" if before is None else "the existing database's collation kept", done["applied"]),
        value={"steps": done["applied"]})


def _execute(params, maint, archive, source, manifest, plan, checks):
    """Restore along ``plan``. Whatever fails after something was created removes it again: a
    database this task created is dropped, an existing empty target is made empty again (dropped
    and created anew with its own settings), a half-done swap is renamed back."""
    target = params["target"]
    prefix = "restore.%s" % target
    into = plan["restore_into"]
    props = manifest.get("database_properties")
    done = []
    before = None if plan["create"] else settings_runner.read_properties(maint, into)
    if plan["drop_first"]:
        database_runner.drop_database(maint, target, force=True)
        done.append("dropped %s" % target)
    swap_state = {"renamed_old": False, "roles": []}
    try:
        roles = _globals(params, maint, archive, manifest)
        if roles is not None:
            swap_state["roles"] = roles["create"]
            done.append("created roles: %s" % (", ".join(roles["create"]) or "none missing"))
            checks.append(check(prefix + ".globals", "warning" if roles["skipped"] else "ok", "; ".join(
                ["created %d missing role(s)%s" % (len(roles["create"]), (": " + ", ".join(roles["create"]))
                                                   if roles["create"] else "")] + roles["skipped"]),
                value={"created": roles["create"]}))
        seconds = restore_new_database(params, maint, source, into, create=plan["create"], jobs=params["jobs"],
                                       pg_restore_path=params["pg_restore_path"], no_owner=params["no_owner"],
                                       properties=props)
        done.append("restored %s into %s in %.1fs" % (archive, into, seconds))
        metrics = {metric_key("backup_restore_seconds", database=target): round(seconds, 3)}
        checks.append(check(prefix + ".pg_restore", "ok", "restored into %s in %.1fs" % (into, seconds),
                            value=round(seconds, 3)))
        checks.append(_settings(params, maint, into, manifest, prefix, before))
        checks.append(_row_counts(params, into, manifest, prefix))
        extra = {"restored_database": into}
        if params["swap"]:
            extra.update(_swap(params, maint, plan, checks, done, checks[-1]["status"] == "ok", swap_state))
    except BaseException:
        _undo(params, maint, plan, into, before, swap_state)
        raise
    result = build(checks, metrics, "restore")
    result["plan"] = done
    result.update(extra)
    return result


def _undo(params, maint, plan, into, before, swap_state):
    """Remove what a failed restore made (best effort: the first error is the one reported)."""
    try:
        if swap_state["renamed_old"]:
            database_runner.terminate_connections(maint, params["target"])
            database_runner.rename_database(maint, plan["rename_old_to"], params["target"])
        database_runner.drop_database(maint, into, force=True)
        if before is not None:
            database_runner.create_database(maint, into, settings_plan.create_options(before))
            settings_runner.apply_properties(maint, into, before)
    except Exception:  # pylint: disable=broad-except
        pass
    globals_runner.drop_roles(maint, swap_state["roles"])


def _globals(params, maint, archive, manifest, check_mode=False):
    """With restore_globals: the roles of the backup's globals file that this server lacks,
    created (or, in check mode, listed); None without it."""
    if not params["restore_globals"]:
        return None
    text = globals_runner.read_verified(archive, manifest)
    return globals_runner.create_missing_roles(maint, text, check_mode=check_mode)


def _swap(params, maint, plan, checks, done, counts_ok, state):
    """Rename the restored database to the target (the old one kept under its ``_before_`` name)."""
    target, into = params["target"], plan["restore_into"]
    prefix = "restore.%s" % target
    if not counts_ok:
        checks.append(check(prefix + ".swap", "critical",
                            "not swapped: the restored database %s does not match the manifest; %s is unchanged"
                            % (into, target), value={"restored": into}))
        return {}
    extra = {}
    if plan["rename_old_to"]:
        if plan["terminate"] or params["force"]:
            database_runner.terminate_connections(maint, target)
        try:
            database_runner.rename_database(maint, target, plan["rename_old_to"])
        except catalog_plan.BackupError as exc:
            raise catalog_plan.BackupError("%s; %s is unchanged and the restored %s is removed" % (exc, target, into))
        state["renamed_old"] = True
        done.append("renamed %s to %s" % (target, plan["rename_old_to"]))
        extra["previous_database"] = plan["rename_old_to"]
    database_runner.rename_database(maint, into, target)
    state["renamed_old"] = False
    done.append("renamed %s to %s" % (into, target))
    extra["restored_database"] = target
    checks.append(check(prefix + ".swap", "ok", "; ".join(done[1:]), value={"previous": plan["rename_old_to"]}))
    return extra
