# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database's own settings read at backup time and put back after a restore (settings_plan.py
decides; identifiers through psycopg2.sql only, values as literals)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_plan

PROPERTIES_SQL = """
SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
       CASE d.datlocprovider WHEN 'i' THEN 'icu' ELSE 'libc' END, d.daticulocale, d.datconnlimit,
       shobj_description(d.oid, 'pg_database'), d.datacl IS NULL
FROM pg_database d WHERE d.datname = %s
"""

ACL_SQL = """
SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, a.is_grantable
FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = %s ORDER BY 1 NULLS FIRST, 2
"""

SETTINGS_SQL = """
SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END, s.setconfig
FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
WHERE d.datname = %s ORDER BY 1 NULLS FIRST
"""


def read_properties(conn, name: str) -> Optional[Dict[str, Any]]:
    """The manifest's ``database_properties`` of database ``name`` (None when it does not exist)."""
    with conn.cursor() as cur:
        cur.execute(PROPERTIES_SQL, (name,))
        row = cur.fetchone()
        if row is None:
            return None
        owner, encoding, collate, ctype, provider, icu, limit, comment, default_acl = row
        cur.execute(ACL_SQL, (name,))
        acl = None if default_acl else [{"grantee": grantee, "privilege": privilege, "grantable": bool(grantable)}
                                        for grantee, privilege, grantable in cur.fetchall()]
        cur.execute(SETTINGS_SQL, (name,))
        settings = []
        for role, config in cur.fetchall():
            for entry in config or []:
                setting, value = settings_plan.split_setconfig(entry)
                settings.append({"role": role, "name": setting, "value": value})
    return {"owner": owner, "encoding": encoding, "collate": collate, "ctype": ctype, "locale_provider": provider,
            "icu_locale": icu, "connection_limit": int(limit), "comment": comment, "acl": acl, "settings": settings}


def role_names(conn) -> List[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles")
        return [row[0] for row in cur.fetchall()]


def acl_grantees(conn, name: str) -> List[Optional[str]]:
    with conn.cursor() as cur:
        cur.execute(ACL_SQL, (name,))
        return sorted({row[0] for row in cur.fetchall()}, key=lambda g: (g is not None, g or ""))


def _grantee(sql, grantee: Optional[str]):
    return sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee)


def statement(step, database: str):
    """The SQL of one step of ``settings_plan.apply_steps`` for ``database``."""
    from psycopg2 import sql

    db = sql.Identifier(database)
    kind = step[0]
    if kind == "owner":
        return sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(step[1]))
    if kind == "revoke":
        return sql.SQL("REVOKE ALL ON DATABASE {} FROM {} CASCADE").format(db, _grantee(sql, step[1]))
    if kind == "grant":
        return sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
            sql.SQL(step[1]), db, _grantee(sql, step[2]), sql.SQL(" WITH GRANT OPTION" if step[3] else ""))
    if kind == "comment":
        return sql.SQL("COMMENT ON DATABASE {} IS {}").format(db, sql.Literal(step[1]))
    if kind == "connection_limit":
        return sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(db, sql.Literal(int(step[1])))
    if kind == "reset":
        return sql.SQL("ALTER DATABASE {} RESET ALL").format(db)
    _kind, role, name, values = step
    values_sql = sql.SQL(", ").join(sql.Literal(v) for v in values) if values else sql.Literal("")
    if role is None:
        return sql.SQL("ALTER DATABASE {} SET {} TO {}").format(db, sql.Identifier(name), values_sql)
    return sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} TO {}").format(
        sql.Identifier(role), db, sql.Identifier(name), values_sql)


def apply_properties(conn, database: str, props: Optional[Mapping[str, Any]], no_owner: bool = False) -> Dict[str, Any]:
    """Put the backup's owner, ACL, comment and settings on ``database``; returns
    ``{"applied": n, "skipped": [messages]}`` (roles missing here are skipped)."""
    if not props:
        return {"applied": 0, "skipped": []}
    plan = settings_plan.apply_steps(props, acl_grantees(conn, database), role_names(conn), no_owner=no_owner)
    with conn.cursor() as cur:
        for step in plan["steps"]:
            cur.execute(statement(step, database))
    return {"applied": len(plan["steps"]), "skipped": plan["skipped"]}
