# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database backups: naming, manifests, checksums, retention, pg_dump / pg_restore runs.

Layout of a backup directory::

    <backup_dir>/<kind>/<database>-<YYYYmmddTHHMMSSZ>.dump.zst                (custom format, zstd)
    <backup_dir>/<kind>/<database>-<YYYYmmddTHHMMSSZ>.dump.zst.manifest.json  (written LAST)
    <backup_dir>/<kind>/<database>-<YYYYmmddTHHMMSSZ>.dir/                    (directory format)
    <backup_dir>/<kind>/<name>-<YYYYmmddTHHMMSSZ>.tar.zst                     (file archive, file_archive.py)

A file archive uses the same layout and manifest conventions (format ``tar``; its ``database``
field holds the archive set's name), so verification, retention and S3 offload treat both alike.

The manifest is the completion marker: it is written by atomic rename only
after the archive itself is complete, synced and checksummed. An archive
without a manifest is incomplete. A backup is *verified* when its manifest
exists and the archive still matches the manifest's checksums.

The top half of this file is pure (names, manifests, retention decisions);
the bottom half runs pg_dump / pg_restore with argv lists and the password in
the environment only (PGPASSWORD), never on a command line.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import atomic_write, fsync_dir  # noqa: F401
from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as pg

MANIFEST_SCHEMA = "runbook.ops/backup-manifest/v1"
MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
KINDS = ("daily", "weekly", "monthly", "manual")
FORMATS = ("custom", "directory", "tar")
SINGLE_FILE_FORMATS = ("custom", "tar")
DATABASE_FORMATS = ("custom", "directory")
COMPRESSIONS = ("zstd", "gzip", "none")
CHUNK = 1024 * 1024
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


# --------------------------------------------------------------------------------------------
# Pure helpers: names, timestamps, manifests
# --------------------------------------------------------------------------------------------

def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


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


# --------------------------------------------------------------------------------------------
# Pure: retention
# --------------------------------------------------------------------------------------------

DEFAULT_RULES = {
    "daily": {"keep_days": 30, "keep_count": None},
    "weekly": {"keep_days": 90, "keep_count": None},
    "monthly": {"keep_days": None, "keep_count": 12},
}


def normalize_rules(rules: Optional[Mapping[str, Any]]) -> Dict[str, Dict[str, Optional[float]]]:
    """Validate ``{kind: {keep_days, keep_count}}``; raise ValueError with a clear message."""
    result = {}
    for kind, rule in (rules if rules is not None else DEFAULT_RULES).items():
        validate_part("kind", kind)
        if rule is None:
            rule = {}
        if not isinstance(rule, Mapping):
            raise ValueError("retention rule for %s must be a mapping with keep_days and/or keep_count" % kind)
        unknown = set(rule) - {"keep_days", "keep_count"}
        if unknown:
            raise ValueError("retention rule for %s has unknown keys: %s" % (kind, ", ".join(sorted(unknown))))
        days = rule.get("keep_days")
        count = rule.get("keep_count")
        try:
            days = None if days is None else float(days)
            count = None if count is None else int(count)
        except (TypeError, ValueError):
            raise ValueError("retention rule for %s: keep_days and keep_count must be numbers" % kind)
        if days is not None and days < 0:
            raise ValueError("retention rule for %s: keep_days must be >= 0" % kind)
        if count is not None and count < 1:
            raise ValueError("retention rule for %s: keep_count must be >= 1" % kind)
        result[kind] = {"keep_days": days, "keep_count": count}
    return result


def plan_retention(
    backups: Sequence[Mapping[str, Any]],
    rules: Mapping[str, Mapping[str, Any]],
    now: datetime.datetime,
) -> Tuple[List[str], List[str], Dict[str, str]]:
    """Decide which backups to keep and which to delete.

    Each backup is a mapping with ``name`` (unique), ``kind``, ``database``, ``timestamp``
    (aware datetime), ``complete`` (its manifest exists) and ``verified`` (True: checksum
    matches; False: corrupt; None: not checked).

    Per (kind, database), newest first:

    - kinds without a rule are kept;
    - an incomplete backup (no manifest) is deleted once it is older than the newest complete
      one, else kept (it may still be being written);
    - a complete backup is deleted when it is older than ``keep_days`` or not among the
      ``keep_count`` newest complete backups (both rules apply when both are set);
    - whatever the rules say, the newest verified backup is never deleted (when nothing was
      verified, the newest complete backup whose checksum was not checked is protected instead:
      a corrupt backup never protects anything).

    Returns ``(keep, delete, reasons)``: names, oldest first, and one reason per name.
    """
    rules = normalize_rules(rules)
    keep: List[str] = []
    delete: List[str] = []
    reasons: Dict[str, str] = {}
    groups: Dict[Tuple[str, str], List[Mapping[str, Any]]] = {}
    for item in backups:
        groups.setdefault((item["kind"], item["database"]), []).append(item)
    for (kind, _database), items in sorted(groups.items()):
        items = sorted(items, key=lambda b: (b["timestamp"], b["name"]), reverse=True)
        rule = rules.get(kind)
        complete = [b for b in items if b.get("complete")]
        newest_complete = complete[0]["timestamp"] if complete else None
        protected = next((b["name"] for b in complete if b.get("verified") is True), None)
        if protected is None:
            protected = next((b["name"] for b in complete if b.get("verified") is None), None)
        rank = 0
        for item in items:
            name = item["name"]
            age_days = (now - item["timestamp"]).total_seconds() / 86400.0
            if not item.get("complete"):
                if newest_complete is not None and item["timestamp"] < newest_complete:
                    delete.append(name)
                    reasons[name] = "incomplete (no manifest) and older than the newest complete backup"
                else:
                    keep.append(name)
                    reasons[name] = "incomplete (no manifest) but newer than any complete backup: may be in progress"
                continue
            rank += 1
            state = {True: "verified", False: "CORRUPT", None: "unchecked"}[item.get("verified")]
            if name == protected:
                keep.append(name)
                reasons[name] = "newest %s backup of %s: never deleted" % (state, kind)
                continue
            if rule is None:
                keep.append(name)
                reasons[name] = "no retention rule for kind %s" % kind
                continue
            why = []
            if rule["keep_days"] is not None and age_days > rule["keep_days"]:
                why.append("%.1f days old (keep %g days)" % (age_days, rule["keep_days"]))
            if rule["keep_count"] is not None and rank > rule["keep_count"]:
                why.append("number %d of %s (keep %d)" % (rank, kind, rule["keep_count"]))
            if why:
                delete.append(name)
                reasons[name] = "%s %s backup: %s" % (state, kind, "; ".join(why))
            else:
                keep.append(name)
                reasons[name] = "%s %s backup within retention (%.1f days old, number %d)" % (
                    state, kind, age_days, rank)
    order = {b["name"]: (b["timestamp"], b["name"]) for b in backups}
    keep.sort(key=lambda n: order[n])
    delete.sort(key=lambda n: order[n])
    return keep, delete, reasons


def freshness(newest: Optional[datetime.datetime], now: datetime.datetime) -> Optional[float]:
    """Age in seconds of the newest backup, None when there is none."""
    if newest is None:
        return None
    return max(0.0, (now - newest).total_seconds())


# --------------------------------------------------------------------------------------------
# I/O helpers: checksums, atomic writes, listing
# --------------------------------------------------------------------------------------------

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
        raise BackupError("manifest %s does not exist: the backup is incomplete or missing" % path)
    except (OSError, ValueError) as exc:
        raise BackupError("manifest %s cannot be read: %s" % (path, exc))
    return validate_manifest(data)


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
        if manifest["format"] in SINGLE_FILE_FORMATS:
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
        raise BackupError("checksum verification failed, refusing to restore: %s" % message)
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
            partial = entry.endswith(PARTIAL_SUFFIX)
            base = entry[:-len(PARTIAL_SUFFIX)] if partial else entry
            if base.endswith(MANIFEST_SUFFIX) or entry.startswith(".tmp-"):
                continue
            parsed = parse_backup_name(base)
            if parsed is None or (database and parsed["database"] != database):
                continue
            path = os.path.join(kdir, entry)
            mpath = manifest_path(os.path.join(kdir, base))
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
    except BackupError as exc:
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


# --------------------------------------------------------------------------------------------
# PostgreSQL connection settings (module params -> libpq env / psycopg2 kwargs)
# --------------------------------------------------------------------------------------------

def libpq_env(params: Mapping[str, Any], base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Environment for pg_dump / pg_restore: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE ..."""
    env = dict(base if base is not None else os.environ)
    for key in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE",
                "PGSSLMODE", "PGSSLROOTCERT", "PGCONNECT_TIMEOUT", "PGOPTIONS"):
        env.pop(key, None)
    host = params.get("login_unix_socket") or params.get("login_host")
    if host:
        env["PGHOST"] = str(host)
    if params.get("port"):
        env["PGPORT"] = str(params["port"])
    if params.get("login_user"):
        env["PGUSER"] = str(params["login_user"])
    if params.get("login_password"):
        env["PGPASSWORD"] = str(params["login_password"])
    if params.get("ssl_mode"):
        env["PGSSLMODE"] = str(params["ssl_mode"])
    if params.get("ca_cert"):
        env["PGSSLROOTCERT"] = str(params["ca_cert"])
    if params.get("connect_timeout"):
        env["PGCONNECT_TIMEOUT"] = str(params["connect_timeout"])
    env["PGAPPNAME"] = "runbook.ops"
    return env


def conninfo_dbname(database: str) -> str:
    """A conninfo string naming only the database, quoted so any name is taken literally."""
    return "dbname='%s'" % database.replace("\\", "\\\\").replace("'", "\\'")


def connect(params: Mapping[str, Any], database: str, autocommit: bool = True, read_only: bool = False):
    """A psycopg2 session on ``database`` (no statement timeout: counts and DDL may take long).

    Raises BackupError with pg.py's clear message (never the password) when it fails.
    """
    merged = dict(params)
    merged["database"] = database
    try:
        conn = pg.connect(merged, statement_timeout_ms=0, lock_timeout_ms=0, read_only=read_only)
    except pg.PgConnectError as exc:
        raise BackupError("cannot connect to database %s: %s" % (database, exc.message))
    conn.autocommit = autocommit
    return conn


def scrub(text: str, secrets: Iterable[Optional[str]]) -> str:
    return pg.scrub(text, list(secrets))


USER_TABLES_SQL = """
SELECT n.nspname, c.relname, c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def row_counts(conn, exact: bool = True) -> Dict[str, int]:
    """``{schema.table: rows}`` for user tables: exact count(*) or the planner's reltuples."""
    from psycopg2 import sql

    counts = {}
    with conn.cursor() as cur:
        cur.execute(USER_TABLES_SQL)
        tables = cur.fetchall()
        for schema, table, estimate in tables:
            key = "%s.%s" % (schema, table)
            if exact:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
                counts[key] = int(cur.fetchone()[0])
            else:
                counts[key] = max(0, int(estimate))
    return counts


def database_exists(conn, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def database_object_count(params: Mapping[str, Any], name: str) -> int:
    """Number of user objects (relations, functions, types) in a database: 0 means empty."""
    conn = connect(params, name)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                           AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%')
                     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
                     + (SELECT count(*) FROM pg_namespace
                         WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
                           AND nspname NOT LIKE 'pg_toast%%' AND nspname NOT LIKE 'pg_temp%%')
                     + (SELECT count(*) FROM pg_largeobject_metadata)
            """)
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def connection_count(conn, name: str, settle: float = 2.0) -> int:
    """Other sessions on database ``name``; waits up to ``settle`` seconds for closing ones to go away."""
    deadline = time.monotonic() + settle
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            count = int(cur.fetchone()[0])
        if count == 0 or time.monotonic() >= deadline:
            return count
        time.sleep(0.1)


def terminate_connections(conn, name: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        return int(cur.fetchone()[0])


def create_database(conn, name: str) -> None:
    from psycopg2 import sql

    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(conn, name: str, force: bool = False) -> None:
    from psycopg2 import sql

    with conn.cursor() as cur:
        query = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if force else "DROP DATABASE IF EXISTS {}"
        cur.execute(sql.SQL(query).format(sql.Identifier(name)))


def rename_database(conn, old: str, new: str) -> None:
    from psycopg2 import sql

    with conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))


# --------------------------------------------------------------------------------------------
# Running pg_dump / pg_restore
# --------------------------------------------------------------------------------------------

def find_pg_binary(name: str, explicit: Optional[str] = None) -> str:
    """The path of ``pg_dump`` / ``pg_restore``: explicit, else PATH, else the newest PostgreSQL."""
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise BackupError("%s %s does not exist or is not executable" % (name, explicit))
        return explicit
    found = shutil.which(name)
    if found:
        return found
    base = "/usr/lib/postgresql"
    versions = []
    if os.path.isdir(base):
        for entry in os.listdir(base):
            if entry.isdigit() and os.access(os.path.join(base, entry, "bin", name), os.X_OK):
                versions.append(int(entry))
    if versions:
        return os.path.join(base, str(max(versions)), "bin", name)
    raise BackupError("%s was not found on PATH nor under /usr/lib/postgresql/*/bin" % name)


def tool_version(binary: str) -> str:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=30, check=False,  # noqa: S603
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError("cannot run %s --version: %s" % (binary, exc))
    return (done.stdout or done.stderr).decode("utf-8", "replace").strip().splitlines()[0][:200] \
        if (done.stdout or done.stderr).strip() else ""


def _cpus() -> int:
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
        threads = str(min(_cpus(), 8))
        parallel = shutil.which("pzstd")
        if parallel:
            return [parallel, "-d", "-c", "-q", "-p", threads] if decompress else [parallel, "-c", "-q", "-p", threads]
    tool = "zstd" if compression == "zstd" else "gzip"
    binary = shutil.which(tool)
    if not binary:
        raise BackupError("%s is not installed: it is needed for compression %s" % (tool, compression))
    if compression == "zstd":
        return [binary, "-d", "-c", "-q"] if decompress else [binary, "-T0", "-q", "-c"]
    return [binary, "-d", "-c"] if decompress else [binary, "-c", "-6"]


def _tail(handle, limit: int = 2000) -> str:
    try:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        return handle.read().decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return ""


def _describe_rc(name: str, code: int) -> str:
    if code < 0:
        try:
            return "%s was killed by signal %s" % (name, signal.Signals(-code).name)
        except ValueError:
            return "%s was killed by signal %d" % (name, -code)
    return "%s exited with status %d" % (name, code)


def _stop(proc: Optional[subprocess.Popen]) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except OSError:
        pass


def _out_of_space(output: str, path: str, margin: int = CHUNK) -> bool:
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


def _io_error(action: str, path: str, exc: OSError) -> BackupError:
    if exc.errno == errno.ENOSPC:
        return BackupError("%s %s failed: no space left on device" % (action, path))
    return BackupError("%s %s failed: %s" % (action, path, exc.strerror or exc))


def stream_dump(dump_argv: List[str], env: Mapping[str, str], compression: str, out_path: str,
                secrets: Iterable[Optional[str]] = (), chunk: int = CHUNK) -> Tuple[str, int]:
    """Run ``pg_dump`` (writing to stdout), pipe it through the compressor, hash and write.

    Returns ``(sha256, size)`` of what was written. On any failure every process is stopped,
    ``out_path`` is removed and BackupError is raised.
    """
    comp_argv = compressor_argv(compression)
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
            raise BackupError("cannot start %s: %s" % (os.path.basename(dump_argv[0]), exc.strerror or exc))
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
            raise _io_error("writing", out_path, exc)
        source.close()
        dump_rc = dump.wait()
        comp_rc = comp.wait() if comp else 0
        if comp_rc != 0:  # checked first: a dying compressor makes pg_dump die of SIGPIPE
            raise BackupError("%s: %s" % (_describe_rc(comp_argv[0].rsplit("/", 1)[-1], comp_rc),
                                          _tail(comp_err) or "no error output"))
        if dump_rc != 0:
            raise BackupError("%s: %s" % (_describe_rc("pg_dump", dump_rc),
                                          scrub(_tail(dump_err), secrets) or "no error output"))
        return digest.hexdigest(), size
    except BaseException:
        _stop(dump)
        _stop(comp)
        remove_path(out_path)
        raise
    finally:
        dump_err.close()
        comp_err.close()


def run_tool(argv: List[str], env: Mapping[str, str], name: str, secrets: Iterable[Optional[str]] = (),
             timeout: Optional[float] = None) -> None:
    """Run a tool whose output goes to files; BackupError with its stderr tail on failure."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,  # noqa: S603
                                    stdin=subprocess.DEVNULL, env=dict(env))
        except OSError as exc:
            raise BackupError("cannot start %s: %s" % (name, exc.strerror or exc))
        try:
            code = proc.wait(timeout=timeout)
        except BaseException:
            _stop(proc)
            raise
        if code != 0:
            raise BackupError("%s: %s" % (_describe_rc(name, code), scrub(_tail(err), secrets) or "no error output"))


_DATA_FILE = re.compile(r"^(?:\d+|blob_\d+)\.dat$")


def _run_filter(argv: List[str], src: str, dst: str, verb: str) -> None:
    """``argv < src > dst`` for a compressor or decompressor; BackupError on failure, with ``dst``
    removed."""
    with tempfile.TemporaryFile() as err:
        try:
            with open(src, "rb") as inp, open(dst, "wb") as out:
                proc = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=err)  # noqa: S603
                try:
                    code = proc.wait()
                except BaseException:
                    _stop(proc)
                    raise
        except OSError as exc:
            remove_path(dst)
            raise _io_error(verb + " to", dst, exc)
        if code != 0:
            tail = _tail(err)
            full = _out_of_space(tail, dst)
            remove_path(dst)
            if full:
                raise BackupError("%s %s to %s failed: no space left on device" % (verb, src, dst))
            raise BackupError("%s %s failed: %s: %s" % (verb, src, _describe_rc(os.path.basename(argv[0]), code),
                                                        tail or "no error output"))


# Files at least this big are (de)compressed one by one with pzstd on all cores; smaller ones
# in batches by one zstd process, so a dump of thousands of small tables does not start
# thousands of processes.
BIG_FILE = 8 * CHUNK
BATCH = 500


def _zstd() -> str:
    binary = shutil.which("zstd")
    if not binary:
        raise BackupError("zstd is not installed: it is needed for compression zstd")
    return binary


def _run_batches(argv: List[str], paths: Sequence[str], verb: str, where: str) -> None:
    """``argv -- <paths>`` in batches; BackupError (``no space left on device`` when ``where``'s
    file system is full) on failure."""
    for start in range(0, len(paths), BATCH):
        try:
            run_tool(argv + ["--"] + list(paths[start:start + BATCH]), os.environ, os.path.basename(argv[0]))
        except BackupError as exc:
            if _out_of_space(str(exc), where):
                raise BackupError("%s files into %s failed: no space left on device" % (verb, where)) from exc
            raise BackupError("%s files in %s failed: %s" % (verb, where, exc)) from exc


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
        _run_filter(argv, path, path + ".zst", "compressing")
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
                raise _io_error("copying to", out_dir, exc)
        elif int(entry.get("size") or 0) < BIG_FILE:
            small.append(src)
        else:
            _run_filter(argv, src, os.path.join(out_dir, entry["path"][:-4]), "decompressing")
    _run_batches([_zstd(), "-d", "-q", "--output-dir-flat", out_dir], small, "decompressing", out_dir)


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
    argv += ["-d", conninfo_dbname(database)]
    return argv


class _Background:
    """Run ``fn(*args)`` in a thread; ``result()`` joins and returns it or re-raises its exception."""

    def __init__(self, fn, *args):
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(fn,) + args, name=fn.__name__, daemon=True)
        self._thread.start()

    def _run(self, fn, *args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # pylint: disable=broad-except  # handed to result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self, conn) -> None:
        """Stop a running count (the backup failed) and wait for the thread."""
        if self._thread.is_alive():
            try:
                conn.cancel()
            except Exception:  # pylint: disable=broad-except
                pass
        self._thread.join()


def run_backup(params: Mapping[str, Any], backup_dir: str, kind: str, database: str, fmt: str,
               compression: str, jobs: int = 2, exact_counts: bool = True,
               pg_dump_path: Optional[str] = None, extra_args: Sequence[str] = (),
               now: Optional[datetime.datetime] = None) -> Dict[str, Any]:
    """Take one backup and write its manifest last. Returns the manifest plus paths.

    On failure nothing is left behind but earlier backups, and BackupError is raised.
    """
    pg_dump = find_pg_binary("pg_dump", pg_dump_path)
    started = now or utcnow()
    name = backup_name(kind, database, started, extension(fmt, compression))
    final = os.path.join(backup_dir, name)
    partial = final + PARTIAL_SUFFIX
    mpath = manifest_path(final)
    if os.path.lexists(final) or os.path.lexists(mpath):
        raise BackupError("backup %s already exists" % final)
    try:
        os.makedirs(os.path.dirname(final), exist_ok=True)
    except OSError as exc:
        raise _io_error("creating directory", os.path.dirname(final), exc)
    secrets = [params.get("login_password")]
    env = libpq_env(params)
    monotonic = time.monotonic()
    conn = connect(params, database, autocommit=False, read_only=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cur.fetchone()
        version = tool_version(pg_dump)
        # The row counts run in this session (the exported snapshot) while pg_dump streams.
        counter = _Background(row_counts, conn, exact_counts)
        try:
            if fmt == "custom":
                argv = dump_argv(pg_dump, params, database, fmt, jobs, compression, snapshot, None, extra_args)
                digest, size = stream_dump(argv, env, compression, partial, secrets)
                files = None
            else:
                remove_path(partial)
                argv = dump_argv(pg_dump, params, database, fmt, jobs, compression, snapshot, partial, extra_args)
                try:
                    run_tool(argv, env, "pg_dump", secrets)
                except BackupError as exc:
                    if _out_of_space(str(exc), partial):
                        raise BackupError("pg_dump writing %s failed: no space left on device" % partial) from exc
                    raise
                if compression == "zstd":
                    compress_data_files(partial)
                files = hash_tree(partial)
                for entry in files:
                    with open(os.path.join(partial, entry["path"]), "rb") as handle:
                        os.fsync(handle.fileno())
                digest, size = None, sum(f["size"] for f in files)
            counts = counter.result()
        except OSError as exc:
            counter.cancel(conn)
            remove_path(partial)
            raise _io_error("writing", partial, exc)
        except BaseException:
            counter.cancel(conn)
            remove_path(partial)
            raise
    finally:
        try:
            conn.rollback()
            conn.close()
        except Exception:  # pylint: disable=broad-except
            pass
    finished = utcnow()
    manifest = build_manifest(
        kind=kind, database=database, name=name, format=fmt, compression=compression,
        server_version=server_version, pg_dump_version=version, size=size, sha256=digest, files=files,
        started=iso(started), finished=iso(finished),
        duration_seconds=round(time.monotonic() - monotonic, 3),
        row_counts=counts, row_count_method="exact" if exact_counts else "estimate",
    )
    try:
        os.rename(partial, final)
        fsync_dir(os.path.dirname(final))
        atomic_write_json(mpath, manifest)
    except OSError as exc:
        remove_path(mpath)
        remove_path(final)
        remove_path(partial)
        raise _io_error("finishing backup", final, exc)
    except BaseException:
        remove_path(mpath)
        remove_path(final)
        remove_path(partial)
        raise
    return {"path": final, "manifest_path": mpath, "name": name, "manifest": manifest}


def restore_archive(params: Mapping[str, Any], source: str, target: str, jobs: int = 2,
                    pg_restore_path: Optional[str] = None, no_owner: bool = False,
                    extra_args: Sequence[str] = ()) -> float:
    """pg_restore ``source`` (a dump pg_restore reads as it is: see ``prepare_source``) into the
    existing (empty) database ``target``; returns seconds taken."""
    pg_restore = find_pg_binary("pg_restore", pg_restore_path)
    started = time.monotonic()
    argv = [pg_restore, "--no-password", "--exit-on-error", "-j", str(max(1, jobs)), "-d", conninfo_dbname(target)]
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    argv += list(extra_args)
    argv.append(source)
    run_tool(argv, libpq_env(params), "pg_restore", [params.get("login_password")])
    return time.monotonic() - started


def needs_decompression(manifest: Mapping[str, Any]) -> bool:
    """Must the backup be decompressed before pg_restore can read it? (A custom dump compressed
    outside pg_dump, a directory dump whose files were compressed with zstd after pg_dump.)"""
    if manifest["format"] == "custom":
        return manifest["compression"] != "none"
    return manifest["format"] == "directory" and manifest["compression"] == "zstd"


def prepare_source(archive: str, manifest: Mapping[str, Any],
                   work_dir: Optional[str] = None) -> Tuple[str, Optional[str], str]:
    """Check ``archive`` against its manifest and make it readable by ``pg_restore -j``.

    A compressed custom archive is decompressed into a temp file in ``work_dir`` (default: the
    archive's directory; pg_restore -j needs a seekable file), a zstd directory backup into a
    temp directory, while the SHA-256 sums are checked, at the same time rather than one after
    the other. Other backups are checked as they are. Returns ``(source for pg_restore, temp
    path to remove or None, verification message)``; raises BackupError (a checksum mismatch
    first) with no temp file left behind.
    """
    if not needs_decompression(manifest):
        return archive, None, require_verified(archive, manifest)
    directory = work_dir or os.path.dirname(os.path.abspath(archive))
    try:
        if manifest["format"] == "directory":
            temp = tempfile.mkdtemp(prefix=".restore-", suffix=".dir", dir=directory)
        else:
            fd, temp = tempfile.mkstemp(prefix=".restore-", suffix=".dump", dir=directory)
            os.close(fd)
    except OSError as exc:
        raise _io_error("creating a temp file in", directory, exc)
    try:
        message = verified_decompress(archive, manifest, temp)
    except BaseException:
        remove_path(temp)
        raise
    return temp, temp, message


def verified_decompress(archive: str, manifest: Mapping[str, Any], out_path: str) -> str:
    """Decompress ``archive`` into ``out_path`` (a file, or the directory for a directory backup)
    while a thread checks it against the manifest (``require_verified``: the decompressor and the
    hash read the files at the same time, the second read comes from the page cache). BackupError
    when the check fails (reported first, whatever the decompressor said) or the decompressor
    fails; the caller removes ``out_path``."""
    checking = _Background(require_verified, archive, manifest)
    failure: Optional[BackupError] = None
    try:
        if manifest["format"] == "directory":
            decompress_directory(archive, manifest, out_path)
        else:
            _run_filter(compressor_argv(manifest["compression"], decompress=True), archive, out_path, "decompressing")
    except BackupError as exc:
        failure = exc
    message = checking.result()
    if failure is not None:
        raise failure
    return message + ", checked while decompressing"


# --------------------------------------------------------------------------------------------
# Restore plans and runs (shared by pg_restore and backup_verify)
# --------------------------------------------------------------------------------------------

MAX_IDENTIFIER = 63


def resolve_backup(path: str) -> Tuple[str, str]:
    """``(archive, manifest)`` paths from either the archive's or the manifest's path."""
    path = path.rstrip("/")
    if path.endswith(MANIFEST_SUFFIX):
        return path[:-len(MANIFEST_SUFFIX)], path
    return path, manifest_path(path)


def plan_restore(target: str, target_exists: bool, target_objects: int, target_connections: int,
                 swap: bool, force: bool, stamp: str) -> Dict[str, Any]:
    """Pure: what a restore into ``target`` would do, or why it is refused.

    Returns ``{"refused": message or None, "restore_into", "create", "drop_first", "rename_old_to",
    "terminate", "steps": [...]}``.
    """
    plan: Dict[str, Any] = {"refused": None, "restore_into": target, "create": True, "drop_first": False,
                            "rename_old_to": None, "terminate": False, "steps": []}
    if len(target) > MAX_IDENTIFIER:
        plan["refused"] = "target database name %r is longer than %d bytes" % (target, MAX_IDENTIFIER)
        return plan
    if swap:
        new = "%s_restore_%s" % (target, stamp)
        old = "%s_before_%s" % (target, stamp)
        if len(old) > MAX_IDENTIFIER or len(new) > MAX_IDENTIFIER:
            plan["refused"] = ("target database name %r is too long for swap: %s would exceed %d bytes"
                               % (target, new, MAX_IDENTIFIER))
            return plan
        plan["restore_into"] = new
        plan["steps"].append("create database %s and restore into it" % new)
        plan["steps"].append("compare row counts with the manifest")
        if target_exists:
            if target_connections and not force:
                plan["refused"] = ("database %s has %d open connection(s): stop the writers first or set force "
                                   "to terminate them" % (target, target_connections))
                return plan
            if target_connections:
                plan["terminate"] = True
                plan["steps"].append("terminate %d connection(s) to %s" % (target_connections, target))
            plan["rename_old_to"] = old
            plan["steps"].append("rename %s to %s" % (target, old))
        plan["steps"].append("rename %s to %s" % (new, target))
        return plan
    if target_exists:
        if target_objects and not force:
            plan["refused"] = ("target database %s is not empty (%d objects): refusing to restore into it "
                               "without force (or use swap)" % (target, target_objects))
            return plan
        if target_objects:
            plan["drop_first"] = True
            plan["terminate"] = bool(target_connections)
            plan["steps"].append("drop the non-empty database %s (force) and create it again" % target)
        else:
            plan["create"] = False
            plan["steps"].append("restore into the existing empty database %s" % target)
    else:
        plan["steps"].append("create database %s" % target)
    plan["steps"].append("restore into %s" % target)
    plan["steps"].append("compare row counts with the manifest")
    return plan


def load_verified(path: str) -> Tuple[str, Dict[str, Any], str]:
    """Load the manifest of a backup and check the archive against it.

    Returns ``(archive, manifest, message)``; raises BackupError when the backup is incomplete
    or corrupt.
    """
    archive, mpath = resolve_backup(path)
    manifest = load_manifest(mpath)
    return archive, manifest, require_verified(archive, manifest)


def restore_new_database(params: Mapping[str, Any], maint, source: str, name: str, create: bool = True,
                         jobs: int = 2, pg_restore_path: Optional[str] = None, no_owner: bool = False) -> float:
    """Create ``name`` (unless ``create`` is false) and pg_restore ``source`` into it; drop it
    again on failure."""
    if create:
        create_database(maint, name)
    try:
        return restore_archive(params, source, name, jobs=jobs, pg_restore_path=pg_restore_path, no_owner=no_owner)
    except BaseException:
        if create:
            try:
                drop_database(maint, name, force=True)
            except Exception:  # pylint: disable=broad-except
                pass
        raise


def counts_of(params: Mapping[str, Any], name: str, exact: bool = True) -> Dict[str, int]:
    conn = connect(params, name, read_only=True)
    try:
        return row_counts(conn, exact=exact)
    finally:
        conn.close()


RESTORED_STATS_SQL = """
SELECT s.schemaname, s.relname, s.n_tup_ins,
       s.n_tup_upd + s.n_tup_del + abs(s.n_tup_ins - s.n_live_tup)
FROM pg_stat_user_tables s
"""


def restored_counts(params: Mapping[str, Any], name: str, expected: Mapping[str, int],
                    settle: float = 5.0) -> Tuple[Dict[str, int], int]:
    """Exact row counts of a database that was just restored into fresh, empty tables.

    The server's own statistics count every row COPY inserted (``n_tup_ins``; a restore never
    updates or deletes, and a COPY that was rolled back leaves ``n_live_tup`` below ``n_tup_ins``,
    so only tables where both agree qualify). Tables whose statistics already equal the manifest are taken from
    them (waiting up to ``settle`` seconds for the restore's sessions to report); every other
    table is counted with ``count(*)``, so a difference is always confirmed by a real count.
    Returns ``(counts, number of tables counted with count(*))``.
    """
    from psycopg2 import sql

    conn = connect(params, name, read_only=True)
    try:
        with conn.cursor() as cur:
            cur.execute(USER_TABLES_SQL)
            tables = ["%s.%s" % (schema, table) for schema, table, _estimate in cur.fetchall()]
            deadline = time.monotonic() + settle
            while True:
                cur.execute("SELECT pg_stat_clear_snapshot()")
                cur.execute(RESTORED_STATS_SQL)
                stats = {"%s.%s" % (schema, table): (int(ins), int(changed))
                         for schema, table, ins, changed in cur.fetchall()}
                matched = {t: stats[t][0] for t in tables
                           if t in stats and stats[t][1] == 0 and t in expected and stats[t][0] == int(expected[t])}
                if len(matched) == len(tables) or time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            counts = dict(matched)
            for table in tables:
                if table not in counts:
                    schema, rel = table.split(".", 1)
                    cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                             sql.Identifier(rel)))
                    counts[table] = int(cur.fetchone()[0])
        return counts, len(tables) - len(matched)
    finally:
        conn.close()


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


def newest_complete(backups: Iterable[Mapping[str, Any]]) -> Dict[Tuple[str, str], Mapping[str, Any]]:
    """Pure: the newest complete backup per (kind, database)."""
    newest: Dict[Tuple[str, str], Mapping[str, Any]] = {}
    for item in backups:
        if not item.get("complete"):
            continue
        key = (item["kind"], item["database"])
        if key not in newest or (item["timestamp"], item["name"]) > (newest[key]["timestamp"], newest[key]["name"]):
            newest[key] = item
    return newest


def scratch_name(database: str, stamp: str) -> str:
    """A scratch database name for a test restore, at most 63 bytes."""
    suffix = "_verify_%s" % stamp.lower()
    return database[:MAX_IDENTIFIER - len(suffix)] + suffix


def run_smoke_queries(params: Mapping[str, Any], database: str, queries: Sequence[str]) -> List[Tuple[bool, str]]:
    """Run each query read-only in ``database``; ``(ok, first value or error)`` per query."""
    results = []
    conn = connect(params, database, read_only=True)
    try:
        for query in queries:
            try:
                with conn.cursor() as cur:
                    cur.execute(query)
                    row = cur.fetchone() if cur.description else None
                results.append((True, "" if row is None else str(row[0])[:200]))
            except Exception as exc:  # pylint: disable=broad-except
                results.append((False, pg.error_message(exc, params.get("login_password"))))
    finally:
        conn.close()
    return results
