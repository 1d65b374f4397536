# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database's own settings, pure: what pg_restore without ``-C`` leaves out and a restore puts
back (encoding, collation and ctype at CREATE DATABASE; owner, ACL, comment, connection limit,
``ALTER DATABASE ... SET`` and ``ALTER ROLE ... IN DATABASE ... SET`` afterwards).

The manifest's ``database_properties``::

    {"owner", "encoding", "collate", "ctype", "locale_provider", "icu_locale", "connection_limit",
     "comment", "acl": None (the default) or [{"grantee": role or None (PUBLIC), "privilege", "grantable"}],
     "settings": [{"role": None (every role) or role, "name", "value"}]}
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

DATABASE_PRIVILEGES = ("CREATE", "TEMPORARY", "CONNECT")

# Settings whose value is a list of quoted elements (as pg_dump's variable_is_guc_list_quote).
LIST_QUOTE_SETTINGS = ("local_preload_libraries", "search_path", "session_preload_libraries",
                       "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories")


def split_setconfig(entry: str) -> Tuple[str, str]:
    """``"work_mem=64MB"`` (an element of pg_db_role_setting.setconfig) -> ``("work_mem", "64MB")``."""
    name, _sep, value = entry.partition("=")
    return name, value


def split_list(value: str) -> List[str]:
    """The elements of a list setting as the server stores it (``"$user", public, "My ""S"" x"``):
    split at commas outside double quotes, whitespace trimmed, quotes removed."""
    items: List[str] = []
    index, size = 0, len(value)
    while True:
        while index < size and value[index].isspace():
            index += 1
        if index >= size:
            return items
        if value[index] == '"':
            index += 1
            chars = []
            while index < size:
                if value[index] == '"':
                    if value[index + 1:index + 2] != '"':
                        index += 1
                        break
                    index += 1
                chars.append(value[index])
                index += 1
            items.append("".join(chars))
        else:
            end = value.find(",", index)
            end = size if end < 0 else end
            items.append(value[index:end].rstrip())
            index = end
        while index < size and value[index].isspace():
            index += 1
        if index < size and value[index] == ",":
            index += 1
            continue
        return items


def setting_values(name: str, value: str) -> List[str]:
    """The literal(s) of ``SET name TO ...`` that give ``value`` back."""
    if name.lower() in LIST_QUOTE_SETTINGS:
        return split_list(value)
    return [value]


def create_options(props: Optional[Mapping[str, Any]]) -> List[Tuple[str, str]]:
    """``[(keyword, literal value)]`` for CREATE DATABASE: encoding, collation, ctype, ICU locale."""
    if not props:
        return []
    options = []
    for keyword, key in (("ENCODING", "encoding"), ("LC_COLLATE", "collate"), ("LC_CTYPE", "ctype")):
        if props.get(key):
            options.append((keyword, str(props[key])))
    if props.get("locale_provider") == "icu" and props.get("icu_locale"):
        options += [("LOCALE_PROVIDER", "icu"), ("ICU_LOCALE", str(props["icu_locale"]))]
    return options


def locale_text(props: Optional[Mapping[str, Any]]) -> str:
    """``encoding LATIN1, collation C, ctype C`` (with the ICU locale when there is one)."""
    props = props or {}
    words = (("encoding", "encoding"), ("collation", "collate"), ("ctype", "ctype"), ("ICU locale", "icu_locale"))
    parts = ["%s %s" % (word, props[key]) for word, key in words if props.get(key)]
    return ", ".join(parts) or "no locale recorded"


def locale_differences(props: Optional[Mapping[str, Any]], actual: Mapping[str, Any]) -> List[str]:
    """What an existing database restored into has other than the backup (it cannot be changed)."""
    if not props:
        return []
    return ["%s is %s, the backup's was %s" % (key, actual.get(key), props.get(key))
            for key in ("encoding", "collate", "ctype", "locale_provider", "icu_locale")
            if props.get(key) is not None and props.get(key) != actual.get(key)]


def apply_steps(props: Optional[Mapping[str, Any]], current_acl_grantees: Iterable[Optional[str]],
                roles: Iterable[str], no_owner: bool = False) -> Dict[str, Any]:
    """What to run on the restored database, in order, and what cannot be done here.

    Returns ``{"steps": [...], "skipped": [messages]}``; a step is ``("owner", role)``,
    ``("revoke", grantee or None)``, ``("grant", privilege, grantee or None, grantable)``,
    ``("comment", text)``, ``("connection_limit", n)``, ``("reset",)`` or
    ``("set", role or None, name, [values])``. Roles that do not exist here are skipped (and
    said so); with ``no_owner`` the owner and the ACL are left as they are (as pg_restore's
    ``--no-owner --no-privileges``).
    """
    out: Dict[str, Any] = {"steps": [], "skipped": []}
    if not props:
        return out
    known = set(roles)
    steps, skipped = out["steps"], out["skipped"]
    if not no_owner:
        owner = props.get("owner")
        if owner and owner in known:
            steps.append(("owner", owner))
        elif owner:
            skipped.append("owner %s (no such role here)" % owner)
        if props.get("acl") is not None:
            for grantee in sorted(set(current_acl_grantees) | {None}, key=lambda g: (g is not None, g or "")):
                steps.append(("revoke", grantee))
            for item in props["acl"]:
                grantee, privilege = item.get("grantee"), str(item.get("privilege", "")).upper()
                if privilege not in DATABASE_PRIVILEGES:
                    skipped.append("privilege %s (not a database privilege)" % privilege)
                elif grantee is not None and grantee not in known:
                    skipped.append("%s to %s (no such role here)" % (privilege, grantee))
                else:
                    steps.append(("grant", privilege, grantee, bool(item.get("grantable"))))
    if props.get("comment") is not None:
        steps.append(("comment", props["comment"]))
    if props.get("connection_limit") not in (None, -1):
        steps.append(("connection_limit", int(props["connection_limit"])))
    steps.append(("reset",))
    for item in props.get("settings") or []:
        role = item.get("role")
        if role is not None and role not in known:
            skipped.append("setting %s for role %s (no such role here)" % (item["name"], role))
            continue
        steps.append(("set", role, item["name"], setting_values(item["name"], item["value"])))
    return out
