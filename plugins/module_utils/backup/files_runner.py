# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File archives: tar of config, cache, logs and SQLite databases, with the backup manifest.

An archive is ``<backup_dir>/<kind>/<name>-<UTC timestamp>.tar.zst`` (``.tar.gz``, ``.tar``)
and its manifest ``<archive>.manifest.json``, written last by atomic rename, in the same
schema as database backups (``backup.py``: format ``tar``, ``database`` holds ``name``), plus
``members`` (path, type, size, mode, SHA-256 of every regular file), ``sources``,
``exclude``, ``sqlite`` (each database copied with SQLite's online backup API, its
integrity check and row counts) and ``warnings``.

The tar stream is written by Python's ``tarfile`` into the compressor (``zstd`` or ``gzip``,
argv only, no shell); a thread reads the compressed output, hashes it and writes it to
``<archive>.partial``. Member paths are the sources' absolute paths without the leading
``/`` (like GNU tar), so a restore into ``dest`` recreates ``dest/etc/app/...``.

The top half is pure (globs, names, member safety); the bottom half does the I/O.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import fnmatch
import grp
import hashlib
import os
import posixpath
import pwd
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk

try:
    import sqlite3

    HAS_SQLITE3 = True
except ImportError:  # pragma: no cover - Python built without sqlite3
    sqlite3 = None  # type: ignore[assignment]
    HAS_SQLITE3 = False

SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
COMPRESSIONS = ("zstd", "gzip", "none")
COPY_CHUNK = 1024 * 1024
MEMBER_TYPES = ("file", "dir", "symlink")


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------

def arcname_of(path: str) -> str:
    """The member name of an absolute source path: normalised, without the leading ``/``."""
    norm = posixpath.normpath(path.replace(os.sep, "/"))
    return norm.lstrip("/") or "."


def is_excluded(arcname: str, globs: Sequence[str]) -> Optional[str]:
    """The first glob that excludes a member, else None.

    A glob matches the member's absolute path (``/var/log/app/*.gz``), its path without the
    leading slash, or its base name (``*.tmp``, ``__pycache__``).
    """
    base = arcname.rsplit("/", 1)[-1]
    for glob in globs:
        if fnmatch.fnmatchcase("/" + arcname, glob) or fnmatch.fnmatchcase(arcname, glob) \
                or fnmatch.fnmatchcase(base, glob):
            return glob
    return None


def is_sqlite_header(head: bytes) -> bool:
    return head[:len(SQLITE_HEADER)] == SQLITE_HEADER


def sidecar_of(path: str, databases: Iterable[str]) -> Optional[str]:
    """The SQLite database a ``-wal``/``-shm``/``-journal`` file belongs to, if any."""
    for suffix in SQLITE_SIDECARS:
        if path.endswith(suffix) and path[:-len(suffix)] in databases:
            return path[:-len(suffix)]
    return None


def unsafe_member_reason(name: str) -> Optional[str]:
    """Why a member name must not be extracted (absolute, ``..``, empty), else None."""
    if not name or name.startswith("/") or "\x00" in name:
        return "member %r has an absolute or empty name" % name
    if ".." in name.split("/"):
        return "member %r leaves the target directory" % name
    return None


def members_index(manifest: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    return {m["path"]: m for m in manifest.get("members") or []}


def sqlite_table_counts(conn) -> Dict[str, int]:
    """``{table: rows}`` of a SQLite database (identifiers quoted)."""
    counts = {}
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for name in names:
        quoted = '"%s"' % name.replace('"', '""')
        counts[name] = int(conn.execute("SELECT count(*) FROM %s" % quoted).fetchone()[0])  # noqa: S608
    return counts


# --------------------------------------------------------------------------------------------
# Planning: what would be archived
# --------------------------------------------------------------------------------------------

def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER))
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
            raise bk.BackupError("SQLite database %s does not exist or is not a regular file" % path)
    found: Dict[str, Dict[str, Any]] = {}
    excluded: List[Dict[str, str]] = []
    skipped: List[Dict[str, str]] = []
    missing: List[str] = []

    def consider(full: str, st: os.stat_result) -> bool:
        arc = arcname_of(full)
        glob = is_excluded(arc, exclude)
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
        is_db = kind == "file" and (full in explicit or (detect_sqlite and is_sqlite_header(_read_head(full))))
        found.setdefault(arc, {"source": full, "arcname": arc, "type": kind, "size": st.st_size if kind == "file" else 0,
                               "sqlite": is_db})
        return kind == "dir"

    for raw in list(paths) + sorted(explicit):
        top = os.path.abspath(raw)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            if not ignore_missing:
                raise bk.BackupError("path %s does not exist (set ignore_missing to skip it)" % top)
            missing.append(top)
            continue
        except OSError as exc:
            raise bk.BackupError("cannot read %s: %s" % (top, exc.strerror or exc))
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
                    raise bk.BackupError("cannot read %s: %s" % (full, exc.strerror or exc))
                if consider(full, child) and name in dirs:
                    keep_dirs.append(name)
            dirs[:] = keep_dirs
    databases = {m["source"] for m in found.values() if m["sqlite"]}
    for arc in list(found):
        owner = sidecar_of(found[arc]["source"], databases)
        if owner:
            skipped.append({"path": found[arc]["source"], "reason": "sidecar of SQLite database %s (copied "
                                                                    "consistently with the backup API)" % owner})
            del found[arc]
    members = [found[arc] for arc in sorted(found)]
    return {"members": members, "excluded": excluded, "missing": missing, "skipped": skipped}


def _walk_error(exc: OSError) -> None:
    raise bk.BackupError("cannot read %s: %s" % (exc.filename, exc.strerror or exc))


# --------------------------------------------------------------------------------------------
# Writing: tar -> compressor -> hash -> file
# --------------------------------------------------------------------------------------------

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
        self.failure: Optional[bk.BackupError] = None
        self.out = open(out_path, "wb")
        self.out_path = out_path
        self.proc: Optional[subprocess.Popen] = None
        self.thread: Optional[threading.Thread] = None
        self.err = tempfile.TemporaryFile()
        argv = bk.compressor_argv(compression)
        if argv:
            try:
                self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                                             stderr=self.err)
            except OSError as exc:
                self.out.close()
                self.err.close()
                raise bk.BackupError("cannot start %s: %s" % (argv[0], exc.strerror or exc))
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
            raise bk._io_error("writing", self.out_path, self.error)  # pylint: disable=protected-access
        if self.error is not None:
            raise bk.BackupError("writing %s failed: %s" % (self.out_path, self.error))

    def write(self, data: bytes) -> int:
        if self.proc is None:
            try:
                self._sink(data)
            except OSError as exc:
                raise bk._io_error("writing", self.out_path, exc)  # pylint: disable=protected-access
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
        except bk.BackupError as exc:
            self.failure = exc
            raise

    def _diagnose(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=30)
        self._raise_pump_error()
        code = self.proc.wait() if self.proc is not None else 0
        raise bk.BackupError("the compressor stopped: %s: %s" % (
            bk._describe_rc(os.path.basename(self.proc.args[0]), code),  # pylint: disable=protected-access
            bk._tail(self.err) or "no error output"))  # pylint: disable=protected-access

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
                raise bk.BackupError("%s: %s" % (bk._describe_rc(os.path.basename(self.proc.args[0]), code),  # pylint: disable=protected-access
                                                 bk._tail(self.err) or "no error output"))  # pylint: disable=protected-access
        try:
            self.out.flush()
            os.fsync(self.out.fileno())
            self.out.close()
        except OSError as exc:
            raise bk._io_error("writing", self.out_path, exc)  # pylint: disable=protected-access
        self.err.close()
        return self.digest.hexdigest(), self.size

    def abort(self) -> None:
        if self.proc is not None:
            bk._stop(self.proc)  # pylint: disable=protected-access
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
        raise bk.BackupError("Python's sqlite3 module is missing on this host: cannot copy %s" % source)
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
        raise bk.BackupError("copying SQLite database %s failed: %s" % (source, exc))
    finally:
        for conn in (dst, src):
            if conn is not None:
                conn.close()
    ok = integrity == ["ok"]
    if not ok:
        raise bk.BackupError("the copy of SQLite database %s fails its integrity check: %s"
                             % (source, "; ".join(integrity[:5])))
    return {"integrity": "ok", "tables": tables, "page_count": pages, "journal_mode_source": mode}


def create_archive(backup_dir: str, kind: str, name: str, paths: Sequence[str], exclude: Sequence[str] = (),
                   compression: str = "zstd", sqlite_databases: Sequence[str] = (), detect_sqlite: bool = True,
                   ignore_missing: bool = False, work_dir: Optional[str] = None, sqlite_timeout: float = 30.0,
                   now=None) -> Dict[str, Any]:
    """Write one archive and then its manifest. Returns ``{path, manifest_path, name, manifest}``.

    On any failure the partial archive and temp copies are removed and BackupError is raised;
    earlier archives are not touched.
    """
    if compression not in COMPRESSIONS:
        raise bk.BackupError("compression must be one of %s" % ", ".join(COMPRESSIONS))
    started = now or bk.utcnow()
    monotonic = time.monotonic()
    rel = bk.backup_name(kind, name, started, bk.extension("tar", compression))
    final = os.path.join(backup_dir, rel)
    partial = final + bk.PARTIAL_SUFFIX
    mpath = bk.manifest_path(final)
    if os.path.lexists(final) or os.path.lexists(mpath):
        raise bk.BackupError("archive %s already exists" % final)
    plan = plan_members(paths, exclude, sqlite_databases, detect_sqlite, ignore_missing)
    if not plan["members"]:
        raise bk.BackupError("nothing to archive: every path is missing or excluded")
    try:
        os.makedirs(os.path.dirname(final), exist_ok=True)
    except OSError as exc:
        raise bk._io_error("creating directory", os.path.dirname(final), exc)  # pylint: disable=protected-access
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
                    raise bk.BackupError("cannot read %s: %s" % (source, exc.strerror or exc))
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
        bk.remove_path(partial)
        if isinstance(exc, OSError):
            raise bk._io_error("archiving into", partial, exc)  # pylint: disable=protected-access
        if isinstance(exc, tarfile.TarError):
            raise bk.BackupError("archiving into %s failed: %s" % (partial, exc))
        raise
    finally:
        if scratch:
            bk.remove_path(scratch)
    finished = bk.utcnow()
    manifest = bk.build_manifest(
        kind=kind, database=name, name=rel, format="tar", compression=compression,
        size=size, sha256=digest, started=bk.iso(started), finished=bk.iso(finished),
        duration_seconds=round(time.monotonic() - monotonic, 3),
        sources=[os.path.abspath(p) for p in paths], exclude=list(exclude), members=members, sqlite=sqlite_info,
        warnings=warnings,
    )
    try:
        os.rename(partial, final)
        bk.fsync_dir(os.path.dirname(final))
        bk.atomic_write_json(mpath, manifest)
    except BaseException as exc:
        for path in (mpath, final, partial):
            bk.remove_path(path)
        if isinstance(exc, OSError):
            raise bk._io_error("finishing archive", final, exc)  # pylint: disable=protected-access
        raise
    return {"path": final, "manifest_path": mpath, "name": rel, "manifest": manifest,
            "excluded": plan["excluded"], "skipped": plan["skipped"]}


# --------------------------------------------------------------------------------------------
# Reading: verify members, restore
# --------------------------------------------------------------------------------------------

class _TarReader:
    """``tarfile`` in stream mode over the decompressor's stdout; closes everything on exit."""

    def __init__(self, archive: str, compression: str):
        self.err = tempfile.TemporaryFile()
        self.proc = None
        argv = bk.compressor_argv(compression, decompress=True)
        try:
            if argv:
                self.proc = subprocess.Popen(argv + [archive], stdout=subprocess.PIPE, stderr=self.err,  # noqa: S603
                                             stdin=subprocess.DEVNULL)
                self.stream = self.proc.stdout
            else:
                self.stream = open(archive, "rb")
        except OSError as exc:
            self.err.close()
            raise bk.BackupError("cannot read %s: %s" % (archive, exc.strerror or exc))
        self.archive = archive

    def __enter__(self) -> tarfile.TarFile:
        try:
            self.tar = tarfile.open(fileobj=self.stream, mode="r|", bufsize=COPY_CHUNK)
        except tarfile.TarError as exc:
            self.close()
            raise bk.BackupError("%s is not a readable tar archive: %s" % (self.archive, exc))
        return self.tar

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        bk._stop(self.proc)  # pylint: disable=protected-access
        try:
            self.stream.close()
        except OSError:
            pass
        self.err.close()

    def finish(self) -> None:
        """Drain and check the decompressor's exit status."""
        if self.proc is None:
            return
        while self.stream.read(COPY_CHUNK):
            pass
        code = self.proc.wait()
        if code != 0:
            raise bk.BackupError("decompressing %s failed: %s: %s" % (
                self.archive, bk._describe_rc(os.path.basename(self.proc.args[0]), code),  # pylint: disable=protected-access
                bk._tail(self.err) or "no error output"))  # pylint: disable=protected-access


def _copy_member(source, out) -> str:
    digest = hashlib.sha256()
    while True:
        block = source.read(COPY_CHUNK)
        if not block:
            break
        digest.update(block)
        if out is not None:
            out.write(block)
    return digest.hexdigest()


def verify_members(archive: str, manifest: Mapping[str, Any]) -> Tuple[bool, str]:
    """Read the whole archive and compare every member with the manifest (nothing is written)."""
    expected = members_index(manifest)
    seen = set()
    problems: List[str] = []
    try:
        reader = _TarReader(archive, manifest["compression"])
        with reader as tar:
            for member in tar:
                seen.add(member.name)
                want = expected.get(member.name)
                if want is None:
                    problems.append("%s is not in the manifest" % member.name)
                    continue
                if member.isfile():
                    got = _copy_member(tar.extractfile(member), None)
                    if got != want.get("sha256"):
                        problems.append("%s sha256 does not match the manifest" % member.name)
            reader.finish()
    except (bk.BackupError, tarfile.TarError, OSError, EOFError) as exc:
        return False, "cannot read %s: %s" % (archive, exc)
    missing = sorted(set(expected) - seen)
    if missing:
        problems.append("missing from the archive: %s" % ", ".join(missing[:5]))
    if problems:
        return False, "; ".join(problems[:5])
    files = sum(1 for m in expected.values() if m.get("type") == "file")
    return True, "%d members read back, %d file checksums match" % (len(seen), files)


def dest_state(dest: str) -> Tuple[bool, int]:
    """``(exists, number of entries)`` of a restore target directory."""
    if not os.path.lexists(dest):
        return False, 0
    if not os.path.isdir(dest) or os.path.islink(dest):
        raise bk.BackupError("dest %s exists and is not a directory" % dest)
    return True, len(os.listdir(dest))


def _inside(root: str, path: str) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def restore_archive(archive: str, manifest: Mapping[str, Any], dest: str, force: bool = False,
                    restore_owner: bool = True) -> Dict[str, Any]:
    """Extract a verified archive into ``dest``, checking every member's SHA-256 while writing.

    Members are extracted into a staging directory next to ``dest`` first; only when all of them
    match the manifest are they moved into place (``dest`` created, or merged into a non-empty
    ``dest`` with ``force``). Returns ``{files, dirs, symlinks, bytes, sqlite: [...]}``.
    """
    exists, entries = dest_state(dest)
    if entries and not force:
        raise bk.BackupError("dest %s is not empty (%d entries): refusing to restore into it without force"
                             % (dest, entries))
    expected = members_index(manifest)
    parent = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".%s.restore-" % os.path.basename(os.path.abspath(dest)), dir=parent)
    except OSError as exc:
        raise bk._io_error("creating a staging directory in", parent, exc)  # pylint: disable=protected-access
    as_root = restore_owner and hasattr(os, "geteuid") and os.geteuid() == 0
    counts = {"files": 0, "dirs": 0, "symlinks": 0, "bytes": 0}
    attrs: List[Tuple[str, tarfile.TarInfo]] = []
    try:
        seen = set()
        reader = _TarReader(archive, manifest["compression"])
        with reader as tar:
            for member in tar:
                problem = unsafe_member_reason(member.name)
                if problem:
                    raise bk.BackupError(problem)
                want = expected.get(member.name)
                if want is None:
                    raise bk.BackupError("member %s is not in the manifest: refusing the archive" % member.name)
                target = os.path.join(staging, member.name)
                if not _inside(staging, os.path.dirname(target)):
                    raise bk.BackupError("member %s would be written through a symlink outside %s"
                                         % (member.name, dest))
                seen.add(member.name)
                if member.isdir():
                    os.makedirs(target, exist_ok=True)
                    counts["dirs"] += 1
                elif member.issym():
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.symlink(member.linkname, target)
                    counts["symlinks"] += 1
                    if as_root:
                        os.lchown(target, member.uid, member.gid)
                    continue
                elif member.isfile():
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as out:
                        got = _copy_member(tar.extractfile(member), out)
                    if got != want.get("sha256"):
                        raise bk.BackupError("member %s sha256 does not match the manifest: refusing the archive"
                                             % member.name)
                    counts["files"] += 1
                    counts["bytes"] += member.size
                else:
                    raise bk.BackupError("member %s has an unsupported type" % member.name)
                attrs.append((target, member))
            reader.finish()
        missing = sorted(set(expected) - seen)
        if missing:
            raise bk.BackupError("the archive lacks members listed in the manifest: %s" % ", ".join(missing[:5]))
        for target, member in reversed(attrs):  # children before their directories
            if as_root:
                os.chown(target, member.uid, member.gid)
            os.chmod(target, member.mode)
            os.utime(target, (member.mtime, member.mtime))
        sqlite_checks = check_restored_sqlite(staging, manifest)
        _move_into_place(staging, dest, exists)
    except OSError as exc:
        raise bk._io_error("restoring into", dest, exc)  # pylint: disable=protected-access
    except tarfile.TarError as exc:
        raise bk.BackupError("reading %s failed: %s" % (archive, exc))
    finally:
        bk.remove_path(staging)
    counts["sqlite"] = sqlite_checks
    return counts


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


def _move_into_place(staging: str, dest: str, exists: bool) -> None:
    if not exists:
        os.rename(staging, dest)
        os.makedirs(staging)  # recreated empty so the caller's cleanup is uniform
        return
    if not os.listdir(dest):
        os.rmdir(dest)
        os.rename(staging, dest)
        os.makedirs(staging)
        return
    for current, dirs, names in os.walk(staging):
        rel = os.path.relpath(current, staging)
        here = dest if rel == "." else os.path.join(dest, rel)
        for name in list(dirs):
            src, dst = os.path.join(current, name), os.path.join(here, name)
            if os.path.islink(src):  # a symlink to a directory: move it as a link
                _replace(src, dst)
                dirs.remove(name)
            elif os.path.lexists(dst) and (os.path.islink(dst) or not os.path.isdir(dst)):
                os.unlink(dst)
                os.makedirs(dst)
                shutil.copystat(src, dst)
            elif not os.path.lexists(dst):
                os.makedirs(dst)
                shutil.copystat(src, dst)
        for name in names:
            _replace(os.path.join(current, name), os.path.join(here, name))


def _replace(src: str, dst: str) -> None:
    if os.path.isdir(dst) and not os.path.islink(dst):
        shutil.rmtree(dst)
    os.replace(src, dst)
