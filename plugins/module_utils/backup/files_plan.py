# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File archives, pure part: member names, exclusion globs, SQLite recognition, member safety.

An archive is ``<backup_dir>/<kind>/<name>-<UTC timestamp>.tar.zst`` (``.tar.gz``, ``.tar``) and its
manifest ``<archive>.manifest.json``, in the schema of catalog_plan.py (format ``tar``, ``database``
holds ``name``), plus ``members`` (path, type, size, mode, SHA-256 of every regular file),
``sources``, ``exclude``, ``sqlite`` and ``warnings``. Member paths are the sources' absolute paths
without the leading ``/`` (like GNU tar), so a restore into ``dest`` recreates ``dest/etc/app/...``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import fnmatch
import os
import posixpath
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence


SQLITE_HEADER = b"SQLite format 3\x00"


SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


COMPRESSIONS = ("zstd", "gzip", "none")


MEMBER_TYPES = ("file", "dir", "symlink")


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
