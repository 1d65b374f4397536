# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup catalog on disk: checksums, manifests read and written, listing, verifying, deleting.

The names and the manifest schema are in catalog_plan.py; this file does the file-system I/O.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import errno
import hashlib
import json
import os
import shutil
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import atomic_write
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan


CHUNK = 1024 * 1024


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def sha256_file(path: str, chunk: int = CHUNK) -> Tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in bounded chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def atomic_write_json(path: str, data: Any) -> None:
    """Write JSON to ``path`` via a temp file in the same directory, fsync, rename, fsync the directory."""
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=None, sync_dir=True)


def remove_path(path: str) -> None:
    """Remove a file or directory tree if it exists; never raises."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    except OSError:
        pass


def load_manifest(path: str) -> Dict[str, Any]:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise catalog_plan.BackupError("manifest %s does not exist: the backup is incomplete or missing" % path)
    except (OSError, ValueError) as exc:
        raise catalog_plan.BackupError("manifest %s cannot be read: %s" % (path, exc))
    return catalog_plan.validate_manifest(data)


def hash_tree(root: str) -> List[Dict[str, Any]]:
    """``[{path, size, sha256}]`` for every file under ``root``, sorted by path."""
    files = []
    for current, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(current, name)
            digest, size = sha256_file(full)
            files.append({"path": os.path.relpath(full, root).replace(os.sep, "/"), "size": size, "sha256": digest})
    return files


def verify_archive(archive: str, manifest: Mapping[str, Any]) -> Tuple[bool, str]:
    """Does ``archive`` still match its manifest? ``(ok, message)``; never raises for I/O."""
    try:
        if manifest["format"] in catalog_plan.SINGLE_FILE_FORMATS:
            if not os.path.isfile(archive):
                return False, "archive %s is missing" % archive
            digest, size = sha256_file(archive)
            if size != manifest["size"]:
                return False, "archive %s is %d bytes, manifest says %d" % (archive, size, manifest["size"])
            if digest != manifest["sha256"]:
                return False, "archive %s sha256 %s does not match the manifest (%s)" % (
                    archive, digest[:16], manifest["sha256"][:16])
            return True, "sha256 matches (%d bytes)" % size
        if not os.path.isdir(archive):
            return False, "backup directory %s is missing" % archive
        expected = {f["path"]: f for f in manifest["files"]}
        found = hash_tree(archive)
        actual = {f["path"]: f for f in found}
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        bad = sorted(p for p in set(expected) & set(actual) if expected[p]["sha256"] != actual[p]["sha256"])
        if missing or extra or bad:
            parts = []
            if missing:
                parts.append("missing %s" % ", ".join(missing[:5]))
            if extra:
                parts.append("unexpected %s" % ", ".join(extra[:5]))
            if bad:
                parts.append("checksum mismatch in %s" % ", ".join(bad[:5]))
            return False, "backup directory %s: %s" % (archive, "; ".join(parts))
        return True, "sha256 of %d files matches" % len(found)
    except OSError as exc:
        return False, "cannot read %s: %s" % (archive, exc.strerror or exc)


def require_verified(archive: str, manifest: Mapping[str, Any]) -> str:
    """``verify_archive`` for a restore: its message, or BackupError refusing to restore."""
    ok, message = verify_archive(archive, manifest)
    if not ok:
        raise catalog_plan.BackupError("checksum verification failed, refusing to restore: %s" % message)
    return message


def list_backups(backup_dir: str, kinds: Optional[Iterable[str]] = None,
                 database: Optional[str] = None) -> List[Dict[str, Any]]:
    """Backups under ``backup_dir/<kind>/``: complete ones, incomplete ones and ``.partial`` leftovers.

    Each entry: name (relative), kind, database, timestamp, path, manifest_path, complete,
    partial, verified (None: not checked yet).
    """
    found = []
    if not os.path.isdir(backup_dir):
        return found
    wanted = set(kinds) if kinds else None
    for kind in sorted(os.listdir(backup_dir)):
        kdir = os.path.join(backup_dir, kind)
        if not os.path.isdir(kdir) or (wanted is not None and kind not in wanted):
            continue
        for entry in sorted(os.listdir(kdir)):
            partial = entry.endswith(catalog_plan.PARTIAL_SUFFIX)
            base = entry[:-len(catalog_plan.PARTIAL_SUFFIX)] if partial else entry
            if base.endswith(catalog_plan.MANIFEST_SUFFIX) or entry.startswith(".tmp-"):
                continue
            parsed = catalog_plan.parse_backup_name(base)
            if parsed is None or (database and parsed["database"] != database):
                continue
            path = os.path.join(kdir, entry)
            mpath = catalog_plan.manifest_path(os.path.join(kdir, base))
            found.append({
                "name": "%s/%s" % (kind, entry),
                "kind": kind,
                "database": parsed["database"],
                "timestamp": parsed["timestamp"],
                "path": path,
                "manifest_path": mpath,
                "complete": (not partial) and os.path.isfile(mpath),
                "partial": partial,
                "files_archive": parsed["ext"].startswith("tar"),
                "verified": None,
            })
    return found


def check_backup(item: Dict[str, Any]) -> Dict[str, Any]:
    """Fill ``verified`` and ``verify_message`` of a listed backup (reads the whole archive)."""
    if not item["complete"]:
        item["verified"] = False
        item["verify_message"] = "incomplete: no manifest"
        return item
    try:
        manifest = load_manifest(item["manifest_path"])
    except catalog_plan.BackupError as exc:
        item["verified"] = False
        item["verify_message"] = str(exc)
        return item
    item["manifest"] = manifest
    item["verified"], item["verify_message"] = verify_archive(item["path"], manifest)
    return item


def delete_backup(item: Mapping[str, Any]) -> None:
    """Remove a backup: manifest first (so it is never 'complete' without data), then the data."""
    if os.path.exists(item["manifest_path"]) and not item.get("partial"):
        os.unlink(item["manifest_path"])
    if os.path.isdir(item["path"]) and not os.path.islink(item["path"]):
        shutil.rmtree(item["path"])
    elif os.path.lexists(item["path"]):
        os.unlink(item["path"])


def out_of_space(output: str, path: str, margin: int = CHUNK) -> bool:
    """Whether a tool that failed writing ``path`` (a file, or a directory it wrote into) ran out
    of space: it says so, or the file system has less than ``margin`` bytes left (tools say it in
    their own words: pzstd only says "Failed to write output")."""
    if "No space left" in output:
        return True
    try:
        stat = os.statvfs(path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < margin


def io_error(action: str, path: str, exc: OSError) -> catalog_plan.BackupError:
    if exc.errno == errno.ENOSPC:
        return catalog_plan.BackupError("%s %s failed: no space left on device" % (action, path))
    return catalog_plan.BackupError("%s %s failed: %s" % (action, path, exc.strerror or exc))


def load_verified(path: str) -> Tuple[str, Dict[str, Any], str]:
    """Load the manifest of a backup and check the archive against it.

    Returns ``(archive, manifest, message)``; raises BackupError when the backup is incomplete
    or corrupt.
    """
    archive, mpath = catalog_plan.resolve_backup(path)
    manifest = load_manifest(mpath)
    return archive, manifest, require_verified(archive, manifest)
