# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restores, pure: what a restore into a database would do or why it is refused, scratch names."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, Mapping


def needs_decompression(manifest: Mapping[str, Any]) -> bool:
    """Must the backup be decompressed before pg_restore can read it? (A custom dump compressed
    outside pg_dump, a directory dump whose files were compressed with zstd after pg_dump.)"""
    if manifest["format"] == "custom":
        return manifest["compression"] != "none"
    return manifest["format"] == "directory" and manifest["compression"] == "zstd"


MAX_IDENTIFIER = 63


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


def scratch_name(database: str, stamp: str) -> str:
    """A scratch database name for a test restore, at most 63 bytes."""
    suffix = "_verify_%s" % stamp.lower()
    return database[:MAX_IDENTIFIER - len(suffix)] + suffix
