"""pg_restore against a real PostgreSQL 15: fidelity, corrupt archives, non-empty targets, swap."""

from __future__ import annotations

import json
import os
import time

import psycopg2
import pytest

from utils.backup_fixtures import create_db, drop_db, schema_dump, table_checksums, unique
from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner


@pytest.fixture(scope="module")
def source(postgres):
    name = create_db(postgres, unique("src"))
    yield name
    drop_db(postgres, name)


@pytest.fixture(scope="module")
def backups(postgres, source, tmp_path_factory):
    """One backup per format/compression, taken once."""
    base = tmp_path_factory.mktemp("backups")
    made = {}
    for kind, fmt, compression in (("zstd", "custom", "zstd"), ("gzip", "custom", "gzip"),
                                   ("none", "custom", "none"), ("dir", "directory", "gzip"),
                                   ("dirzstd", "directory", "zstd")):
        made[kind] = run_module("pg_backup", dict(postgres.dsn(database=source), backup_dir=str(base), kind=kind,
                                                  format=fmt, compression=compression))
    return made


@pytest.fixture
def targets(postgres):
    names = []

    def make(prefix="tgt"):
        name = unique(prefix)
        names.append(name)
        return name
    yield make
    for name in names:
        for suffix in ("",):
            drop_db(postgres, name + suffix)
        leftovers = postgres.psql("SELECT datname FROM pg_database WHERE datname LIKE '%s\\_%%'" % name).split()
        for extra in leftovers:
            drop_db(postgres, extra)


def _restore(postgres, backup, target, check_mode=False, **extra):
    args = dict(postgres.dsn(database="postgres"), backup=backup, target=target)
    args.update(extra)
    return run_module("pg_restore", args, check_mode=check_mode)


def _exists(postgres, name):
    return postgres.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % name).strip() == "1"


@pytest.mark.parametrize("kind", ["zstd", "gzip", "none", "dir", "dirzstd"])
def test_round_trip_fidelity(postgres, source, backups, targets, kind):
    target = targets()
    result = _restore(postgres, backups[kind]["path"], target, jobs=2)
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    names = {c["name"]: c for c in result["checks"]}
    assert names["restore.%s.row_counts" % target]["status"] == "ok"
    assert names["restore.%s.checksum" % target]["status"] == "ok"
    assert result["metrics"]['backup_restore_seconds{database="%s"}' % target] > 0
    assert schema_dump(postgres, target) == schema_dump(postgres, source)
    source_sums = table_checksums(postgres, source)
    assert source_sums["public.filings"].startswith("2000:")
    assert source_sums["largeobjects"] != ""
    assert table_checksums(postgres, target) == source_sums
    # Functions, views and the enum work in the restored database.
    assert postgres.psql("SELECT filing_total('happy') = (SELECT sum(amount) FROM happy_filings)",
                         database=target).strip() == "t"
    assert postgres.psql("SELECT nextval('invoice_no')", database=target).strip() == "100006"
    # No decompressed temp file is left next to the archive.
    assert not [n for n in os.listdir(os.path.dirname(backups[kind]["path"])) if n.startswith(".restore-")]


def test_restore_accepts_manifest_path(postgres, backups, targets):
    target = targets()
    result = _restore(postgres, backups["zstd"]["manifest_path"], target)
    assert result["restored_database"] == target


def _copy_backup(src, dst_dir):
    import shutil
    dst_dir.mkdir(parents=True, exist_ok=True)
    archive = dst_dir / os.path.basename(src["path"])
    if os.path.isdir(src["path"]):
        shutil.copytree(src["path"], archive)
    else:
        shutil.copy(src["path"], archive)
    shutil.copy(src["manifest_path"], str(archive) + ".manifest.json")
    return str(archive)


def _flip(path, offset):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


def _largest_data_file(archive):
    return max((os.path.join(archive, name) for name in os.listdir(archive) if name != "toc.dat"),
               key=os.path.getsize)


@pytest.mark.parametrize("kind", ["zstd", "dir", "dirzstd"])
def test_flipped_byte_refused_before_anything_changes(postgres, backups, targets, tmp_path, kind):
    archive = _copy_backup(backups[kind], tmp_path)
    _flip({"zstd": archive, "dir": os.path.join(archive, "toc.dat"),
           "dirzstd": _largest_data_file(archive) if kind == "dirzstd" else None}[kind], 100)
    target = targets()
    with pytest.raises(ModuleFailed) as failed:
        _restore(postgres, archive, target)
    assert "checksum verification failed, refusing to restore" in failed.value.result["msg"]
    assert not _exists(postgres, target)
    # The decompressed copy made in the same read as the checksum is gone.
    assert [f for f in os.listdir(os.path.dirname(archive)) if f.startswith(".restore-")] == []
    # Also refused for an existing database with data and force.
    existing = targets()
    create_db(postgres, existing, "CREATE TABLE keep (x int); INSERT INTO keep VALUES (42);")
    with pytest.raises(ModuleFailed):
        _restore(postgres, archive, existing, force=True, swap=True)
    assert postgres.psql("SELECT x FROM keep", database=existing).strip() == "42"


def test_truncated_archive_refused_and_no_temp_file_left(postgres, backups, targets, tmp_path):
    archive = _copy_backup(backups["zstd"], tmp_path)
    size = os.path.getsize(archive)
    with open(archive, "r+b") as handle:
        handle.truncate(size // 2)
    target = targets()
    with pytest.raises(ModuleFailed) as failed:
        _restore(postgres, archive, target)
    msg = failed.value.result["msg"]
    assert "checksum verification failed, refusing to restore" in msg and "manifest says %d" % size in msg, msg
    assert not _exists(postgres, target)
    assert [f for f in os.listdir(os.path.dirname(archive)) if f.startswith(".restore-")] == []


def test_missing_manifest_refused(postgres, backups, targets, tmp_path):
    archive = _copy_backup(backups["zstd"], tmp_path)
    os.unlink(archive + ".manifest.json")
    target = targets()
    with pytest.raises(ModuleFailed) as failed:
        _restore(postgres, archive, target)
    assert "incomplete or missing" in failed.value.result["msg"]
    assert not _exists(postgres, target)


def test_non_empty_target_refused_without_force(postgres, backups, targets):
    target = targets()
    create_db(postgres, target, "CREATE TABLE precious (x int); INSERT INTO precious VALUES (7);")
    # The plan is refused before the archive is decompressed: a work_dir that does not exist
    # is never reached.
    with pytest.raises(ModuleFailed) as failed:
        _restore(postgres, backups["zstd"]["path"], target, work_dir="/nonexistent/rbo-work")
    assert "is not empty" in failed.value.result["msg"] and "force" in failed.value.result["msg"]
    assert postgres.psql("SELECT x FROM precious", database=target).strip() == "7"
    result = _restore(postgres, backups["zstd"]["path"], target, force=True)
    assert result["status"] == "ok"
    assert postgres.psql("SELECT count(*) FROM filings", database=target).strip() == "2000"
    assert postgres.psql("SELECT to_regclass('precious') IS NULL", database=target).strip() == "t"


def test_empty_existing_target(postgres, backups, targets):
    target = targets()
    create_db(postgres, target, "")
    result = _restore(postgres, backups["none"]["path"], target)
    assert result["plan"][0].startswith("restored")
    assert postgres.psql("SELECT count(*) FROM filings", database=target).strip() == "2000"


def test_check_mode_returns_plan_and_changes_nothing(postgres, backups, targets):
    target = targets()
    result = _restore(postgres, backups["zstd"]["path"], target, check_mode=True)
    assert result["changed"] is True
    assert result["plan"] == ["create database %s" % target, "restore into %s" % target,
                              "compare row counts with the manifest"]
    assert not _exists(postgres, target)


def _connect(postgres, database):
    return psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.superuser,
                            password=postgres.password, dbname=database)


def test_swap_in_by_rename(postgres, backups, targets):
    target = targets()
    create_db(postgres, target, "CREATE TABLE old_data (x int); INSERT INTO old_data VALUES (1);")
    writer = _connect(postgres, target)
    try:
        with pytest.raises(ModuleFailed) as failed:
            _restore(postgres, backups["zstd"]["path"], target, swap=True)
        assert "open connection" in failed.value.result["msg"]
        assert postgres.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%s\\_%%'" % target).strip() == "0"
        plan = _restore(postgres, backups["zstd"]["path"], target, swap=True, force=True, check_mode=True)
        assert any(step.startswith("terminate 1 connection") for step in plan["plan"])
        result = _restore(postgres, backups["zstd"]["path"], target, swap=True, force=True)
    finally:
        writer.close()
    assert result["status"] == "ok", result["summary"]
    previous = result["previous_database"]
    assert previous.startswith(target + "_before_")
    assert postgres.psql("SELECT x FROM old_data", database=previous).strip() == "1"
    assert postgres.psql("SELECT count(*) FROM filings", database=target).strip() == "2000"
    assert {c["name"] for c in result["checks"]} >= {"restore.%s.swap" % target}


def test_row_count_mismatch_is_critical_and_blocks_swap(postgres, backups, targets, tmp_path):
    archive = _copy_backup(backups["zstd"], tmp_path)
    manifest = json.loads(open(archive + ".manifest.json").read())
    manifest["row_counts"]["public.filings"] = 1999
    catalog_runner.atomic_write_json(archive + ".manifest.json", manifest)
    target = targets()
    create_db(postgres, target, "CREATE TABLE old_data (x int);")
    result = _restore(postgres, archive, target, swap=True)
    assert result["status"] == "critical"
    checks = {c["name"]: c for c in result["checks"]}
    assert "public.filings has 2000 rows, manifest says 1999" in checks["restore.%s.row_counts" % target]["message"]
    assert checks["restore.%s.swap" % target]["status"] == "critical"
    assert "previous_database" not in result
    assert postgres.psql("SELECT to_regclass('old_data') IS NOT NULL", database=target).strip() == "t"
    assert result["restored_database"].startswith(target + "_restore_")


def test_pg_restore_failure_drops_new_database(postgres, backups, targets, tmp_path):
    archive = _copy_backup(backups["none"], tmp_path)
    with open(archive, "wb") as handle:
        handle.write(b"PGDMP not really an archive")
    manifest = json.loads(open(archive + ".manifest.json").read())
    manifest["sha256"], manifest["size"] = catalog_runner.sha256_file(archive)
    catalog_runner.atomic_write_json(archive + ".manifest.json", manifest)
    target = targets()
    with pytest.raises(ModuleFailed) as failed:
        _restore(postgres, archive, target)
    assert "pg_restore exited with status 1" in failed.value.result["msg"]
    assert not _exists(postgres, target)
    assert postgres.password not in json.dumps(failed.value.result)


@pytest.mark.parametrize("extra, message", [
    ({"jobs": 0}, "jobs must be at least 1"),
    ({"target": "postgres"}, "maintenance database"),
    ({"backup": "/nonexistent/x.dump.zst"}, "does not exist"),
])
def test_bad_input(postgres, backups, extra, message):
    args = dict(postgres.dsn(database="postgres"), backup=backups["zstd"]["path"], target=unique("t"))
    args.update(extra)
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_restore", args)
    assert message in failed.value.result["msg"]


@pytest.mark.parametrize("kind", ["zstd", "dirzstd"])
def test_decompression_into_full_work_dir_fails_cleanly(postgres, backups, targets, tmp_path, kind):
    import subprocess
    import tempfile
    mount = tempfile.mkdtemp(prefix="runbook-ops-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mount], check=True)
    try:
        target = targets()
        with pytest.raises(ModuleFailed) as failed:
            _restore(postgres, backups[kind]["path"], target, work_dir=mount)
        assert "no space left on device" in failed.value.result["msg"]
        assert os.listdir(mount) == []
        assert not _exists(postgres, target)
    finally:
        subprocess.run(["umount", mount], check=False)
        os.rmdir(mount)
    time.sleep(0)


def _frames(path):
    """The number of zstd frames in a file (4-byte magic, then the frame; read by zstd -lv)."""
    import subprocess
    listed = subprocess.run(["zstd", "-lv", path], capture_output=True, text=True, check=True).stdout
    return int(next(line.split(":")[1] for line in listed.splitlines() if line.strip().startswith("# Zstandard Frames")))


def test_single_frame_zstd_archive_restores(postgres, source, backups, targets, tmp_path):
    # An archive written by plain `zstd` (one frame, as before pzstd was preferred) restores like
    # the multi-frame ones pzstd writes.
    import subprocess
    archive = _copy_backup(backups["zstd"], tmp_path)
    raw = subprocess.run(["zstd", "-d", "-c", "-q", archive], capture_output=True, check=True).stdout
    subprocess.run(["zstd", "-q", "-f", "-o", archive], input=raw, check=True)
    assert _frames(archive) == 1
    manifest = json.loads(open(archive + ".manifest.json").read())
    manifest["sha256"], manifest["size"] = catalog_runner.sha256_file(archive)
    with open(archive + ".manifest.json", "w") as handle:
        json.dump(manifest, handle)
    target = targets()
    result = _restore(postgres, archive, target)
    assert result["status"] == "ok", result["summary"]
    assert table_checksums(postgres, target) == table_checksums(postgres, source)


def test_pzstd_archive_restores_where_only_zstd_is_installed(postgres, source, backups, targets, tmp_path,
                                                             monkeypatch):
    import shutil
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    for tool in ("zstd", "gzip", "sh"):
        os.symlink(shutil.which(tool), fakebin / tool)
    expected = table_checksums(postgres, source)
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(fakebin))
    target = targets()
    result = _restore(postgres, backups["zstd"]["path"], target)
    monkeypatch.setenv("PATH", path)
    assert result["status"] == "ok", result["summary"]
    assert table_checksums(postgres, target) == expected


@pytest.mark.parametrize("kind", ["zstd", "dirzstd"])
def test_undecompressable_archive_matching_its_manifest_fails_cleanly(postgres, backups, targets, tmp_path, kind):
    # The checksum matches (the manifest was written for these bytes) but they are not zstd:
    # the decompressor's error is reported, nothing is created, no temp file is left.
    archive = _copy_backup(backups[kind], tmp_path)
    broken = _largest_data_file(archive) if kind == "dirzstd" else archive
    with open(broken, "wb") as handle:
        handle.write(b"not a zstd frame\n" * 1000)
    manifest = json.loads(open(archive + ".manifest.json").read())
    for entry in manifest["files"] or [manifest]:
        if kind == "zstd" or os.path.join(archive, entry["path"]) == broken:
            entry["sha256"], entry["size"] = catalog_runner.sha256_file(broken)
    with open(archive + ".manifest.json", "w") as handle:
        json.dump(manifest, handle)
    target = targets()
    with pytest.raises(ModuleFailed) as failed:
        _restore(postgres, archive, target)
    msg = failed.value.result["msg"]
    expected = "decompressing %s failed" % archive if kind == "zstd" else "decompressing files in"
    assert expected in msg and broken in msg and "exited with status" in msg, msg
    assert "checksum" not in msg
    assert not _exists(postgres, target)
    assert [f for f in os.listdir(os.path.dirname(archive)) if f.startswith(".restore-")] == []
