# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File archives, reading: every member checked against the manifest, restored through a staging
directory next to ``dest`` and moved into place only when all of them match."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from typing import Any, Dict, List, Mapping, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.common.result import CRITICAL, OK, WARNING, build, check
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import compress_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import files_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import files_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import tool_runner


class TarReader:
    """``tarfile`` in stream mode over the decompressor's stdout; closes everything on exit."""

    def __init__(self, archive: str, compression: str):
        self.err = tempfile.TemporaryFile()
        self.proc = None
        argv = compress_runner.compressor_argv(compression, decompress=True)
        try:
            if argv:
                self.proc = subprocess.Popen(argv + [archive], stdout=subprocess.PIPE, stderr=self.err,  # noqa: S603
                                             stdin=subprocess.DEVNULL)
                self.stream = self.proc.stdout
            else:
                self.stream = open(archive, "rb")
        except OSError as exc:
            self.err.close()
            raise catalog_plan.BackupError("cannot read %s: %s" % (archive, exc.strerror or exc))
        self.archive = archive

    def __enter__(self) -> tarfile.TarFile:
        try:
            self.tar = tarfile.open(fileobj=self.stream, mode="r|", bufsize=files_runner.COPY_CHUNK)
        except tarfile.TarError as exc:
            self.close()
            raise catalog_plan.BackupError("%s is not a readable tar archive: %s" % (self.archive, exc))
        return self.tar

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        tool_runner.stop_process(self.proc)
        try:
            self.stream.close()
        except OSError:
            pass
        self.err.close()

    def finish(self) -> None:
        """Drain and check the decompressor's exit status."""
        if self.proc is None:
            return
        while self.stream.read(files_runner.COPY_CHUNK):
            pass
        code = self.proc.wait()
        if code != 0:
            raise catalog_plan.BackupError("decompressing %s failed: %s: %s" % (
                self.archive, tool_runner.describe_rc(os.path.basename(self.proc.args[0]), code),
                tool_runner.stderr_tail(self.err) or "no error output"))


def copy_member(source, out) -> str:
    digest = hashlib.sha256()
    while True:
        block = source.read(files_runner.COPY_CHUNK)
        if not block:
            break
        digest.update(block)
        if out is not None:
            out.write(block)
    return digest.hexdigest()


def verify_members(archive: str, manifest: Mapping[str, Any]) -> Tuple[bool, str]:
    """Read the whole archive and compare every member with the manifest (nothing is written)."""
    expected = files_plan.members_index(manifest)
    seen = set()
    problems: List[str] = []
    try:
        reader = TarReader(archive, manifest["compression"])
        with reader as tar:
            for member in tar:
                seen.add(member.name)
                want = expected.get(member.name)
                if want is None:
                    problems.append("%s is not in the manifest" % member.name)
                    continue
                if member.isfile():
                    got = copy_member(tar.extractfile(member), None)
                    if got != want.get("sha256"):
                        problems.append("%s sha256 does not match the manifest" % member.name)
            reader.finish()
    except (catalog_plan.BackupError, tarfile.TarError, OSError, EOFError) as exc:
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
        raise catalog_plan.BackupError("dest %s exists and is not a directory" % dest)
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
        raise catalog_plan.BackupError("dest %s is not empty (%d entries): refusing to restore into it without force"
                                       % (dest, entries))
    expected = files_plan.members_index(manifest)
    parent = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".%s.restore-" % os.path.basename(os.path.abspath(dest)), dir=parent)
    except OSError as exc:
        raise catalog_runner.io_error("creating a staging directory in", parent, exc)
    as_root = restore_owner and hasattr(os, "geteuid") and os.geteuid() == 0
    counts = {"files": 0, "dirs": 0, "symlinks": 0, "bytes": 0}
    attrs: List[Tuple[str, tarfile.TarInfo]] = []
    try:
        seen = set()
        reader = TarReader(archive, manifest["compression"])
        with reader as tar:
            for member in tar:
                problem = files_plan.unsafe_member_reason(member.name)
                if problem:
                    raise catalog_plan.BackupError(problem)
                want = expected.get(member.name)
                if want is None:
                    raise catalog_plan.BackupError("member %s is not in the manifest: refusing the archive" % member.name)
                target = os.path.join(staging, member.name)
                if not _inside(staging, os.path.dirname(target)):
                    raise catalog_plan.BackupError("member %s would be written through a symlink outside %s"
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
                        got = copy_member(tar.extractfile(member), out)
                    if got != want.get("sha256"):
                        raise catalog_plan.BackupError("member %s sha256 does not match the manifest: refusing the archive"
                                                       % member.name)
                    counts["files"] += 1
                    counts["bytes"] += member.size
                else:
                    raise catalog_plan.BackupError("member %s has an unsupported type" % member.name)
                attrs.append((target, member))
            reader.finish()
        missing = sorted(set(expected) - seen)
        if missing:
            raise catalog_plan.BackupError("the archive lacks members listed in the manifest: %s" % ", ".join(missing[:5]))
        for target, member in reversed(attrs):  # children before their directories
            if as_root:
                os.chown(target, member.uid, member.gid)
            os.chmod(target, member.mode)
            os.utime(target, (member.mtime, member.mtime))
        sqlite_checks = files_runner.check_restored_sqlite(staging, manifest)
        _move_into_place(staging, dest, exists)
    except OSError as exc:
        raise catalog_runner.io_error("restoring into", dest, exc)
    except tarfile.TarError as exc:
        raise catalog_plan.BackupError("reading %s failed: %s" % (archive, exc))
    finally:
        catalog_runner.remove_path(staging)
    counts["sqlite"] = sqlite_checks
    return counts


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


def run(module) -> None:
    """The module file_archive with state=restored: the archive verified, then extracted into dest."""
    validation.validate(module, argspec.VALUE_RULES)
    params = module.params
    files_runner.check_names(module)
    dest = params["dest"]
    try:
        archive, manifest, verified = catalog_runner.load_verified(params["backup"])
    except catalog_plan.BackupError as exc:
        module.fail_json(msg="%s: %s" % (params["backup"], exc))
    if manifest["format"] != "tar":
        module.fail_json(msg="%s is a database dump (format %s): restore it with runbook.ops.pg_restore"
                             % (params["backup"], manifest["format"]))
    prefix = "files.%s" % manifest["database"]
    common = dict(path=archive, manifest_path=catalog_plan.manifest_path(archive), manifest=manifest)
    checks = [check(prefix + ".checksum", OK, verified, value={"archive": archive})]
    try:
        _exists, entries = dest_state(dest)
    except catalog_plan.BackupError as exc:
        module.fail_json(msg=str(exc))
    if entries and not params["force"]:
        module.fail_json(msg="dest %s is not empty (%d entries): refusing to restore into it without force"
                             % (dest, entries))
    if module.check_mode:
        count = len(manifest["members"] or [])
        checks.append(check(prefix + ".restore", OK, "would extract %d members into %s%s" % (
            count, dest, " (replacing files, force)" if entries else ""), value={"dest": dest, "members": count}))
        module.exit_json(changed=True, **dict(common, **build(checks, {}, "files")))
    try:
        counts = restore_archive(archive, manifest, dest, force=params["force"],
                                 restore_owner=params["restore_owner"])
    except catalog_plan.BackupError as exc:
        module.fail_json(msg="restoring %s into %s failed: %s" % (archive, dest, exc))
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback
        module.fail_json(msg="restoring %s into %s failed: %s" % (archive, dest, exc))
    message = "extracted %d files (%d bytes), %d directories, %d symlinks into %s; every file's sha256 matches " \
        "the manifest" % (counts["files"], counts["bytes"], counts["dirs"], counts["symlinks"], dest)
    checks.append(check(prefix + ".restore", OK, message, value={k: v for k, v in counts.items() if k != "sqlite"}))
    for item in counts["sqlite"]:
        status = {True: OK, False: CRITICAL, None: WARNING}[item["ok"]]
        checks.append(check("%s.sqlite.%s" % (prefix, os.path.basename(item["path"])), status, item["message"]))
    module.exit_json(changed=True, restored={k: v for k, v in counts.items() if k != "sqlite"},
                     **dict(common, **build(checks, {}, "files")))
