# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups on S3, pure part: the keys of a backup's objects and the catalog read from a key listing.

On S3 a backup keeps its local layout under a prefix: ``<prefix>/<kind>/<name>`` (one object for a
single-file backup, ``<prefix>/<kind>/<name>/<file>`` per file of a directory backup) and
``<prefix>/<kind>/<name>.manifest.json``, uploaded last: without it a backup is incomplete.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan


def join_key(prefix: Optional[str], name: str) -> str:
    prefix = (prefix or "").strip("/")
    return "%s/%s" % (prefix, name) if prefix else name


def manifest_key(prefix: Optional[str], name: str) -> str:
    return join_key(prefix, name) + catalog_plan.MANIFEST_SUFFIX


def archive_keys(prefix: Optional[str], manifest: Mapping[str, Any]) -> List[Tuple[str, str, Optional[str]]]:
    """``[(key, relative file path or '', sha256)]`` of a backup's data objects."""
    base = join_key(prefix, manifest["name"])
    if catalog_plan.single_file(manifest):
        return [(base, "", manifest["sha256"])]
    return [("%s/%s" % (base, f["path"]), f["path"], f["sha256"]) for f in manifest["files"]]


def same_backup(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Do two manifests describe the same archive content?"""
    if a.get("format") != b.get("format"):
        return False
    if catalog_plan.single_file(a):
        return a.get("sha256") == b.get("sha256") and a.get("size") == b.get("size")
    return sorted((f["path"], f["sha256"]) for f in a.get("files") or []) == \
        sorted((f["path"], f["sha256"]) for f in b.get("files") or [])


def safe_name(name: str) -> str:
    """A backup's name relative to the backup directory (``<kind>/<file>``); ValueError otherwise."""
    name = name.strip("/")
    if not name or ".." in name.split("/"):
        raise ValueError("name %r must be relative to the backup directory (<kind>/<file>)" % name)
    return name


def catalog_from_keys(objects: Iterable[Mapping[str, Any]], prefix: Optional[str],
                      database: Optional[str] = None) -> List[Dict[str, Any]]:
    """Backups under ``<prefix>/<kind>/`` from a key listing (``[{key, size}]``), in the shape of
    ``catalog_runner.list_backups``, plus ``data_keys`` ({key: size}), ``manifest_key``,
    ``manifest_exists`` and ``prefix``."""
    base = join_key(prefix, "")
    entries: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for obj in objects:
        rel = obj["key"][len(base):]
        parts = rel.split("/")
        if len(parts) < 2:
            continue
        kind, fname = parts[0], parts[1]
        is_manifest = len(parts) == 2 and fname.endswith(catalog_plan.MANIFEST_SUFFIX)
        backup = fname[:-len(catalog_plan.MANIFEST_SUFFIX)] if is_manifest else fname
        parsed = catalog_plan.parse_backup_name(backup)
        if parsed is None or (database and parsed["database"] != database):
            continue
        name = "%s/%s" % (kind, backup)
        entry = entries.setdefault((kind, backup), {
            "name": name, "kind": kind, "database": parsed["database"], "timestamp": parsed["timestamp"],
            "path": join_key(prefix, name), "prefix": (prefix or "").strip("/"),
            "manifest_key": manifest_key(prefix, name), "manifest_exists": False, "data_keys": {},
            "partial": False, "verified": None,
        })
        if is_manifest:
            entry["manifest_exists"] = True
        else:
            entry["data_keys"][obj["key"]] = obj["size"]
    found = list(entries.values())
    for entry in found:
        entry["complete"] = entry["manifest_exists"]
    return sorted(found, key=lambda e: e["name"])


def object_problems(entry: Mapping[str, Any], manifest: Mapping[str, Any],
                    metadata_sha256: Mapping[str, Optional[str]]) -> List[str]:
    """What does not match between a listed backup's objects and its manifest: every data object
    there with its size, and for a single file the ``sha256`` metadata recorded at upload
    (``metadata_sha256``: key -> value read from S3)."""
    problems = []
    sizes = {f["path"]: f["size"] for f in manifest.get("files") or []}
    for key, rel, digest in archive_keys(entry["prefix"], manifest):
        if key not in entry["data_keys"]:
            problems.append("%s missing" % key)
            continue
        expected = manifest["size"] if catalog_plan.single_file(manifest) else sizes[rel]
        if entry["data_keys"][key] != expected:
            problems.append("%s is %d bytes, manifest says %d" % (key, entry["data_keys"][key], expected))
            continue
        if catalog_plan.single_file(manifest) and metadata_sha256.get(key) != digest:
            problems.append("%s sha256 metadata does not match the manifest" % key)
    return problems
