# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster's globals beside a database backup, pure: the file's name and what a restore does
with it (``pg_dumpall --globals-only`` output read statement by statement).

A restore creates the roles that are missing on the server, with their attributes, comments,
settings and memberships, and leaves every existing role untouched. Tablespaces are not created
(their directories belong to the old server) and are reported.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, Iterable, List, Optional, Tuple

GLOBALS_SUFFIX = ".globals.sql"


def globals_path(archive_path: str) -> str:
    """``<archive>.globals.sql``: beside the backup, as its manifest is."""
    return archive_path + GLOBALS_SUFFIX


def statements(text: str) -> List[str]:
    """The SQL statements of a pg_dumpall file: comments, blank lines and psql meta-commands
    (``\\restrict``) left out; a statement ends with a line ending in ``;`` outside a literal."""
    found: List[str] = []
    current: List[str] = []
    for line in text.splitlines():
        if not current and (not line.strip() or line.startswith("--") or line.startswith("\\")):
            continue
        current.append(line)
        joined = "\n".join(current)
        if joined.rstrip().endswith(";") and joined.count("'") % 2 == 0:
            found.append(joined.strip())
            current = []
    return found


def read_identifier(text: str, pos: int) -> Tuple[Optional[str], int]:
    """The identifier at ``text[pos:]`` (double-quoted, quotes doubled inside, or bare) and the
    position after it."""
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos < len(text) and text[pos] == '"':
        chars = []
        pos += 1
        while pos < len(text):
            if text[pos] == '"':
                if text[pos + 1:pos + 2] != '"':
                    return "".join(chars), pos + 1
                pos += 1
            chars.append(text[pos])
            pos += 1
        return None, pos
    start = pos
    while pos < len(text) and (text[pos].isalnum() or text[pos] in "_$"):
        pos += 1
    return (text[start:pos] or None), pos


def classify(statement: str) -> Tuple[str, Any]:
    """``("create" | "alter" | "comment", role)``, ``("grant", (role, member, admin option))``,
    ``("tablespace", statement)`` or ``("other", None)``."""
    for prefix, kind in (("CREATE ROLE ", "create"), ("ALTER ROLE ", "alter"), ("COMMENT ON ROLE ", "comment")):
        if statement.startswith(prefix):
            role, _pos = read_identifier(statement, len(prefix))
            return kind, role
    if statement.startswith("GRANT "):
        role, pos = read_identifier(statement, len("GRANT "))
        if statement[pos:pos + 4] == " TO ":
            member, pos = read_identifier(statement, pos + 4)
            return "grant", (role, member, statement[pos:].startswith(" WITH ADMIN OPTION"))
    if statement.startswith("CREATE TABLESPACE ") or statement.startswith("ALTER TABLESPACE "):
        return "tablespace", statement
    return "other", None


def restore_plan(text: str, existing_roles: Iterable[str]) -> Dict[str, Any]:
    """What a restore of the globals does on a server with ``existing_roles``.

    Returns ``{"create": [roles], "statements": [pg_dumpall statements about a role created
    here: its attributes, comment and settings], "grants": [(role, member, admin)],
    "skipped": [messages]}``; nothing about an existing role is run.
    """
    existing = set(existing_roles)
    plan: Dict[str, Any] = {"create": [], "statements": [], "grants": [], "skipped": []}
    tablespaces = 0
    for statement in statements(text):
        kind, what = classify(statement)
        if kind == "create" and what and what not in existing and what not in plan["create"]:
            plan["create"].append(what)
        elif kind in ("alter", "comment") and what in plan["create"]:
            plan["statements"].append(statement)
        elif kind == "grant" and what[0] and what[1] and (what[0] in plan["create"] or what[1] in plan["create"]):
            plan["grants"].append(what)
        elif kind == "tablespace":
            tablespaces += 1
    if tablespaces:
        plan["skipped"].append("%d tablespace statement(s) not run: create the tablespaces on this server first"
                               % tablespaces)
    return plan
