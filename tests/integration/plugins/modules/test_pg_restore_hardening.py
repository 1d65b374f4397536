"""pg_backup and pg_restore against hostile databases (issue 12): dotted names, partitioned and
inheritance parents, "empty" databases holding only types, a role without CREATEDB, a failure
half-way through a restore, and the database's own settings (collation, owner, ACL, comment,
ALTER DATABASE ... SET)."""

from __future__ import annotations

import json
import time

import pytest

from utils.backup_fixtures import DOTTED_SCHEMA, create_db, drop_db, table_checksums, unique
from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.backup import database_runner


@pytest.fixture
def names(postgres):
    made = []

    def make(prefix="hd"):
        name = unique(prefix)
        made.append(name)
        return name
    yield make
    for name in made:
        for extra in postgres.psql("SELECT datname FROM pg_database WHERE datname LIKE '%s%%'" % name).split():
            drop_db(postgres, extra)


@pytest.fixture(scope="module")
def dotted(postgres, tmp_path_factory):
    """A database with dotted schema and table names, partitioned and inheritance parents."""
    name = create_db(postgres, unique("dot"), DOTTED_SCHEMA)
    backup = run_module("pg_backup", dict(postgres.dsn(database=name), kind="manual",
                                          backup_dir=str(tmp_path_factory.mktemp("dotted"))))
    yield name, backup
    drop_db(postgres, name)


def _restore(postgres, backup, target, check_mode=False, **extra):
    args = dict(postgres.dsn(database="postgres"), backup=backup, target=target)
    args.update(extra)
    return run_module("pg_restore", args, check_mode=check_mode)


def _exists(postgres, name):
    return postgres.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % name).strip() == "1"


def test_manifest_keys_schema_and_table_apart(dotted):
    _name, backup = dotted
    tables = {(t["schema"], t["table"]): t["rows"] for t in backup["manifest"]["tables"]}
    # a."b.c" and "a.b".c are two tables, not one key.
    assert tables[("a", "b.c")] == 1
    assert tables[("a.b", "c")] == 2
    assert tables[("we.ird", "part")] == 30
    assert tables[("we.ird", "part_low")] == 10
    assert tables[("we.ird", "part_high")] == 20
    assert tables[("public", "parent.t")] == 3
    assert tables[("public", "child")] == 2


def test_dotted_names_restore_and_count(postgres, dotted, names):
    source, backup = dotted
    target = names()
    result = _restore(postgres, backup["path"], target)
    assert result["status"] == "ok", result["summary"]
    assert table_checksums(postgres, target) == table_checksums(postgres, source)
    counts = {c["name"]: c for c in result["checks"]}["restore.%s.row_counts" % target]
    assert counts["status"] == "ok" and "7 tables" in counts["message"], counts


def test_parents_counted_directly_without_waiting_for_statistics(postgres, dotted, names):
    source, backup = dotted
    started = time.monotonic()
    target = names()
    result = _restore(postgres, backup["path"], target)
    elapsed = time.monotonic() - started
    seconds = {c["name"]: c for c in result["checks"]}["restore.%s.pg_restore" % target]["value"]
    counts = {c["name"]: c for c in result["checks"]}["restore.%s.row_counts" % target]["message"]
    # Two parents (partitioned, inheritance) are counted at once; the statistics of the five
    # others match the manifest: no 5 s wait for statistics that can never match.
    assert "2 parents counted directly" in counts, counts
    assert elapsed - seconds < 4.0, (elapsed, seconds)


def test_failure_half_way_removes_the_new_database(postgres, dotted, names, monkeypatch):
    _source, backup = dotted

    def broken(*_args, **_kwargs):
        raise RuntimeError("injected failure after pg_restore")
    monkeypatch.setattr(database_runner, "restored_counts", broken)
    for swap in (False, True):
        target = names()
        with pytest.raises(ModuleFailed) as failed:
            _restore(postgres, backup["path"], target, swap=swap)
        assert "injected failure" in failed.value.result["msg"]
        assert postgres.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%s%%'" % target).strip() == "0"


def test_failure_half_way_keeps_an_existing_empty_target(postgres, dotted, names, monkeypatch):
    # The target existed before (empty): it is emptied again, not dropped, and not left half restored.
    _source, backup = dotted
    target = names()
    create_db(postgres, target, "")
    monkeypatch.setattr(database_runner, "restored_counts", injected_failure)
    with pytest.raises(ModuleFailed):
        _restore(postgres, backup["path"], target)
    assert _exists(postgres, target)
    assert database_runner.database_object_count(postgres.dsn(), target) == 0


@pytest.mark.parametrize("objects", [
    "CREATE TYPE colour AS ENUM ('red', 'green')",
    "CREATE DOMAIN positive AS int CHECK (VALUE > 0)",
    "CREATE PUBLICATION everything FOR ALL TABLES",
    "CREATE EXTENSION hstore",
    "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
    "CREATE SCHEMA app",
    "CREATE TEXT SEARCH CONFIGURATION mine (COPY = english)",
    "CREATE COLLATION mine (provider = libc, locale = 'C')",
    "CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)",
])
def test_database_holding_only_types_is_not_empty(postgres, dotted, names, objects):
    _source, backup = dotted
    target = names()
    create_db(postgres, target, objects)
    with pytest.raises(ModuleFailed) as failed:
        _restore(postgres, backup["path"], target)
    assert "is not empty" in failed.value.result["msg"]
    assert postgres.psql("SELECT count(*) FROM pg_class WHERE relname = 'child'", database=target).strip() == "0"


def test_role_without_createdb_gets_a_createdb_hint(postgres, dotted, names):
    _source, backup = dotted
    target = names()
    args = dict(postgres.dsn(user=postgres.monitor_user, database="postgres"), backup=backup["path"], target=target)
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_restore", args)
    msg = failed.value.result["msg"]
    assert "CREATEDB" in msg and "pg_monitor" not in msg, msg
    assert not _exists(postgres, target)


def _database_settings(postgres, name):
    """The database's own settings as psql prints them (independent of the module's code)."""
    return postgres.psql(
        "SELECT pg_get_userbyid(d.datdba), d.datcollate, d.datctype, pg_encoding_to_char(d.encoding), "
        "d.datconnlimit, shobj_description(d.oid, 'pg_database'), "
        "(SELECT string_agg(coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC') || ':' || a.privilege_type "
        "|| ':' || a.is_grantable, ',' ORDER BY 1) FROM aclexplode(d.datacl) a), "
        "(SELECT string_agg(coalesce(pg_get_userbyid(nullif(s.setrole, 0)), '*') || '=' || array_to_string(s.setconfig, '|'), "
        "',' ORDER BY 1) FROM pg_db_role_setting s WHERE s.setdatabase = d.oid) "
        "FROM pg_database d WHERE d.datname = '%s'" % name).strip()


@pytest.fixture(scope="module")
def configured(postgres, tmp_path_factory):
    """A database with collation C, a custom owner, an ACL, a comment and settings, backed up."""
    name = unique("cfg")
    postgres.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app owner') THEN "
                  "CREATE ROLE \"app owner\"; CREATE ROLE \"reader.role\"; END IF; END$$")
    postgres.psql('CREATE DATABASE "%s" TEMPLATE template0 LC_COLLATE \'C\' LC_CTYPE \'C\' OWNER "app owner" '
                  'CONNECTION LIMIT 40' % name)
    for statement in (
            'REVOKE ALL ON DATABASE "{db}" FROM PUBLIC',
            'GRANT CONNECT ON DATABASE "{db}" TO "reader.role"',
            'GRANT TEMPORARY ON DATABASE "{db}" TO "reader.role" WITH GRANT OPTION',
            "COMMENT ON DATABASE \"{db}\" IS 'the app''s database'",
            'ALTER DATABASE "{db}" SET search_path = "My Schema", public',
            "ALTER DATABASE \"{db}\" SET work_mem = '64MB'",
            "ALTER ROLE \"reader.role\" IN DATABASE \"{db}\" SET statement_timeout = '5s'"):
        postgres.psql(statement.format(db=name))
    postgres.psql('CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema".t (x text); '
                  "INSERT INTO \"My Schema\".t VALUES ('b'), ('B'), ('a')", database=name)
    backup = run_module("pg_backup", dict(postgres.dsn(database=name), kind="manual",
                                          backup_dir=str(tmp_path_factory.mktemp("configured"))))
    yield name, backup
    drop_db(postgres, name)


def test_manifest_records_database_settings(configured):
    _name, backup = configured
    props = backup["manifest"]["database_properties"]
    assert props["owner"] == "app owner" and props["collate"] == "C" and props["ctype"] == "C"
    assert props["comment"] == "the app's database" and props["connection_limit"] == 40
    assert {"role": None, "name": "search_path", "value": '"My Schema", public'} in props["settings"]
    assert {"grantee": "reader.role", "privilege": "CONNECT", "grantable": False} in props["acl"]


@pytest.mark.parametrize("swap", [False, True])
def test_database_settings_restored(postgres, configured, names, swap):
    source, backup = configured
    target = names()
    if swap:
        create_db(postgres, target, "CREATE TABLE old (x int)")
    result = _restore(postgres, backup["path"], target, swap=swap, force=swap)
    assert result["status"] == "ok", result["summary"]
    assert _database_settings(postgres, target) == _database_settings(postgres, source)
    # Collation C: upper case sorts before lower case, as in the source.
    assert postgres.psql('SELECT string_agg(x, \'\' ORDER BY x) FROM "My Schema".t', database=target).strip() == "Bab"
    assert postgres.psql("SHOW search_path", database=target).strip() == '"My Schema", public'


def test_old_manifest_still_restores(postgres, dotted, names, tmp_path):
    # A manifest written before issue 12: "schema.table" keys, no tables, no database settings.
    import shutil
    source, backup = dotted
    archive = str(tmp_path / backup["name"].split("/")[-1])
    shutil.copy(backup["path"], archive)
    manifest = dict(backup["manifest"])
    manifest["row_counts"] = {"%s.%s" % (t["schema"], t["table"]): t["rows"] for t in manifest.pop("tables")}
    del manifest["database_properties"]
    with open(archive + ".manifest.json", "w") as handle:
        json.dump(manifest, handle)
    target = names()
    result = _restore(postgres, archive, target)
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["restore.%s.row_counts" % target]["status"] == "ok", checks
    settings = checks["restore.%s.database_settings" % target]
    assert settings["status"] == "ok" and "records no database settings" in settings["message"]
    assert table_checksums(postgres, target) == table_checksums(postgres, source)


def injected_failure(*_args, **_kwargs):
    """Stands in for a step of the restore that fails half-way."""
    raise RuntimeError("injected")
