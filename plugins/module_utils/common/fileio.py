# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File writes that a reader never sees half done, shared by the modules and the report callback."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import tempfile
from typing import Optional


def fsync_dir(path: str) -> None:
    """fsync a directory so a rename in it survives a crash; best effort, never raises."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, text: str, mode: Optional[int] = 0o644, sync_dir: bool = False) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory, fsync, then rename.

    ``mode`` None keeps the temporary file's 0600; ``sync_dir`` also fsyncs the directory after the
    rename (a completion marker that must survive a crash). On any error the temporary file is
    removed and the exception propagates; ``path`` is either the old file or the new one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        fsync_dir(directory)
