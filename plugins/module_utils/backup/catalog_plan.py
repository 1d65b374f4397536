# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup catalog, pure part: names, timestamps and manifests (no I/O, no clock).

Layout of a backup directory::

    <backup_dir>/<kind>/<database>-<YYYYmmddTHHMMSSZ>.dump.zst                (custom format, zstd)
    <backup_dir>/<kind>/<database>-<YYYYmmddTHHMMSSZ>.dump.zst.manifest.json  (written LAST)
    <backup_dir>/<kind>/<database>-<YYYYmmddTHHMMSSZ>.dir/                    (directory format)
    <backup_dir>/<kind>/<name>-<YYYYmmddTHHMMSSZ>.tar.zst                     (file archive, files_runner.py)

A file archive uses the same layout and manifest conventions (format ``tar``; its ``database``
field holds the archive set's name), so verification, retention and S3 offload treat both alike.

The manifest is the completion marker: it is written by atomic rename only after the archive
itself is complete, synced and checksummed (catalog_runner.py). An archive without a manifest is
incomplete. A backup is *verified* when its manifest exists and the archive still matches the
manifest's checksums.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple


MANIFEST_SCHEMA = "runbook.ops/backup-manifest/v1"


MANIFEST_SUFFIX = ".manifest.json"


PARTIAL_SUFFIX = ".partial"


KINDS = ("daily", "weekly", "monthly", "manual")


FORMATS = ("custom", "directory", "tar")


SINGLE_FILE_FORMATS = ("custom", "tar")


DATABASE_FORMATS = ("custom", "directory")


COMPRESSIONS = ("zstd", "gzip", "none")


TS_FORMAT = "%Y%m%dT%H%M%SZ"


_NAME_RE = re.compile(r"^(?P<database>.+)-(?P<ts>\d{8}T\d{6}Z)\.(?P<ext>(?:dump|tar)(?:\.zst|\.gz)?|dir)$")


_SAFE_PART = re.compile(r"^[A-Za-z0-9_.@+-]+$")


MANIFEST_KEYS = (
    "schema", "kind", "database", "name", "format", "compression", "server_version", "pg_dump_version",
    "size", "sha256", "files", "started", "finished", "duration_seconds", "row_counts", "row_count_method",
)


# Only in manifests of file archives (format tar).
FILE_ARCHIVE_KEYS = ("sources", "exclude", "members", "sqlite", "warnings")


class BackupError(Exception):
    """A backup or restore step failed; the message is safe to show (no secrets)."""


def format_ts(moment: datetime.datetime) -> str:
    """``20261122T084600Z`` for a UTC (or naive, assumed UTC) datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime(TS_FORMAT)


def parse_ts(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, TS_FORMAT).replace(tzinfo=datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def extension(fmt: str, compression: str) -> str:
    """File extension for a format and compression: ``dump.zst``, ``dump.gz``, ``dump``, ``dir``."""
    if fmt not in FORMATS:
        raise ValueError("format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    if compression not in COMPRESSIONS:
        raise ValueError("compression must be one of %s, got %r" % (", ".join(COMPRESSIONS), compression))
    if fmt == "directory":
        return "dir"
    stem = "tar" if fmt == "tar" else "dump"
    return {"zstd": stem + ".zst", "gzip": stem + ".gz", "none": stem}[compression]


def single_file(manifest: Mapping[str, Any]) -> bool:
    """Is the backup one file (custom dump or tar archive) rather than a directory?"""
    return manifest.get("format") in SINGLE_FILE_FORMATS


def validate_part(what: str, value: str) -> str:
    """A kind or database name used in a path: no separators, no dot-only names."""
    if not value or not _SAFE_PART.match(value) or value.strip(".") == "":
        raise ValueError("%s %r cannot be used in a backup file name (letters, digits, _ . @ + - only)"
                         % (what, value))
    return value


def backup_name(kind: str, database: str, started: datetime.datetime, ext: str) -> str:
    """``<kind>/<database>-<UTC timestamp>.<ext>``, relative to the backup directory."""
    validate_part("kind", kind)
    validate_part("database", database)
    return "%s/%s-%s.%s" % (kind, database, format_ts(started), ext)


def manifest_path(archive_path: str) -> str:
    return archive_path + MANIFEST_SUFFIX


def parse_backup_name(filename: str) -> Optional[Dict[str, Any]]:
    """Database, timestamp and extension from a file name; None when it is not one of ours."""
    match = _NAME_RE.match(filename)
    if not match:
        return None
    try:
        moment = parse_ts(match.group("ts"))
    except ValueError:
        return None
    return {"database": match.group("database"), "timestamp": moment, "ext": match.group("ext")}


def build_manifest(**fields: Any) -> Dict[str, Any]:
    """A manifest dict with every key of the schema present (missing ones None).

    The file-archive keys (FILE_ARCHIVE_KEYS) are only present when given.
    """
    unknown = set(fields) - set(MANIFEST_KEYS) - set(FILE_ARCHIVE_KEYS)
    if unknown:
        raise ValueError("unknown manifest fields: %s" % ", ".join(sorted(unknown)))
    manifest = {key: fields.get(key) for key in MANIFEST_KEYS}
    manifest.update((key, fields[key]) for key in FILE_ARCHIVE_KEYS if key in fields)
    manifest["schema"] = MANIFEST_SCHEMA
    return manifest


def validate_manifest(data: Any) -> Dict[str, Any]:
    """Check a loaded manifest; raise BackupError naming what is wrong."""
    if not isinstance(data, dict):
        raise BackupError("manifest is not a JSON object")
    if data.get("schema") != MANIFEST_SCHEMA:
        raise BackupError("manifest schema is %r, expected %r" % (data.get("schema"), MANIFEST_SCHEMA))
    for key in ("database", "format", "compression", "name", "started", "finished"):
        if not data.get(key):
            raise BackupError("manifest has no %s" % key)
    if data["format"] not in FORMATS:
        raise BackupError("manifest format %r is unknown" % data["format"])
    if data["compression"] not in COMPRESSIONS:
        raise BackupError("manifest compression %r is unknown" % data["compression"])
    if data["format"] in SINGLE_FILE_FORMATS:
        if not isinstance(data.get("sha256"), str) or len(data["sha256"]) != 64:
            raise BackupError("manifest has no valid sha256")
        if not isinstance(data.get("size"), int):
            raise BackupError("manifest has no size")
        if data["format"] == "tar":
            members = data.get("members")
            if not isinstance(members, list):
                raise BackupError("manifest of a file archive lists no members")
            for entry in members:
                if not isinstance(entry, dict) or not entry.get("path"):
                    raise BackupError("manifest member entry %r is malformed" % (entry,))
                if entry.get("type") == "file" and len(str(entry.get("sha256", ""))) != 64:
                    raise BackupError("manifest member %r has no valid sha256" % entry["path"])
                if entry["path"].startswith("/") or ".." in entry["path"].split("/"):
                    raise BackupError("manifest member %r leaves the target directory" % entry["path"])
    else:
        files = data.get("files")
        if not isinstance(files, list) or not files:
            raise BackupError("manifest of a directory backup lists no files")
        for entry in files:
            if not isinstance(entry, dict) or not entry.get("path") or len(str(entry.get("sha256", ""))) != 64:
                raise BackupError("manifest file entry %r is malformed" % (entry,))
            if os.path.isabs(entry["path"]) or ".." in entry["path"].split("/"):
                raise BackupError("manifest file entry %r leaves the backup directory" % entry["path"])
    counts = data.get("row_counts")
    if counts is not None and not isinstance(counts, dict):
        raise BackupError("manifest row_counts is not a mapping")
    return data


def compare_row_counts(expected: Mapping[str, int], actual: Mapping[str, int]) -> List[str]:
    """Human-readable differences between two ``{schema.table: rows}`` maps (empty when equal)."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        if table not in actual:
            problems.append("%s missing (expected %d rows)" % (table, expected[table]))
        elif table not in expected:
            problems.append("%s not in the manifest (%d rows)" % (table, actual[table]))
        elif int(expected[table]) != int(actual[table]):
            problems.append("%s has %d rows, manifest says %d" % (table, actual[table], expected[table]))
    return problems


def resolve_backup(path: str) -> Tuple[str, str]:
    """``(archive, manifest)`` paths from either the archive's or the manifest's path."""
    path = path.rstrip("/")
    if path.endswith(MANIFEST_SUFFIX):
        return path[:-len(MANIFEST_SUFFIX)], path
    return path, manifest_path(path)


def row_count_check(name: str, manifest: Mapping[str, Any], actual: Mapping[str, int]) -> Tuple[str, str, Any]:
    """``(status, message, value)`` comparing restored row counts with the manifest."""
    expected = manifest.get("row_counts") or {}
    if manifest.get("row_count_method") != "exact":
        return "ok", "manifest holds estimated row counts only: %d tables restored" % len(actual), \
            {"tables": len(actual)}
    problems = compare_row_counts(expected, actual)
    if problems:
        return "critical", "row counts differ from the manifest: %s" % "; ".join(problems[:10]), \
            {"differences": problems}
    return "ok", "%d tables, %d rows match the manifest" % (len(actual), sum(actual.values())), \
        {"tables": len(actual), "rows": sum(actual.values())}
