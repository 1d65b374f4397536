"""globals_plan: what a restore does with a pg_dumpall --globals-only file, pure."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.backup import globals_plan

DUMP = "\n".join([
    '--',
    '-- PostgreSQL database cluster dump',
    '--',
    '',
    '\\restrict abc',
    '',
    'SET default_transaction_read_only = off;',
    '',
    'CREATE ROLE "app ""owner""";',
    'ALTER ROLE "app ""owner""" WITH NOSUPERUSER INHERIT LOGIN CONNECTION LIMIT 5;',
    'COMMENT ON ROLE "app ""owner""" IS \'multi',
    "line; with ''quotes''';",
    'CREATE ROLE runbook;',
    'ALTER ROLE runbook WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;',
    'CREATE ROLE reader;',
    "ALTER ROLE reader SET work_mem TO '8MB';",
    "CREATE TABLESPACE fast OWNER runbook LOCATION '/srv/fast';",
    '',
    'GRANT reader TO "app ""owner""" WITH ADMIN OPTION GRANTED BY runbook;',
    'GRANT pg_monitor TO runbook GRANTED BY runbook;',
    '',
    '\\unrestrict abc',
    '',
])


def test_statements_skip_comments_and_meta_commands_and_keep_multiline_literals():
    found = globals_plan.statements(DUMP)
    assert found[0] == "SET default_transaction_read_only = off;"
    assert "COMMENT ON ROLE \"app \"\"owner\"\"\" IS 'multi\nline; with ''quotes''';" in found
    assert not [s for s in found if s.startswith(("\\", "--"))]


def test_classify():
    assert globals_plan.classify('CREATE ROLE "a ""b""";') == ("create", 'a "b"')
    assert globals_plan.classify("ALTER ROLE x SET a TO 'b';") == ("alter", "x")
    assert globals_plan.classify('GRANT r TO "m m" WITH ADMIN OPTION GRANTED BY x;') == ("grant", ("r", "m m", True))
    assert globals_plan.classify("SET x = 1;") == ("other", None)


def test_restore_plan_creates_only_missing_roles():
    plan = globals_plan.restore_plan(DUMP, ["runbook", "reader", "pg_monitor"])
    assert plan["create"] == ['app "owner"']
    assert [s.split(" IS ")[0] for s in plan["statements"]] == [
        'ALTER ROLE "app ""owner""" WITH NOSUPERUSER INHERIT LOGIN CONNECTION LIMIT 5;',
        'COMMENT ON ROLE "app ""owner"""']
    # reader exists: its setting is not touched; its membership of the new role is granted.
    assert plan["grants"] == [("reader", 'app "owner"', True)]
    assert plan["skipped"] == ["1 tablespace statement(s) not run: create the tablespaces on this server first"]


def test_restore_plan_nothing_missing():
    plan = globals_plan.restore_plan(DUMP, ["runbook", "reader", 'app "owner"'])
    assert plan["create"] == [] and plan["statements"] == [] and plan["grants"] == []


def test_globals_path():
    assert globals_plan.globals_path("/b/daily/db-1.dump.zst") == "/b/daily/db-1.dump.zst.globals.sql"
