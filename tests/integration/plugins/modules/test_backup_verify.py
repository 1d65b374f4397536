"""backup_verify against a real PostgreSQL 15: freshness, checksums, test restore with measured RTO."""

from __future__ import annotations

import datetime
import json
import os
import shutil

import pytest

from utils.backup_fixtures import create_db, drop_db, unique
from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner


@pytest.fixture(scope="module")
def source(postgres):
    name = create_db(postgres, unique("ver"))
    yield name
    drop_db(postgres, name)


@pytest.fixture(scope="module")
def fresh(postgres, source, tmp_path_factory):
    base = tmp_path_factory.mktemp("fresh")
    return run_module("pg_backup", dict(postgres.dsn(database=source), backup_dir=str(base)))


def _copy(real, backup_dir, kind="daily", age_hours=0.0, database=None, corrupt=False, manifest_change=None):
    database = database or real["manifest"]["database"]
    moment = catalog_runner.utcnow() - datetime.timedelta(hours=age_hours)
    name = catalog_plan.backup_name(kind, database, moment, "dump.zst")
    path = os.path.join(str(backup_dir), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copy(real["path"], path)
    manifest = dict(real["manifest"], kind=kind, name=name)
    manifest.update(manifest_change or {})
    catalog_runner.atomic_write_json(catalog_plan.manifest_path(path), manifest)
    if corrupt:
        with open(path, "r+b") as handle:
            handle.seek(200)
            byte = handle.read(1)
            handle.seek(200)
            handle.write(bytes([byte[0] ^ 0x01]))
    return name


def _verify(postgres, backup_dir, check_mode=False, **extra):
    args = dict(postgres.dsn(database="postgres"), backup_dir=str(backup_dir))
    args.update(extra)
    return run_module("backup_verify", args, check_mode=check_mode)


def _scratch_dbs(postgres, source):
    return postgres.psql("SELECT datname FROM pg_database WHERE datname LIKE '%s\\_verify\\_%%'" % source).split()


def test_fresh_backup_with_test_restore(postgres, source, fresh):
    backup_dir = os.path.dirname(os.path.dirname(fresh["path"]))
    result = _verify(postgres, backup_dir, test_restore=True,
                     smoke_queries=["SELECT count(*) FROM filings WHERE feeling = 'happy'",
                                    "SELECT filing_total('ok') > 0"])
    assert result["changed"] is False
    assert result["status"] == "ok", result["summary"]
    checks = {c["name"]: c for c in result["checks"]}
    prefix = "backup.%s" % source
    assert checks[prefix + ".daily.freshness"]["status"] == "ok"
    assert checks[prefix + ".daily.checksum"]["status"] == "ok"
    assert "measured RTO" in checks[prefix + ".restore"]["message"]
    assert checks[prefix + ".row_counts"]["status"] == "ok"
    assert checks[prefix + ".smoke.1"]["value"] == "667"
    assert checks[prefix + ".smoke.2"]["value"] == "True"
    rto = result["metrics"]['backup_restore_seconds{database="%s"}' % source]
    assert 0 < rto < 60
    assert result["metrics"]['backup_verified{database="%s",kind="daily"}' % source] == 1.0
    assert result["metrics"]['backup_size_bytes{database="%s",kind="daily"}' % source] == fresh["manifest"]["size"]
    assert _scratch_dbs(postgres, source) == []
    assert postgres.password not in json.dumps(result)


def test_directory_backup_with_test_restore(postgres, source, tmp_path):
    # A zstd directory backup: its data files are decompressed into a temp directory for the
    # test restore, which is gone afterwards like the scratch database.
    made = run_module("pg_backup", dict(postgres.dsn(database=source), backup_dir=str(tmp_path), format="directory"))
    assert made["manifest"]["compression"] == "zstd"
    result = _verify(postgres, tmp_path, test_restore=True, smoke_queries=["SELECT count(*) FROM filings"])
    assert result["status"] == "ok", result["summary"]
    checks = {c["name"]: c for c in result["checks"]}
    prefix = "backup.%s" % source
    assert "measured RTO" in checks[prefix + ".restore"]["message"]
    assert checks[prefix + ".row_counts"]["status"] == "ok"
    assert checks[prefix + ".smoke.1"]["value"] == "2000"
    assert _scratch_dbs(postgres, source) == []
    assert sorted(os.listdir(tmp_path / "daily")) == [os.path.basename(made["path"]),
                                                      os.path.basename(made["path"]) + ".globals.sql",
                                                      os.path.basename(made["manifest_path"])]


def test_stale_daily_is_critical(postgres, fresh, tmp_path):
    _copy(fresh, tmp_path, age_hours=30)
    result = _verify(postgres, tmp_path)
    assert result["status"] == "critical"
    check = [c for c in result["checks"] if c["name"].endswith(".daily.freshness")][0]
    assert check["status"] == "critical" and "critical >= 26h" in check["message"]
    assert check["value"] == pytest.approx(30, abs=0.1)


def test_weekly_freshness_threshold(postgres, fresh, tmp_path):
    _copy(fresh, tmp_path, age_hours=2)
    _copy(fresh, tmp_path, kind="weekly", age_hours=100)
    result = _verify(postgres, tmp_path, max_age_hours={"daily": 26, "weekly": 192})
    assert result["status"] == "ok", result["summary"]
    result = _verify(postgres, tmp_path, max_age_hours={"daily": 26, "weekly": 48})
    assert result["status"] == "critical"
    assert ".weekly.freshness" in result["summary"]


def test_no_backup_at_all_is_critical(postgres, tmp_path):
    result = _verify(postgres, tmp_path)
    assert result["status"] == "critical"
    assert result["checks"][0]["name"] == "backup.daily.freshness"
    assert "no complete daily backup" in result["checks"][0]["message"]


def test_flipped_byte_is_critical_and_test_restore_uses_older_verified(postgres, source, fresh, tmp_path):
    good = _copy(fresh, tmp_path, age_hours=20)
    bad = _copy(fresh, tmp_path, age_hours=1, corrupt=True)
    result = _verify(postgres, tmp_path, test_restore=True)
    checks = {c["name"]: c for c in result["checks"]}
    prefix = "backup.%s" % source
    assert checks[prefix + ".daily.checksum"]["status"] == "critical"
    assert bad in checks[prefix + ".daily.checksum"]["message"]
    assert "does not match the manifest" in checks[prefix + ".daily.checksum"]["message"]
    assert checks[prefix + ".restore"]["status"] == "ok" and good in checks[prefix + ".restore"]["message"]
    assert result["status"] == "critical" and result["severity"] == "P1"
    assert _scratch_dbs(postgres, source) == []


def test_only_corrupt_backups_no_restore(postgres, source, fresh, tmp_path):
    _copy(fresh, tmp_path, age_hours=1, corrupt=True)
    result = _verify(postgres, tmp_path, test_restore=True)
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["backup.%s.restore" % source]["status"] == "critical"
    assert "no verified backup" in checks["backup.%s.restore" % source]["message"]


def test_row_count_mismatch_and_failing_smoke_query(postgres, source, fresh, tmp_path):
    tables = [dict(t, rows=5) if (t["schema"], t["table"]) == ("public", "docs") else t
              for t in fresh["manifest"]["tables"]]
    _copy(fresh, tmp_path, manifest_change={"tables": tables})
    result = _verify(postgres, tmp_path, test_restore=True, smoke_queries=["SELECT * FROM no_such_table"])
    checks = {c["name"]: c for c in result["checks"]}
    prefix = "backup.%s" % source
    assert checks[prefix + ".row_counts"]["status"] == "critical"
    assert "public.docs has 1 rows, manifest says 5" in checks[prefix + ".row_counts"]["message"]
    assert checks[prefix + ".smoke.1"]["status"] == "critical"
    assert "no_such_table" in checks[prefix + ".smoke.1"]["message"]
    assert _scratch_dbs(postgres, source) == []


def test_check_mode_skips_test_restore(postgres, source, fresh, tmp_path):
    _copy(fresh, tmp_path, age_hours=1)
    result = _verify(postgres, tmp_path, check_mode=True, test_restore=True)
    checks = {c["name"]: c for c in result["checks"]}
    assert "not run in check mode" in checks["backup.%s.restore" % source]["message"]
    assert not any(k.startswith("backup_restore_seconds") for k in result["metrics"])
    assert result["changed"] is False


def test_unreachable_server_is_down_not_failure(postgres, source, fresh, tmp_path):
    _copy(fresh, tmp_path, age_hours=1)
    result = _verify(postgres, tmp_path, test_restore=True, port=1)
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["backup.%s.restore" % source]["severity"] == "P0"
    assert "connection refused" in checks["backup.%s.restore" % source]["message"]


def test_existing_scratch_database_is_not_touched(postgres, source, fresh, tmp_path):
    _copy(fresh, tmp_path, age_hours=1)
    scratch = unique("scratch")
    create_db(postgres, scratch, "CREATE TABLE mine (x int);")
    try:
        result = _verify(postgres, tmp_path, test_restore=True, scratch_database=scratch)
        checks = {c["name"]: c for c in result["checks"]}
        assert "already exists" in checks["backup.%s.restore" % source]["message"]
        assert postgres.psql("SELECT to_regclass('mine') IS NOT NULL", database=scratch).strip() == "t"
    finally:
        drop_db(postgres, scratch)


@pytest.mark.parametrize("extra, message", [
    ({"max_age_hours": {"daily": "soon"}}, "max_age_hours.daily must be a number"),
    ({"jobs": 0}, "jobs must be at least 1"),
])
def test_bad_input(postgres, tmp_path, extra, message):
    args = dict(postgres.dsn(database="postgres"), backup_dir=str(tmp_path))
    args.update(extra)
    with pytest.raises(ModuleFailed) as failed:
        run_module("backup_verify", args)
    assert message in failed.value.result["msg"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_missing_backup_dir_is_a_critical_check(postgres, tmp_path, check_mode):
    # A health condition, as the other ones: no backup directory means no backup at all.
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for path in ("/nonexistent/dir", str(a_file)):
        result = _verify(postgres, path, check_mode=check_mode, max_age_hours={"daily": 26})
        assert result["changed"] is False and result["status"] == "critical" and result["severity"] == "P0"
        found = {c["name"]: c for c in result["checks"]}["backup.dir"]
        assert found["status"] == "critical" and found["message"] == "backup_dir %s is not a directory" % path
        assert path in result["summary"]


# The scratch database's own locale and what its ctype does to a non-ASCII letter, read by a smoke
# query inside it (the scratch database is gone when the module returns).
LOCALE_QUERY = ("SELECT pg_encoding_to_char(d.encoding) || '/' || d.datcollate || '/' || d.datctype || '/' "
                "|| (SELECT ascii(right(upper(word), 1)) FROM words) FROM pg_database d WHERE d.datname = current_database()")
# (The code of the last letter of upper('café'): 233, é, under ctype C; 201, É, under C.UTF-8.)
WORDS = "CREATE TABLE words (word text); INSERT INTO words VALUES ('caf' || chr(233))"


@pytest.fixture(scope="module")
def latin1_c(postgres, tmp_path_factory):
    """A LATIN1 database with collation and ctype C (the server's default is UTF8 and C.UTF-8), backed up."""
    name = unique("loc")
    postgres.psql("CREATE DATABASE \"%s\" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'" % name)
    postgres.psql(WORDS, database=name)
    backup = run_module("pg_backup", dict(postgres.dsn(database=name), backup_dir=str(tmp_path_factory.mktemp("loc"))))
    yield name, backup
    drop_db(postgres, name)


def test_server_default_locale_differs_from_the_source(postgres, latin1_c):
    """The premise of the two tests below: a database created with the defaults is UTF8 / C.UTF-8."""
    default = unique("default")
    create_db(postgres, default, WORDS)
    try:
        assert postgres.psql(LOCALE_QUERY, database=default).strip() == "UTF8/C.UTF-8/C.UTF-8/201"
    finally:
        drop_db(postgres, default)
    assert postgres.psql(LOCALE_QUERY, database=latin1_c[0]).strip() == "LATIN1/C/C/233"


def test_test_restore_uses_the_source_databases_locale(postgres, latin1_c):
    name, backup = latin1_c
    assert backup["manifest"]["database_properties"]["collate"] == "C"
    result = _verify(postgres, os.path.dirname(os.path.dirname(backup["path"])), test_restore=True,
                     smoke_queries=[LOCALE_QUERY])
    assert result["status"] == "ok", result["summary"]
    checks = {c["name"]: c for c in result["checks"]}
    prefix = "backup.%s" % name
    # Encoding, collation and ctype as the source's: upper() leaves the é of a C ctype alone.
    assert checks[prefix + ".smoke.1"]["value"] == "LATIN1/C/C/233"
    assert "(encoding LATIN1, collation C, ctype C)" in checks[prefix + ".restore"]["message"]
    assert prefix + ".collation" not in checks
    assert _scratch_dbs(postgres, name) == []


def test_a_locale_the_server_lacks_falls_back_with_a_warning(postgres, latin1_c, tmp_path):
    name, backup = latin1_c
    props = dict(backup["manifest"]["database_properties"], encoding="UTF8", collate="xx_XX.UTF-8",
                 ctype="xx_XX.UTF-8")
    _copy(backup, tmp_path, manifest_change={"database_properties": props})
    result = _verify(postgres, tmp_path, test_restore=True, smoke_queries=[LOCALE_QUERY])
    assert result["status"] == "warning", result["summary"]
    checks = {c["name"]: c for c in result["checks"]}
    prefix = "backup.%s" % name
    assert checks[prefix + ".restore"]["status"] == "ok"
    assert checks[prefix + ".row_counts"]["status"] == "ok"
    assert checks[prefix + ".smoke.1"]["value"] == "UTF8/C.UTF-8/C.UTF-8/201"
    warning = checks[prefix + ".collation"]
    assert warning["status"] == "warning"
    assert "collation xx_XX.UTF-8" in warning["message"] and 'locale name: "xx_XX.UTF-8"' in warning["message"]
    assert "the server's encoding UTF8, collation C.UTF-8, ctype C.UTF-8" in warning["message"]
    assert _scratch_dbs(postgres, name) == []


def test_a_failed_restore_into_the_source_locale_drops_the_scratch_database(postgres, latin1_c, tmp_path):
    """The scratch database is now created before pg_restore runs: a restore that fails leaves none."""
    name, backup = latin1_c
    _copy(backup, tmp_path)
    result = _verify(postgres, tmp_path, test_restore=True, pg_restore_path="/bin/false")
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["backup.%s.restore" % name]["status"] == "critical", checks
    assert "pg_restore exited with status 1" in checks["backup.%s.restore" % name]["message"]
    assert _scratch_dbs(postgres, name) == []
