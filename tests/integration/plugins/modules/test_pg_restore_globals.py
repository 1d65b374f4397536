"""Roles and other globals (issue 12): pg_backup writes them beside the database backup, without
passwords unless asked; pg_restore's restore_globals creates the missing roles on a second, empty
PostgreSQL cluster (existing roles untouched) before the restore."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from sandbox.services import Postgres

from utils.backup_fixtures import drop_db, unique
from utils.run import ModuleFailed, run_module

OWNER = 'Own "Er".%s'
READER = "reader %s"


@pytest.fixture(scope="module")
def second_cluster():
    """Another PostgreSQL 15 cluster, empty: the new server of a disaster recovery."""
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-pg2-"))
    server = Postgres(base).start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def _q(name):
    return '"%s"' % name.replace('"', '""')


@pytest.fixture(scope="module")
def owned(postgres, tmp_path_factory):
    """A database owned by a custom role, with objects owned by it and grants to a second role."""
    tag = unique("g")
    owner, reader = OWNER % tag, READER % tag
    name = unique("glob")
    postgres.psql("CREATE ROLE %s LOGIN PASSWORD 'owner-secret-pw' CONNECTION LIMIT 7; CREATE ROLE %s; "
                  "COMMENT ON ROLE %s IS 'the app''s owner'; ALTER ROLE %s SET work_mem = '16MB'; "
                  "GRANT %s TO %s" % (_q(owner), _q(reader), _q(owner), _q(owner), _q(reader), _q(owner)))
    postgres.psql("CREATE DATABASE %s OWNER %s" % (_q(name), _q(owner)))
    postgres.psql("SET ROLE %s; CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, label text); "
                  "INSERT INTO app.items SELECT i, 'item ' || i FROM generate_series(1, 50) i; "
                  "GRANT USAGE ON SCHEMA app TO %s; GRANT SELECT ON app.items TO %s; "
                  "REVOKE CONNECT ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO %s"
                  % (_q(owner), _q(reader), _q(reader), _q(name), _q(name), _q(reader)), database=name)
    backup_dir = tmp_path_factory.mktemp("globals")
    backup = run_module("pg_backup", dict(postgres.dsn(database=name), kind="manual", backup_dir=str(backup_dir)))
    yield {"name": name, "owner": owner, "reader": reader, "backup": backup, "backup_dir": backup_dir}
    drop_db(postgres, name)
    postgres.psql("DROP ROLE IF EXISTS %s; DROP ROLE IF EXISTS %s" % (_q(owner), _q(reader)))


def test_globals_file_beside_the_backup_without_passwords(owned):
    backup = owned["backup"]
    path = backup["path"] + ".globals.sql"
    info = backup["manifest"]["globals"]
    assert info["file"] == os.path.basename(path) and info["passwords"] is False
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert "CREATE ROLE %s;" % _q(owned["owner"]) in text
    assert "SCRAM-SHA-256" not in text and "PASSWORD" not in text


def test_globals_passwords_only_when_asked(postgres, owned, tmp_path):
    result = run_module("pg_backup", dict(postgres.dsn(database=owned["name"]), kind="manual",
                                          backup_dir=str(tmp_path), globals_passwords=True))
    assert result["manifest"]["globals"]["passwords"] is True
    assert "SCRAM-SHA-256" in open(result["path"] + ".globals.sql").read()
    assert "SCRAM" not in str(result)


def test_restore_onto_a_new_cluster_creates_the_missing_roles(second_cluster, owned):
    new = second_cluster
    owner, reader = owned["owner"], owned["reader"]
    args = dict(new.dsn(database="postgres"), backup=owned["backup"]["path"], target=owned["name"])
    # Without the roles the restore fails, and leaves nothing behind.
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_restore", args)
    assert "does not exist" in failed.value.result["msg"]
    assert new.psql("SELECT count(*) FROM pg_database WHERE datname = '%s'" % owned["name"]).strip() == "0"
    # An existing role is left as it is.
    new.psql("CREATE ROLE %s CONNECTION LIMIT 3" % _q(reader))
    plan = run_module("pg_restore", dict(args, restore_globals=True), check_mode=True)
    # The globals are the whole cluster's: every role this server lacks, not the reader it has.
    missing = plan["plan"][0][len("create the missing roles: "):].split(", ")
    assert plan["plan"][0].startswith("create the missing roles: ") and owner in missing and reader not in missing
    assert new.psql("SELECT count(*) FROM pg_roles WHERE rolname = '%s'" % owner.replace("'", "''")).strip() == "0"
    result = run_module("pg_restore", dict(args, restore_globals=True))
    assert result["status"] == "ok", result["summary"]
    checks = {c["name"]: c for c in result["checks"]}
    assert owner in checks["restore.%s.globals" % owned["name"]]["value"]["created"]
    role = new.psql("SELECT rolcanlogin, rolconnlimit, rolpassword IS NULL, shobj_description(oid, 'pg_authid'), "
                    "(SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setrole = a.oid AND setdatabase = 0) "
                    "FROM pg_authid a WHERE rolname = '%s'" % owner.replace("'", "''"))
    assert role.strip() == "t|7|t|the app's owner|work_mem=16MB"
    assert new.psql("SELECT rolconnlimit FROM pg_roles WHERE rolname = '%s'" % reader).strip() == "3"
    assert new.psql("SELECT pg_has_role('%s', '%s', 'MEMBER')" % (owner.replace("'", "''"), reader)).strip() == "t"
    db = owned["name"]
    assert new.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'" % db).strip() == owner
    assert new.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'items'", database=db).strip() == owner
    assert new.psql("SELECT has_table_privilege('%s', 'app.items', 'SELECT'), has_database_privilege('%s', '%s', "
                    "'CONNECT')" % (reader, reader, db), database=db).strip() == "t|t"
    assert new.psql("SELECT count(*) FROM app.items", database=db).strip() == "50"
    # A second restore creates no role.
    again = run_module("pg_restore", dict(args, restore_globals=True, target=db + "_2"))
    assert {c["name"]: c for c in again["checks"]}["restore.%s_2.globals" % db]["value"] == {"created": []}


def test_failed_restore_drops_the_roles_it_created(second_cluster, owned, tmp_path, monkeypatch):
    from ansible_collections.runbook.ops.plugins.module_utils.backup import database_runner
    new = second_cluster
    archive = tmp_path / os.path.basename(owned["backup"]["path"])
    for suffix in ("", ".manifest.json", ".globals.sql"):
        shutil.copy(owned["backup"]["path"] + suffix, str(archive) + suffix)
    target = unique("gfail")
    tag = unique("x")
    text = open(str(archive) + ".globals.sql").read().replace(owned["owner"].replace('"', '""'), "gone %s" % tag)
    # A role of the globals file that this server lacks is created, then the restore fails half-way:
    # the role is dropped again, with the database.
    import hashlib
    import json
    with open(str(archive) + ".globals.sql", "w") as handle:
        handle.write(text)
    manifest = json.loads(open(str(archive) + ".manifest.json").read())
    manifest["globals"]["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    manifest["globals"]["size"] = len(text.encode())
    with open(str(archive) + ".manifest.json", "w") as handle:
        json.dump(manifest, handle)
    monkeypatch.setattr(database_runner, "restored_counts", injected_failure)
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_restore", dict(new.dsn(database="postgres"), backup=str(archive), target=target,
                                      restore_globals=True, no_owner=True))
    assert "injected" in failed.value.result["msg"]
    assert new.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'gone %s'" % tag).strip() == "0"
    assert new.psql("SELECT count(*) FROM pg_database WHERE datname = '%s'" % target).strip() == "0"


def test_globals_travel_to_s3_and_back_and_are_deleted_with_their_backup(s3_server, second_cluster, owned, tmp_path):
    from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client
    bucket = "gl-" + unique("b").replace("_", "-")
    s3 = dict(endpoint_url=s3_server.endpoint_url, access_key=s3_server.access_key,
              secret_key=s3_server.secret_key, bucket=bucket, retries=2)
    s3_client.client(s3).create_bucket(Bucket=bucket)
    backup = owned["backup"]
    up = run_module("s3_backup", dict(s3, mode="upload", backup=backup["path"], prefix="pg"))
    assert "pg/%s.globals.sql" % backup["name"] in up["keys"]
    target = unique("gs3")
    result = run_module("pg_restore", dict(second_cluster.dsn(database="postgres"), backup=backup["name"],
                                           s3=dict(s3, prefix="pg"), download_dir=str(tmp_path), target=target,
                                           restore_globals=True))
    assert result["status"] == "ok", result["summary"]
    assert os.path.isfile(str(tmp_path / backup["name"]) + ".globals.sql")
    # Retention's S3 catalog counts the globals object as one of its backup's, deleted with it.
    from ansible_collections.runbook.ops.plugins.module_utils.backup import offload_runner
    client = s3_client.client(s3)
    entries = offload_runner.list_backups(client, bucket, "pg")
    assert [e["name"] for e in entries] == [backup["name"]]
    offload_runner.delete_backup(client, bucket, entries[0])
    left = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert left == [], [o["Key"] for o in left]


def test_check_mode_needs_pg_dumpall_only_with_globals(postgres, owned, tmp_path):
    args = dict(postgres.dsn(database=owned["name"]), backup_dir=str(tmp_path), pg_dumpall_path="/nonexistent/pg_dumpall")
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", args, check_mode=True)
    assert "pg_dumpall /nonexistent/pg_dumpall does not exist" in failed.value.result["msg"]
    assert run_module("pg_backup", dict(args, globals=False), check_mode=True)["changed"] is True
    assert not os.listdir(str(tmp_path))


def injected_failure(*_args, **_kwargs):
    """Stands in for a step of the restore that fails half-way."""
    raise RuntimeError("injected")
