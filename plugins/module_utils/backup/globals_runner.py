# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster's globals (roles, memberships, role settings) written beside a database backup with
``pg_dumpall --globals-only`` and put back before a restore (the missing roles only: see
globals_plan.py)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
from typing import Any, Dict, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import database_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import globals_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import tool_runner


def dump_globals(params: Mapping[str, Any], database: str, archive: str, passwords: bool = False,
                 pg_dumpall_path: Optional[str] = None) -> Dict[str, Any]:
    """Write ``<archive>.globals.sql`` (mode 0600; role passwords only with ``passwords``) and
    return the manifest's ``globals`` field. BackupError, with nothing left behind, on failure."""
    binary = tool_runner.find_pg_binary("pg_dumpall", pg_dumpall_path)
    path = globals_plan.globals_path(archive)
    partial = path + catalog_plan.PARTIAL_SUFFIX
    argv = [binary, "--no-password", "--globals-only", "-l", database, "-f", partial]
    if not passwords:
        argv.append("--no-role-passwords")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        tool_runner.run_tool(argv, database_runner.libpq_env(params), "pg_dumpall", [params.get("login_password")])
        digest, size = catalog_runner.sha256_file(partial)
        os.rename(partial, path)
    except OSError as exc:
        catalog_runner.remove_path(partial)
        raise catalog_runner.io_error("writing", path, exc)
    except BaseException:
        catalog_runner.remove_path(partial)
        raise
    return {"file": os.path.basename(path), "sha256": digest, "size": size, "passwords": bool(passwords)}


def read_verified(archive: str, manifest: Mapping[str, Any]) -> str:
    """The globals file of a backup, checked against its manifest; BackupError otherwise."""
    info = manifest.get("globals")
    if not info:
        raise catalog_plan.BackupError("the backup %s has no globals (taken with globals: false, or before "
                                       "globals were backed up): restore_globals is impossible" % archive)
    path = globals_plan.globals_path(archive)
    try:
        digest, size = catalog_runner.sha256_file(path)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise catalog_plan.BackupError("globals file %s cannot be read: %s" % (path, exc.strerror or exc))
    if digest != info.get("sha256") or size != info.get("size"):
        raise catalog_plan.BackupError("checksum verification failed, refusing to restore: globals file %s "
                                       "does not match the manifest" % path)
    return text


def create_missing_roles(conn, text: str, check_mode: bool = False) -> Dict[str, Any]:
    """Create the roles of a globals file that this server lacks, in one transaction (all or
    none); existing roles are not touched. Returns the plan (``create``, ``grants``, ``skipped``)."""
    from psycopg2 import sql

    plan = globals_plan.restore_plan(text, settings_runner.role_names(conn))
    if check_mode or not plan["create"]:
        return plan
    known = set(settings_runner.role_names(conn)) | set(plan["create"])
    autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            for role in plan["create"]:
                cur.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
            for statement in plan["statements"]:
                cur.execute(statement)  # pg_dumpall's own statement about a role created just now
            for role, member, admin in plan["grants"]:
                if role in known and member in known:
                    cur.execute(sql.SQL("GRANT {} TO {}{}").format(
                        sql.Identifier(role), sql.Identifier(member), sql.SQL(" WITH ADMIN OPTION" if admin else "")))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.autocommit = autocommit
    return plan


def drop_roles(conn, roles) -> None:
    """Drop roles a failed restore created (best effort, newest first)."""
    from psycopg2 import sql

    for role in reversed(list(roles)):
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        except Exception:  # pylint: disable=broad-except
            pass
