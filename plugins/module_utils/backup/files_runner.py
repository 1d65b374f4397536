# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File archives, writing: tar of config, cache, logs and SQLite databases, with the backup manifest.

The tar stream is written by Python's ``tarfile`` into the compressor (``zstd`` or ``gzip``, argv
only, no shell); a thread reads the compressed output, hashes it and writes it to
``<archive>.partial``. Each SQLite database is copied with SQLite's online backup API and checked
(integrity, row counts). The manifest is written last, by atomic rename (files_plan.py describes it).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import grp
import hashlib
import os
import pwd
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import fsync_dir
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.common.result import OK, WARNING, build, check, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import compress_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import files_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import tool_runner

try:
    import sqlite3

    HAS_SQLITE3 = True
except ImportError:  # pragma: no cover - Python built without sqlite3
    sqlite3 = None  # type: ignore[assignment]
    HAS_SQLITE3 = False


COPY_CHUNK = 1024 * 1024


def sqlite_table_counts(conn) -> Dict[str, int]:
    """``{table: rows}`` of a SQLite database (identifiers quoted)."""
    counts = {}
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for name in names:
        quoted = '"%s"' % name.replace('"', '""')
        counts[name] = int(conn.execute("SELECT count(*) FROM %s" % quoted).fetchone()[0])  # noqa: S608
    return counts


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(files_plan.SQLITE_HEADER))
    except OSError:
        return b""


def plan_members(paths: Sequence[str], exclude: Sequence[str] = (), sqlite_databases: Sequence[str] = (),
                 detect_sqlite: bool = True, ignore_missing: bool = False) -> Dict[str, Any]:
    """Walk ``paths`` and decide every member. Raises BackupError for a missing path (unless ignored).

    Returns ``{"members": [{source, arcname, type, size, sqlite}], "excluded": [{path, glob}],
    "missing": [paths], "skipped": [{path, reason}]}``; members are sorted, parents first.
    """
    explicit = {os.path.abspath(p) for p in sqlite_databases}
    for path in sorted(explicit):
        if not os.path.isfile(path):
            if ignore_missing:
                continue
            raise catalog_plan.BackupError("SQLite database %s does not exist or is not a regular file" % path)
    found: Dict[str, Dict[str, Any]] = {}
    excluded: List[Dict[str, str]] = []
    skipped: List[Dict[str, str]] = []
    missing: List[str] = []

    def consider(full: str, st: os.stat_result) -> bool:
        arc = files_plan.arcname_of(full)
        glob = files_plan.is_excluded(arc, exclude)
        if glob:
            excluded.append({"path": full, "glob": glob})
            return False
        if stat.S_ISDIR(st.st_mode):
            kind = "dir"
        elif stat.S_ISREG(st.st_mode):
            kind = "file"
        elif stat.S_ISLNK(st.st_mode):
            kind = "symlink"
        else:
            skipped.append({"path": full, "reason": "not a regular file, directory or symlink"})
            return False
        is_db = kind == "file" and (full in explicit or (detect_sqlite and files_plan.is_sqlite_header(_read_head(full))))
        found.setdefault(arc, {"source": full, "arcname": arc, "type": kind, "size": st.st_size if kind == "file" else 0,
                               "sqlite": is_db})
        return kind == "dir"

    for raw in list(paths) + sorted(explicit):
        top = os.path.abspath(raw)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            if not ignore_missing:
                raise catalog_plan.BackupError("path %s does not exist (set ignore_missing to skip it)" % top)
            missing.append(top)
            continue
        except OSError as exc:
            raise catalog_plan.BackupError("cannot read %s: %s" % (top, exc.strerror or exc))
        if not consider(top, st):
            continue
        for current, dirs, names in os.walk(top, onerror=_walk_error):
            dirs.sort()
            keep_dirs = []
            for name in dirs + sorted(names):
                full = os.path.join(current, name)
                try:
                    child = os.lstat(full)
                except FileNotFoundError:
                    continue  # vanished while walking (a rotated log)
                except OSError as exc:
                    raise catalog_plan.BackupError("cannot read %s: %s" % (full, exc.strerror or exc))
                if consider(full, child) and name in dirs:
                    keep_dirs.append(name)
            dirs[:] = keep_dirs
    databases = {m["source"] for m in found.values() if m["sqlite"]}
    for arc in list(found):
        owner = files_plan.sidecar_of(found[arc]["source"], databases)
        if owner:
            skipped.append({"path": found[arc]["source"], "reason": "sidecar of SQLite database %s (copied "
                                                                    "consistently with the backup API)" % owner})
            del found[arc]
    members = [found[arc] for arc in sorted(found)]
    return {"members": members, "excluded": excluded, "missing": missing, "skipped": skipped}


def _walk_error(exc: OSError) -> None:
    raise catalog_plan.BackupError("cannot read %s: %s" % (exc.filename, exc.strerror or exc))


class CompressedSink:
    """A write-only stream: bytes go through the compressor (if any) into ``out_path``.

    The compressed bytes are hashed as they are written. ``finish()`` returns ``(sha256, size)``;
    ``abort()`` stops everything (the caller removes the file).
    """

    def __init__(self, out_path: str, compression: str, chunk: int = COPY_CHUNK):
        self.digest = hashlib.sha256()
        self.size = 0
        self.chunk = chunk
        self.error: Optional[BaseException] = None
        self.failure: Optional[catalog_plan.BackupError] = None
        self.out = open(out_path, "wb")
        self.out_path = out_path
        self.proc: Optional[subprocess.Popen] = None
        self.thread: Optional[threading.Thread] = None
        self.err = tempfile.TemporaryFile()
        argv = compress_runner.compressor_argv(compression)
        if argv:
            try:
                self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                                             stderr=self.err)
            except OSError as exc:
                self.out.close()
                self.err.close()
                raise catalog_plan.BackupError("cannot start %s: %s" % (argv[0], exc.strerror or exc))
            self.thread = threading.Thread(target=self._pump, name="archive-writer", daemon=True)
            self.thread.start()

    def _sink(self, block: bytes) -> None:
        self.digest.update(block)
        self.out.write(block)
        self.size += len(block)

    def _pump(self) -> None:
        source = self.proc.stdout
        try:
            while True:
                block = source.read(self.chunk)
                if not block:
                    break
                self._sink(block)
        except BaseException as exc:  # pylint: disable=broad-except  # handed to the writer
            self.error = exc
            source.close()  # the compressor dies of SIGPIPE and the writer sees EPIPE

    def _raise_pump_error(self) -> None:
        if isinstance(self.error, OSError):
            raise catalog_runner.io_error("writing", self.out_path, self.error)
        if self.error is not None:
            raise catalog_plan.BackupError("writing %s failed: %s" % (self.out_path, self.error))

    def write(self, data: bytes) -> int:
        if self.proc is None:
            try:
                self._sink(data)
            except OSError as exc:
                raise catalog_runner.io_error("writing", self.out_path, exc)
            return len(data)
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, ValueError, OSError):
            self._stop_and_raise()
        return len(data)

    def _stop_and_raise(self) -> None:
        if self.failure is not None:
            raise self.failure
        try:
            self._diagnose()
        except catalog_plan.BackupError as exc:
            self.failure = exc
            raise

    def _diagnose(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=30)
        self._raise_pump_error()
        code = self.proc.wait() if self.proc is not None else 0
        raise catalog_plan.BackupError("the compressor stopped: %s: %s" % (
            tool_runner.describe_rc(os.path.basename(self.proc.args[0]), code),
            tool_runner.stderr_tail(self.err) or "no error output"))

    def finish(self) -> Tuple[str, int]:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                self._stop_and_raise()
            self.thread.join()
            self._raise_pump_error()
            code = self.proc.wait()
            if code != 0:
                raise catalog_plan.BackupError("%s: %s" % (tool_runner.describe_rc(os.path.basename(self.proc.args[0]), code),
                                                           tool_runner.stderr_tail(self.err) or "no error output"))
        try:
            self.out.flush()
            os.fsync(self.out.fileno())
            self.out.close()
        except OSError as exc:
            raise catalog_runner.io_error("writing", self.out_path, exc)
        self.err.close()
        return self.digest.hexdigest(), self.size

    def abort(self) -> None:
        if self.proc is not None:
            tool_runner.stop_process(self.proc)
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
            if self.thread is not None:
                self.thread.join(timeout=30)
        for handle in (self.out, self.err):
            try:
                handle.close()
            except OSError:
                pass


class HashingReader:
    """Reads exactly ``size`` bytes of a file, hashing them; pads with zeros if the file shrank."""

    def __init__(self, handle, size: int):
        self.handle = handle
        self.left = size
        self.digest = hashlib.sha256()
        self.shrank = False

    def read(self, amount: int = -1) -> bytes:
        if amount is None or amount < 0 or amount > self.left:
            amount = self.left
        if amount == 0:
            return b""
        block = self.handle.read(amount)
        if len(block) < amount:
            self.shrank = True
            block += b"\x00" * (amount - len(block))
        self.left -= len(block)
        self.digest.update(block)
        return block


def _tarinfo(arcname: str, st: os.stat_result, kind: str, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    try:
        info.uname = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        info.uname = ""
    try:
        info.gname = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        info.gname = ""
    if kind == "dir":
        info.type = tarfile.DIRTYPE
    elif kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = linkname
    else:
        info.type = tarfile.REGTYPE
        info.size = size
    return info


def sqlite_snapshot(source: str, dest: str, timeout: float = 30.0) -> Dict[str, Any]:
    """Copy a live SQLite database with the online backup API into ``dest``, then check the copy.

    The copy is made in one step (a consistent snapshot even while the application writes) and
    switched to a rollback journal so it is one self-contained file. Returns ``{integrity,
    tables, page_count, journal_mode_source}``; BackupError when SQLite refuses.
    """
    if not HAS_SQLITE3:
        raise catalog_plan.BackupError("Python's sqlite3 module is missing on this host: cannot copy %s" % source)
    src = dst = None
    try:
        src = sqlite3.connect(source, timeout=timeout)
        mode = src.execute("PRAGMA journal_mode").fetchone()[0]
        dst = sqlite3.connect(dest)
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        integrity = [row[0] for row in dst.execute("PRAGMA integrity_check").fetchall()]
        tables = sqlite_table_counts(dst)
        pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
    except sqlite3.Error as exc:
        raise catalog_plan.BackupError("copying SQLite database %s failed: %s" % (source, exc))
    finally:
        for conn in (dst, src):
            if conn is not None:
                conn.close()
    ok = integrity == ["ok"]
    if not ok:
        raise catalog_plan.BackupError("the copy of SQLite database %s fails its integrity check: %s"
                                       % (source, "; ".join(integrity[:5])))
    return {"integrity": "ok", "tables": tables, "page_count": pages, "journal_mode_source": mode}


def check_restored_sqlite(root: str, manifest: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Integrity check and row counts of every restored SQLite database against the manifest."""
    results = []
    for info in manifest.get("sqlite") or []:
        path = os.path.join(root, info["path"])
        if not HAS_SQLITE3:
            results.append({"path": info["path"], "ok": None, "message": "sqlite3 module missing: not checked"})
            continue
        try:
            conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
            try:
                integrity = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
                tables = sqlite_table_counts(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            results.append({"path": info["path"], "ok": False, "message": "cannot open: %s" % exc})
            continue
        ok = integrity == ["ok"] and tables == info.get("tables")
        message = "integrity ok, %d tables, row counts match the manifest" % len(tables) if ok else \
            "integrity %s; tables %s, manifest %s" % ("; ".join(integrity[:3]), tables, info.get("tables"))
        results.append({"path": info["path"], "ok": ok, "message": message})
    return results


def create_archive(backup_dir: str, kind: str, name: str, paths: Sequence[str], exclude: Sequence[str] = (),
                   compression: str = "zstd", sqlite_databases: Sequence[str] = (), detect_sqlite: bool = True,
                   ignore_missing: bool = False, work_dir: Optional[str] = None, sqlite_timeout: float = 30.0,
                   now=None) -> Dict[str, Any]:
    """Write one archive and then its manifest. Returns ``{path, manifest_path, name, manifest}``.

    On any failure the partial archive and temp copies are removed and BackupError is raised;
    earlier archives are not touched.
    """
    if compression not in files_plan.COMPRESSIONS:
        raise catalog_plan.BackupError("compression must be one of %s" % ", ".join(files_plan.COMPRESSIONS))
    started = now or catalog_runner.utcnow()
    monotonic = time.monotonic()
    rel = catalog_plan.backup_name(kind, name, started, catalog_plan.extension("tar", compression))
    final = os.path.join(backup_dir, rel)
    partial = final + catalog_plan.PARTIAL_SUFFIX
    mpath = catalog_plan.manifest_path(final)
    if os.path.lexists(final) or os.path.lexists(mpath):
        raise catalog_plan.BackupError("archive %s already exists" % final)
    plan = plan_members(paths, exclude, sqlite_databases, detect_sqlite, ignore_missing)
    if not plan["members"]:
        raise catalog_plan.BackupError("nothing to archive: every path is missing or excluded")
    try:
        os.makedirs(os.path.dirname(final), exist_ok=True)
    except OSError as exc:
        raise catalog_runner.io_error("creating directory", os.path.dirname(final), exc)
    scratch_parent = work_dir or os.path.dirname(final)
    scratch = None
    sink = None
    warnings: List[str] = ["%s is missing: skipped" % p for p in plan["missing"]]
    members: List[Dict[str, Any]] = []
    sqlite_info: List[Dict[str, Any]] = []
    try:
        sink = CompressedSink(partial, compression)
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.copybufsize = COPY_CHUNK
            for item in plan["members"]:
                source, arc = item["source"], item["arcname"]
                try:
                    st = os.lstat(source)
                except FileNotFoundError:
                    warnings.append("%s vanished before it was archived" % source)
                    continue
                if item["type"] == "dir":
                    tar.addfile(_tarinfo(arc, st, "dir"))
                    members.append({"path": arc, "type": "dir", "mode": stat.S_IMODE(st.st_mode)})
                    continue
                if item["type"] == "symlink":
                    target = os.readlink(source)
                    tar.addfile(_tarinfo(arc, st, "symlink", linkname=target))
                    members.append({"path": arc, "type": "symlink", "target": target})
                    continue
                read_from = source
                if item["sqlite"]:
                    if scratch is None:
                        scratch = tempfile.mkdtemp(prefix=".sqlite-copy-", dir=scratch_parent)
                    read_from = os.path.join(scratch, "%d.sqlite" % len(sqlite_info))
                    info = sqlite_snapshot(source, read_from, sqlite_timeout)
                    info["path"] = arc
                    sqlite_info.append(info)
                try:
                    handle = open(read_from, "rb")
                except FileNotFoundError:
                    warnings.append("%s vanished before it was archived" % source)
                    continue
                except OSError as exc:
                    raise catalog_plan.BackupError("cannot read %s: %s" % (source, exc.strerror or exc))
                with handle:
                    size = os.fstat(handle.fileno()).st_size
                    reader = HashingReader(handle, size)
                    tar.addfile(_tarinfo(arc, st, "file", size=size), reader)
                if reader.shrank:
                    warnings.append("%s shrank while it was read (truncated or rotated): padded with zeros" % source)
                entry = {"path": arc, "type": "file", "size": size, "mode": stat.S_IMODE(st.st_mode),
                         "sha256": reader.digest.hexdigest()}
                if item["sqlite"]:
                    entry["sqlite"] = True
                    os.unlink(read_from)
                members.append(entry)
        digest, size = sink.finish()
    except BaseException as exc:
        if sink is not None:
            sink.abort()
        catalog_runner.remove_path(partial)
        if isinstance(exc, OSError):
            raise catalog_runner.io_error("archiving into", partial, exc)
        if isinstance(exc, tarfile.TarError):
            raise catalog_plan.BackupError("archiving into %s failed: %s" % (partial, exc))
        raise
    finally:
        if scratch:
            catalog_runner.remove_path(scratch)
    finished = catalog_runner.utcnow()
    manifest = catalog_plan.build_manifest(
        kind=kind, database=name, name=rel, format="tar", compression=compression,
        size=size, sha256=digest, started=catalog_plan.iso(started), finished=catalog_plan.iso(finished),
        duration_seconds=round(time.monotonic() - monotonic, 3),
        sources=[os.path.abspath(p) for p in paths], exclude=list(exclude), members=members, sqlite=sqlite_info,
        warnings=warnings,
    )
    try:
        os.rename(partial, final)
        fsync_dir(os.path.dirname(final))
        catalog_runner.atomic_write_json(mpath, manifest)
    except BaseException as exc:
        for path in (mpath, final, partial):
            catalog_runner.remove_path(path)
        if isinstance(exc, OSError):
            raise catalog_runner.io_error("finishing archive", final, exc)
        raise
    return {"path": final, "manifest_path": mpath, "name": rel, "manifest": manifest,
            "excluded": plan["excluded"], "skipped": plan["skipped"]}


LIST_LIMIT = 1000


def check_names(module) -> None:
    """name and kind are used in file names: fail the module clearly when they cannot be."""
    try:
        catalog_plan.validate_part("name", module.params["name"])
        catalog_plan.validate_part("kind", module.params["kind"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def run(module) -> None:
    """The module file_archive with state=archived: one archive and its manifest (in check mode:
    what it would hold)."""
    validation.validate(module, argspec.VALUE_RULES)
    params = module.params
    check_names(module)
    if not params["paths"] and not params["sqlite_databases"]:
        module.fail_json(msg="paths (or sqlite_databases) must list what to archive")
    name, kind = params["name"], params["kind"]
    prefix = "files.%s" % name
    labels = dict(database=name, kind=kind)
    if module.check_mode:
        try:
            compress_runner.compressor_argv(params["compression"])
            plan = plan_members(params["paths"], params["exclude"], params["sqlite_databases"],
                                params["detect_sqlite"], params["ignore_missing"])
        except catalog_plan.BackupError as exc:
            module.fail_json(msg="archive %s: %s" % (name, exc))
        rel = catalog_plan.backup_name(kind, name, catalog_runner.utcnow(), catalog_plan.extension("tar", params["compression"]))
        path = os.path.join(params["backup_dir"], rel)
        members = plan["members"]
        size = sum(m["size"] for m in members)
        checks = [check(prefix + ".archive", OK, "would archive %d members (%d bytes before compression) into %s" % (
            len(members), size, path), value={"path": path, "members": len(members), "bytes": size})]
        if plan["missing"]:
            checks.append(check(prefix + ".warnings", WARNING, "missing, would be skipped: %s"
                                % ", ".join(plan["missing"][:10]), value=plan["missing"]))
        module.exit_json(changed=True, path=path, manifest_path=catalog_plan.manifest_path(path), name=rel,
                         members=[m["arcname"] for m in members][:LIST_LIMIT], excluded=plan["excluded"][:LIST_LIMIT],
                         sqlite=[m["source"] for m in members if m["sqlite"]], **build(checks, {}, "files"))
    try:
        done = create_archive(params["backup_dir"], kind, name, params["paths"], params["exclude"],
                              params["compression"], params["sqlite_databases"], params["detect_sqlite"],
                              params["ignore_missing"], params["work_dir"], params["sqlite_timeout"])
    except catalog_plan.BackupError as exc:
        module.fail_json(msg="archive %s failed: %s" % (name, exc))
    except OSError as exc:
        module.fail_json(msg="archive %s failed: %s" % (name, exc.strerror or exc))
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback; partial files are gone
        module.fail_json(msg="archive %s failed: %s" % (name, exc))
    manifest = done["manifest"]
    files = [m for m in manifest["members"] if m["type"] == "file"]
    checks = [check(prefix + ".archive", OK, "wrote %s (%d bytes, %d files of %d bytes) in %.1fs" % (
        done["path"], manifest["size"], len(files), sum(m["size"] for m in files), manifest["duration_seconds"]),
        value={"path": done["path"], "size": manifest["size"], "sha256": manifest["sha256"]})]
    for info in manifest["sqlite"]:
        checks.append(check("%s.sqlite.%s" % (prefix, os.path.basename(info["path"])), OK,
                            "copied with the online backup API: integrity ok, %d tables, %d rows" % (
                                len(info["tables"]), sum(info["tables"].values())), value=info["tables"]))
    if manifest["warnings"]:
        checks.append(check(prefix + ".warnings", WARNING, "; ".join(manifest["warnings"][:10]),
                            value=manifest["warnings"]))
    metrics = {
        metric_key("backup_size_bytes", **labels): float(manifest["size"]),
        metric_key("backup_duration_seconds", **labels): float(manifest["duration_seconds"]),
        metric_key("backup_files", **labels): float(len(files)),
    }
    module.exit_json(changed=True, path=done["path"], manifest_path=done["manifest_path"], name=done["name"],
                     manifest=manifest, members=[m["path"] for m in manifest["members"]][:LIST_LIMIT],
                     excluded=done["excluded"][:LIST_LIMIT], sqlite=[i["path"] for i in manifest["sqlite"]],
                     **build(checks, metrics, "files"))
