# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compression pipelines: zstd (pzstd on every core where it exists), gzip, none.

Single files are (de)compressed through a pipe; the data files of a directory-format dump one by
one (big ones) or in batches (small ones), so a dump of thousands of tables does not start
thousands of processes.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import re
import shutil
import subprocess
import tempfile
from typing import Any, List, Mapping, Optional, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import tool_runner


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def compressor_argv(compression: str, decompress: bool = False) -> Optional[List[str]]:
    """The compressor (or decompressor) command, reading stdin and writing stdout.

    zstd prefers pzstd (same package on Debian): its output is a series of standard zstd
    frames that zstd reads too, and that pzstd decompresses on all cores (zstd decompresses
    a frame on one core only: half the speed on two). zstd alone is used where pzstd is absent.
    """
    if compression == "none":
        return None
    if compression == "zstd":
        threads = str(min(cpu_count(), 8))
        parallel = shutil.which("pzstd")
        if parallel:
            return [parallel, "-d", "-c", "-q", "-p", threads] if decompress else [parallel, "-c", "-q", "-p", threads]
    tool = "zstd" if compression == "zstd" else "gzip"
    binary = shutil.which(tool)
    if not binary:
        raise catalog_plan.BackupError("%s is not installed: it is needed for compression %s" % (tool, compression))
    if compression == "zstd":
        return [binary, "-d", "-c", "-q"] if decompress else [binary, "-T0", "-q", "-c"]
    return [binary, "-d", "-c"] if decompress else [binary, "-c", "-6"]


_DATA_FILE = re.compile(r"^(?:\d+|blob_\d+)\.dat$")


def run_filter(argv: List[str], src: str, dst: str, verb: str) -> None:
    """``argv < src > dst`` for a compressor or decompressor; BackupError on failure, with ``dst``
    removed."""
    with tempfile.TemporaryFile() as err:
        try:
            with open(src, "rb") as inp, open(dst, "wb") as out:
                proc = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=err)  # noqa: S603
                try:
                    code = proc.wait()
                except BaseException:
                    tool_runner.stop_process(proc)
                    raise
        except OSError as exc:
            catalog_runner.remove_path(dst)
            raise catalog_runner.io_error(verb + " to", dst, exc)
        if code != 0:
            tail = tool_runner.stderr_tail(err)
            full = catalog_runner.out_of_space(tail, dst)
            catalog_runner.remove_path(dst)
            if full:
                raise catalog_plan.BackupError("%s %s to %s failed: no space left on device" % (verb, src, dst))
            raise catalog_plan.BackupError("%s %s failed: %s: %s" % (verb, src, tool_runner.describe_rc(os.path.basename(argv[0]), code),
                                                                     tail or "no error output"))


# Files at least this big are (de)compressed one by one with pzstd on all cores; smaller ones
# in batches by one zstd process, so a dump of thousands of small tables does not start
# thousands of processes.
BIG_FILE = 8 * catalog_runner.CHUNK


BATCH = 500


def _zstd() -> str:
    binary = shutil.which("zstd")
    if not binary:
        raise catalog_plan.BackupError("zstd is not installed: it is needed for compression zstd")
    return binary


def _run_batches(argv: List[str], paths: Sequence[str], verb: str, where: str) -> None:
    """``argv -- <paths>`` in batches; BackupError (``no space left on device`` when ``where``'s
    file system is full) on failure."""
    for start in range(0, len(paths), BATCH):
        try:
            tool_runner.run_tool(argv + ["--"] + list(paths[start:start + BATCH]), os.environ, os.path.basename(argv[0]))
        except catalog_plan.BackupError as exc:
            if catalog_runner.out_of_space(str(exc), where):
                raise catalog_plan.BackupError("%s files into %s failed: no space left on device" % (verb, where)) from exc
            raise catalog_plan.BackupError("%s files in %s failed: %s" % (verb, where, exc)) from exc


def compress_data_files(directory: str) -> None:
    """Compress the data files of a directory-format dump written with ``-Z0`` with zstd
    (``NNNN.dat`` -> ``NNNN.dat.zst``, the original removed): the big ones largest first, each
    on all cores, then the small ones in batches. The TOC files stay as they are.
    ``decompress_directory`` undoes it for pg_restore."""
    names = [name for name in os.listdir(directory) if _DATA_FILE.match(name)]
    sizes = {name: os.path.getsize(os.path.join(directory, name)) for name in names}
    argv = compressor_argv("zstd")
    small = []
    for name in sorted(names, key=lambda item: (-sizes[item], item)):
        path = os.path.join(directory, name)
        if sizes[name] < BIG_FILE:
            small.append(path)
            continue
        run_filter(argv, path, path + ".zst", "compressing")
        os.remove(path)
    _run_batches([_zstd(), "-q", "--rm"], small, "compressing", directory)


def decompress_directory(archive: str, manifest: Mapping[str, Any], out_dir: str) -> None:
    """Rebuild the directory-format dump pg_restore reads from a zstd directory backup:
    ``*.zst`` files decompressed into ``out_dir`` (the big ones largest first, each on all
    cores, the small ones in batches), the TOC files copied."""
    argv = compressor_argv("zstd", decompress=True)
    small = []
    for entry in sorted(manifest["files"], key=lambda item: (-int(item.get("size") or 0), item["path"])):
        src = os.path.join(archive, entry["path"])
        if not entry["path"].endswith(".zst"):
            try:
                shutil.copyfile(src, os.path.join(out_dir, entry["path"]))
            except OSError as exc:
                raise catalog_runner.io_error("copying to", out_dir, exc)
        elif int(entry.get("size") or 0) < BIG_FILE:
            small.append(src)
        else:
            run_filter(argv, src, os.path.join(out_dir, entry["path"][:-4]), "decompressing")
    _run_batches([_zstd(), "-d", "-q", "--output-dir-flat", out_dir], small, "decompressing", out_dir)


def verified_decompress(archive: str, manifest: Mapping[str, Any], out_path: str) -> str:
    """Decompress ``archive`` into ``out_path`` (a file, or the directory for a directory backup)
    while a thread checks it against the manifest (``require_verified``: the decompressor and the
    hash read the files at the same time, the second read comes from the page cache). BackupError
    when the check fails (reported first, whatever the decompressor said) or the decompressor
    fails; the caller removes ``out_path``."""
    checking = tool_runner.Background(catalog_runner.require_verified, archive, manifest)
    failure: Optional[catalog_plan.BackupError] = None
    try:
        if manifest["format"] == "directory":
            decompress_directory(archive, manifest, out_path)
        else:
            run_filter(compressor_argv(manifest["compression"], decompress=True), archive, out_path, "decompressing")
    except catalog_plan.BackupError as exc:
        failure = exc
    message = checking.result()
    if failure is not None:
        raise failure
    return message + ", checked while decompressing"
