# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump runs: the dump, its row counts from the same snapshot, and the manifest written last.

The password reaches pg_dump in the environment only (PGPASSWORD), never on a command line.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import hashlib
import os
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import fsync_dir
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import compress_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import database_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import globals_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import globals_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import tool_runner


def stream_dump(dump_argv: List[str], env: Mapping[str, str], compression: str, out_path: str,
                secrets: Iterable[Optional[str]] = (), chunk: int = catalog_runner.CHUNK) -> Tuple[str, int]:
    """Run ``pg_dump`` (writing to stdout), pipe it through the compressor, hash and write.

    Returns ``(sha256, size)`` of what was written. On any failure every process is stopped,
    ``out_path`` is removed and BackupError is raised.
    """
    comp_argv = compress_runner.compressor_argv(compression)
    dump_err = tempfile.TemporaryFile()
    comp_err = tempfile.TemporaryFile()
    dump = comp = None
    digest = hashlib.sha256()
    size = 0
    try:
        try:
            dump = subprocess.Popen(dump_argv, stdout=subprocess.PIPE, stderr=dump_err,  # noqa: S603
                                    stdin=subprocess.DEVNULL, env=dict(env))
            if comp_argv:
                comp = subprocess.Popen(comp_argv, stdin=dump.stdout, stdout=subprocess.PIPE,  # noqa: S603
                                        stderr=comp_err)
                dump.stdout.close()
                source = comp.stdout
            else:
                source = dump.stdout
        except OSError as exc:
            raise catalog_plan.BackupError("cannot start %s: %s" % (os.path.basename(dump_argv[0]), exc.strerror or exc))
        try:
            with open(out_path, "wb") as out:
                while True:
                    block = source.read(chunk)
                    if not block:
                        break
                    digest.update(block)
                    out.write(block)
                    size += len(block)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise catalog_runner.io_error("writing", out_path, exc)
        source.close()
        dump_rc = dump.wait()
        comp_rc = comp.wait() if comp else 0
        if comp_rc != 0:  # checked first: a dying compressor makes pg_dump die of SIGPIPE
            raise catalog_plan.BackupError("%s: %s" % (tool_runner.describe_rc(comp_argv[0].rsplit("/", 1)[-1], comp_rc),
                                                       tool_runner.stderr_tail(comp_err) or "no error output"))
        if dump_rc != 0:
            raise catalog_plan.BackupError("%s: %s" % (tool_runner.describe_rc("pg_dump", dump_rc),
                                                       database_runner.scrub(tool_runner.stderr_tail(dump_err), secrets) or "no error output"))
        return digest.hexdigest(), size
    except BaseException:
        tool_runner.stop_process(dump)
        tool_runner.stop_process(comp)
        catalog_runner.remove_path(out_path)
        raise
    finally:
        dump_err.close()
        comp_err.close()


def dump_argv(pg_dump: str, params: Mapping[str, Any], database: str, fmt: str, jobs: int,
              compression: str, snapshot: Optional[str], out_path: Optional[str],
              extra: Sequence[str] = ()) -> List[str]:
    """The pg_dump argv (no password, no shell)."""
    argv = [pg_dump, "--no-password"]
    if fmt == "custom":
        argv += ["-Fc", "-Z0"]
    else:
        # zstd: pg_dump 15 writes the files uncompressed, compress_data_files compresses them after.
        argv += ["-Fd", "-Z%d" % (6 if compression == "gzip" else 0), "-j", str(jobs), "-f", str(out_path)]
    if snapshot:
        argv += ["--snapshot", snapshot]
    argv += list(extra)
    argv += ["-d", database_runner.conninfo_dbname(database)]
    return argv


def run_backup(params: Mapping[str, Any], backup_dir: str, kind: str, database: str, fmt: str,
               compression: str, jobs: int = 2, exact_counts: bool = True,
               pg_dump_path: Optional[str] = None, extra_args: Sequence[str] = (),
               now: Optional[datetime.datetime] = None,
               globals_options: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Take one backup and write its manifest last. Returns the manifest plus paths.

    With ``globals_options`` (``{"passwords", "pg_dumpall_path"}``) the cluster's globals are
    written beside it (globals_runner.py) and recorded in the manifest with their checksum.
    On failure nothing is left behind but earlier backups, and BackupError is raised.
    """
    pg_dump = tool_runner.find_pg_binary("pg_dump", pg_dump_path)
    started = now or catalog_runner.utcnow()
    name = catalog_plan.backup_name(kind, database, started, catalog_plan.extension(fmt, compression))
    final = os.path.join(backup_dir, name)
    partial = final + catalog_plan.PARTIAL_SUFFIX
    mpath = catalog_plan.manifest_path(final)
    if os.path.lexists(final) or os.path.lexists(mpath):
        raise catalog_plan.BackupError("backup %s already exists" % final)
    try:
        os.makedirs(os.path.dirname(final), exist_ok=True)
    except OSError as exc:
        raise catalog_runner.io_error("creating directory", os.path.dirname(final), exc)
    secrets = [params.get("login_password")]
    env = database_runner.libpq_env(params)
    monotonic = time.monotonic()
    conn = database_runner.connect(params, database, autocommit=False, read_only=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cur.fetchone()
        properties = settings_runner.read_properties(conn, database)
        version = tool_runner.tool_version(pg_dump)
        # The row counts run in this session (the exported snapshot) while pg_dump streams.
        counter = tool_runner.Background(database_runner.row_counts, conn, exact_counts)
        try:
            if fmt == "custom":
                argv = dump_argv(pg_dump, params, database, fmt, jobs, compression, snapshot, None, extra_args)
                digest, size = stream_dump(argv, env, compression, partial, secrets)
                files = None
            else:
                catalog_runner.remove_path(partial)
                argv = dump_argv(pg_dump, params, database, fmt, jobs, compression, snapshot, partial, extra_args)
                try:
                    tool_runner.run_tool(argv, env, "pg_dump", secrets)
                except catalog_plan.BackupError as exc:
                    if catalog_runner.out_of_space(str(exc), partial):
                        raise catalog_plan.BackupError("pg_dump writing %s failed: no space left on device" % partial) from exc
                    raise
                if compression == "zstd":
                    compress_runner.compress_data_files(partial)
                files = catalog_runner.hash_tree(partial)
                for entry in files:
                    with open(os.path.join(partial, entry["path"]), "rb") as handle:
                        os.fsync(handle.fileno())
                digest, size = None, sum(f["size"] for f in files)
            counts = counter.result()
        except OSError as exc:
            counter.cancel(conn)
            catalog_runner.remove_path(partial)
            raise catalog_runner.io_error("writing", partial, exc)
        except BaseException:
            counter.cancel(conn)
            catalog_runner.remove_path(partial)
            raise
    finally:
        try:
            conn.rollback()
            conn.close()
        except Exception:  # pylint: disable=broad-except
            pass
    fields = dict(
        kind=kind, database=database, name=name, format=fmt, compression=compression,
        server_version=server_version, pg_dump_version=version, size=size, sha256=digest, files=files,
        started=catalog_plan.iso(started),
        tables=catalog_plan.tables_field(counts), row_count_method="exact" if exact_counts else "estimate",
        database_properties=properties,
    )
    try:
        os.rename(partial, final)
        fsync_dir(os.path.dirname(final))
        if globals_options is not None:
            fields["globals"] = globals_runner.dump_globals(params, database, final, **globals_options)
        manifest = catalog_plan.build_manifest(finished=catalog_plan.iso(catalog_runner.utcnow()),
                                               duration_seconds=round(time.monotonic() - monotonic, 3), **fields)
        catalog_runner.atomic_write_json(mpath, manifest)
    except OSError as exc:
        _remove_all(final, partial, mpath)
        raise catalog_runner.io_error("finishing backup", final, exc)
    except BaseException:
        _remove_all(final, partial, mpath)
        raise
    return {"path": final, "manifest_path": mpath, "name": name, "manifest": manifest}


def _remove_all(final: str, partial: str, mpath: str) -> None:
    for path in (mpath, globals_plan.globals_path(final), final, partial):
        catalog_runner.remove_path(path)


def run(module) -> None:
    """The module pg_backup: one backup (in check mode: the binary and the connection checked, the
    name it would have)."""
    validation.validate(module, argspec.VALUE_RULES)
    database_runner.check_options(module)
    params = module.params
    fmt, database, kind = params["format"], params["database"], params["kind"]
    compression = params["compression"] or "zstd"
    try:
        catalog_plan.validate_part("kind", kind)
        catalog_plan.validate_part("database", database)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    name = "backup.%s.dump" % database
    if module.check_mode:
        try:
            tool_runner.find_pg_binary("pg_dump", params["pg_dump_path"])
            if params["globals"]:
                tool_runner.find_pg_binary("pg_dumpall", params["pg_dumpall_path"])
            database_runner.connect(params, database, read_only=True).close()
        except catalog_plan.BackupError as exc:
            module.fail_json(msg=str(exc))
        rel = catalog_plan.backup_name(kind, database, catalog_runner.utcnow(), catalog_plan.extension(fmt, compression))
        path = "%s/%s" % (params["backup_dir"].rstrip("/"), rel)
        result = build([check(name, "ok", "would write %s and its manifest" % path, value={"path": path})], {}, "backup")
        module.exit_json(changed=True, path=path, manifest_path=catalog_plan.manifest_path(path), name=rel, **result)
    try:
        done = run_backup(params, params["backup_dir"], kind, database, fmt, compression, jobs=params["jobs"],
                          exact_counts=params["exact_counts"], pg_dump_path=params["pg_dump_path"],
                          globals_options=dict(passwords=params["globals_passwords"],
                                               pg_dumpall_path=params["pg_dumpall_path"])
                          if params["globals"] else None)
    except catalog_plan.BackupError as exc:
        module.fail_json(msg="backup of %s failed: %s" % (database, exc))
    except OSError as exc:
        module.fail_json(msg="backup of %s failed: %s" % (database, exc.strerror or exc))
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback; partial files are gone
        module.fail_json(msg="backup of %s failed: %s" % (database, database_runner.scrub(str(exc), [params["login_password"]])))
    manifest = done["manifest"]
    labels = dict(database=database, kind=kind)
    message = "wrote %s (%d bytes, %d tables) in %.1fs" % (
        done["path"], manifest["size"], catalog_plan.table_count(manifest), manifest["duration_seconds"])
    metrics = {
        metric_key("backup_size_bytes", **labels): float(manifest["size"]),
        metric_key("backup_duration_seconds", **labels): float(manifest["duration_seconds"]),
    }
    result = build([check(name, "ok", message, value={"path": done["path"], "size": manifest["size"],
                                                      "sha256": manifest["sha256"]})], metrics, "backup")
    module.exit_json(changed=True, path=done["path"], manifest_path=done["manifest_path"], name=done["name"],
                     manifest=manifest, **result)
