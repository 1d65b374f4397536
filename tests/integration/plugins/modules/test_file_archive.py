"""file_archive on real files: live SQLite under writes, exclusions, corruption, a full disk, S3 and retention."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
import uuid

import pytest

from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client

WRITER = r"""
import sqlite3, sys, time
path, mode, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = sqlite3.connect(path, timeout=60, isolation_level=None)
conn.execute("PRAGMA journal_mode=%s" % mode)
print("ready", flush=True)
n = 0
while True:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO events (batch, payload) VALUES (?, ?)",
                     [(n, "filing %d line %d " % (n, i) * 20) for i in range(batch)])
    conn.execute("UPDATE totals SET rows = rows + ?, batches = batches + 1", (batch,))
    conn.execute("COMMIT")
    n += 1
"""


def _tree(root):
    """The seeds' layout in miniature: config, cache, logs and a SQLite database."""
    files = {
        "app/config/settings.yaml": b"database_url: postgresql://app@db/app\nlog_level: INFO\n",
        "app/config/secrets.tmp": b"scratch\n",
        "app/config/nested/limits.json": json.dumps({"rate": [1, 2, 3]}).encode(),
        "cache/finchat_sec_qa/filing-0001.json": os.urandom(20000),
        "cache/finchat_sec_qa/__pycache__/x.pyc": b"compiled",
        "log/finchat/app.log": b"".join(b"2026-11-01 INFO request %d ok\n" % i for i in range(20000)),
        "log/finchat/app.log.1.gz": b"old rotated log",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink("settings.yaml", str(root / "app/config/current.yaml"))
    (root / "app/data").mkdir(parents=True)
    db = sqlite3.connect(str(root / "app/data/finchat.db"))
    db.execute("CREATE TABLE filings (id INTEGER PRIMARY KEY, cik TEXT, body TEXT)")
    db.executemany("INSERT INTO filings (cik, body) VALUES (?, ?)", [("%010d" % i, "10-K text %d" % i) for i in range(500)])
    db.commit()
    db.close()
    return files


def _paths(root):
    return [str(root / "app/config"), str(root / "cache"), str(root / "log/finchat"), str(root / "app/data")]


def _arc(root, rel):
    return os.path.join(str(root), rel).lstrip("/")


def test_archive_writes_tar_zstd_with_per_file_checksums_and_manifest_last(tmp_path):
    src, out = tmp_path / "src", tmp_path / "backups"
    files = _tree(src)
    result = run_module("file_archive", dict(name="finchat-files", paths=_paths(src), backup_dir=str(out),
                                             exclude=["*.tmp", "__pycache__", str(src / "log/finchat") + "/*.gz"]))
    assert result["changed"] is True and result["status"] == "ok"
    path, mpath = result["path"], result["manifest_path"]
    assert path.startswith(str(out / "monthly" / "finchat-files-")) and path.endswith(".tar.zst")
    assert sorted(os.listdir(out / "monthly")) == sorted([os.path.basename(path), os.path.basename(mpath)])
    manifest = json.loads(open(mpath).read())
    assert manifest == result["manifest"]
    assert manifest["format"] == "tar" and manifest["compression"] == "zstd" and manifest["kind"] == "monthly"
    assert manifest["database"] == "finchat-files"
    digest, size = catalog_runner.sha256_file(path)
    assert (manifest["sha256"], manifest["size"]) == (digest, size)
    assert subprocess.run(["zstd", "-t", "-q", path], check=False).returncode == 0
    # What tar itself sees, and the checksum of every file against the source.
    listing = subprocess.run(["tar", "--zstd", "-tf", path], capture_output=True, text=True, check=True).stdout.split()
    members = {m["path"]: m for m in manifest["members"]}
    assert sorted(x.rstrip("/") for x in listing) == sorted(members)
    for rel in ("app/config/settings.yaml", "app/config/nested/limits.json", "cache/finchat_sec_qa/filing-0001.json",
                "log/finchat/app.log"):
        entry = members[_arc(src, rel)]
        assert entry["type"] == "file" and entry["size"] == len(files[rel])
        assert entry["sha256"] == catalog_runner.sha256_file(str(src / rel))[0]
    assert members[_arc(src, "app/config/current.yaml")] == {"path": _arc(src, "app/config/current.yaml"),
                                                             "type": "symlink", "target": "settings.yaml"}
    # Exclusions: by base name, by directory name, by absolute path.
    for rel in ("app/config/secrets.tmp", "cache/finchat_sec_qa/__pycache__", "cache/finchat_sec_qa/__pycache__/x.pyc",
                "log/finchat/app.log.1.gz"):
        assert _arc(src, rel) not in members
    assert {e["glob"] for e in result["excluded"]} == {"*.tmp", "__pycache__", str(src / "log/finchat") + "/*.gz"}
    # The SQLite database went through the backup API.
    assert manifest["sqlite"][0]["path"] == _arc(src, "app/data/finchat.db")
    assert manifest["sqlite"][0]["tables"] == {"filings": 500} and manifest["sqlite"][0]["integrity"] == "ok"
    assert members[_arc(src, "app/data/finchat.db")]["sqlite"] is True
    assert result["metrics"]['backup_files{database="finchat-files",kind="monthly"}'] == 5
    # backup_verify sees it like a database backup, and reads it back as its test restore.
    verify = run_module("backup_verify", dict(backup_dir=str(out), max_age_hours={"monthly": 24 * 31},
                                              test_restore=True))
    assert verify["status"] == "ok", verify["summary"]
    names = {c["name"]: c for c in verify["checks"]}
    assert "backup.finchat-files.monthly.checksum" in names and "backup.finchat-files.restore" in names
    assert "file checksums match" in names["backup.finchat-files.restore"]["message"]


def test_check_mode_lists_members_and_writes_nothing(tmp_path):
    src, out = tmp_path / "src", tmp_path / "backups"
    _tree(src)
    result = run_module("file_archive", dict(paths=_paths(src), backup_dir=str(out), exclude=["*.tmp"]),
                        check_mode=True)
    assert result["changed"] is True
    assert _arc(src, "app/config/settings.yaml") in result["members"]
    assert _arc(src, "app/config/secrets.tmp") not in result["members"]
    assert result["sqlite"] == [str(src / "app/data/finchat.db")]
    assert result["excluded"] == [{"path": str(src / "app/config/secrets.tmp"), "glob": "*.tmp"}]
    assert not out.exists()


@pytest.mark.parametrize("journal_mode", ["WAL", "DELETE"])
def test_sqlite_copy_is_consistent_while_an_app_writes(tmp_path, journal_mode):
    data = tmp_path / "data"
    data.mkdir()
    db_path = str(data / "app.db")
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, batch INTEGER, payload TEXT)")
    db.execute("CREATE TABLE totals (rows INTEGER, batches INTEGER)")
    db.execute("INSERT INTO totals VALUES (0, 0)")
    db.executemany("INSERT INTO events (batch, payload) VALUES (-1, ?)", [("x" * 400,)] * 40000)
    db.execute("UPDATE totals SET rows = 40000")
    db.commit()
    db.close()
    batch = 7
    writer = subprocess.Popen([sys.executable, "-c", WRITER, db_path, journal_mode, str(batch)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        before = _totals(db_path)
        results = [run_module("file_archive", dict(paths=[str(data)], backup_dir=str(tmp_path / "bk"),
                                                   kind="manual", name="app%d" % i, sqlite_timeout=60))
                   for i in range(3)]
        time.sleep(0.3)
        after = _totals(db_path)
    finally:
        writer.kill()
        writer.wait()
    assert after[1] > before[1] + 3, "the writer kept committing during the archive runs"
    for index, result in enumerate(results):
        info = result["manifest"]["sqlite"][0]
        members = [m["path"] for m in result["manifest"]["members"]]
        assert not any(m.endswith(("-wal", "-shm", "-journal")) for m in members)
        dest = tmp_path / ("restored%d" % index)
        run_module("file_archive", dict(state="restored", backup=result["path"], dest=str(dest)))
        copy = sqlite3.connect(str(dest / info["path"]))
        try:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows, batches = copy.execute("SELECT rows, batches FROM totals").fetchone()
            count = copy.execute("SELECT count(*) FROM events").fetchone()[0]
            last = copy.execute("SELECT count(*) FROM events WHERE batch = ?", (batches - 1,)).fetchone()[0]
        finally:
            copy.close()
        # One transaction is all or nothing in the copy: the totals match the rows, the last batch is whole.
        assert count == rows == 40000 + batch * batches
        assert batches == 0 or last == batch
        assert before[1] <= batches <= after[1]
        assert info["tables"] == {"events": count, "totals": 1}


def _totals(path):
    conn = sqlite3.connect(path, timeout=60)
    try:
        return conn.execute("SELECT rows, batches FROM totals").fetchone()
    finally:
        conn.close()


@pytest.mark.parametrize("compression, ext", [("gzip", ".tar.gz"), ("none", ".tar")])
def test_round_trip_restores_identical_files(tmp_path, compression, ext):
    src = tmp_path / "src"
    files = _tree(src)
    os.chmod(str(src / "app/config/settings.yaml"), 0o640)
    made = run_module("file_archive", dict(paths=_paths(src), backup_dir=str(tmp_path / "bk"), compression=compression,
                                           kind="weekly"))
    assert made["path"].endswith(ext)
    dest = tmp_path / "restore"
    result = run_module("file_archive", dict(state="restored", backup=made["manifest_path"], dest=str(dest)))
    assert result["changed"] is True and result["status"] == "ok"
    for rel, data in files.items():
        assert (dest / _arc(src, rel)).read_bytes() == data
    restored = dest / _arc(src, "app/config/settings.yaml")
    assert (os.stat(str(restored)).st_mode & 0o777) == 0o640
    assert int(os.stat(str(restored)).st_mtime) == int(os.stat(str(src / "app/config/settings.yaml")).st_mtime)
    assert os.readlink(str(dest / _arc(src, "app/config/current.yaml"))) == "settings.yaml"
    names = {c["name"]: c for c in result["checks"]}
    assert names["files.files.sqlite.finchat.db"]["status"] == "ok"
    assert result["restored"]["files"] == len(files) + 1
    assert [p for p in os.listdir(str(tmp_path)) if "restore-" in p] == []


def test_restore_refuses_non_empty_dest_without_force_and_merges_with_force(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    made = run_module("file_archive", dict(paths=[str(src / "app/config")], backup_dir=str(tmp_path / "bk")))
    dest = tmp_path / "dest"
    target = dest / _arc(src, "app/config/settings.yaml")
    target.parent.mkdir(parents=True)
    target.write_text("edited by hand\n")
    (dest / "keep.txt").write_text("unrelated")
    with pytest.raises(ModuleFailed, match="not empty .*without force"):
        run_module("file_archive", dict(state="restored", backup=made["path"], dest=str(dest)))
    assert target.read_text() == "edited by hand\n"
    check = run_module("file_archive", dict(state="restored", backup=made["path"], dest=str(dest), force=True),
                       check_mode=True)
    assert check["changed"] is True and target.read_text() == "edited by hand\n"
    run_module("file_archive", dict(state="restored", backup=made["path"], dest=str(dest), force=True))
    assert target.read_bytes() == (src / "app/config/settings.yaml").read_bytes()
    assert (dest / "keep.txt").read_text() == "unrelated"


def test_flipped_byte_is_refused_before_anything_is_touched(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    made = run_module("file_archive", dict(paths=_paths(src), backup_dir=str(tmp_path / "bk")))
    with open(made["path"], "r+b") as handle:
        handle.seek(made["manifest"]["size"] // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))
    dest = tmp_path / "dest"
    with pytest.raises(ModuleFailed, match="checksum verification failed, refusing to restore"):
        run_module("file_archive", dict(state="restored", backup=made["path"], dest=str(dest)))
    assert not dest.exists()
    assert [p for p in os.listdir(str(tmp_path)) if "restore-" in p] == []
    verify = run_module("backup_verify", dict(backup_dir=str(tmp_path / "bk"), max_age_hours={"monthly": 800}))
    assert verify["status"] == "critical"
    assert "does not match the manifest" in verify["summary"]


def test_archive_whose_members_differ_from_the_manifest_is_refused(tmp_path):
    """A symlink member followed by a file 'inside' it must not write outside dest."""
    outside = tmp_path / "outside"
    outside.mkdir()
    kind_dir = tmp_path / "bk" / "manual"
    kind_dir.mkdir(parents=True)
    name = "manual/evil-20261101T000000Z.tar"
    archive = str(tmp_path / "bk" / name)
    payload = b"owned"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("a")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        tar.addfile(link)
        info = tarfile.TarInfo("a/evil")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    digest, size = catalog_runner.sha256_file(archive)
    now = catalog_plan.iso(catalog_runner.utcnow())
    manifest = catalog_plan.build_manifest(
        kind="manual", database="evil", name=name, format="tar", compression="none", size=size, sha256=digest,
        started=now, finished=now,
        members=[{"path": "a", "type": "symlink", "target": str(outside)},
                 {"path": "a/evil", "type": "file", "size": 5, "sha256": hashlib.sha256(payload).hexdigest()}],
        sqlite=[], warnings=[], sources=[], exclude=[])
    catalog_runner.atomic_write_json(catalog_plan.manifest_path(archive), manifest)
    with pytest.raises(ModuleFailed, match="through a symlink outside"):
        run_module("file_archive", dict(state="restored", backup=archive, dest=str(tmp_path / "dest")))
    assert os.listdir(str(outside)) == []
    assert not (tmp_path / "dest").exists()


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "rbbak-" + uuid.uuid4().hex[:8], str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_fails_clearly_and_leaves_no_partial_archive_nor_manifest(tmp_path, small_disk):
    src = tmp_path / "src"
    src.mkdir()
    (src / "cache.bin").write_bytes(os.urandom(4 * 1024 * 1024))  # incompressible, twice the disk
    (small_disk / "monthly").mkdir()
    (small_disk / "monthly" / "older.keep").write_bytes(b"earlier backup")
    for compression in ("zstd", "none"):
        with pytest.raises(ModuleFailed, match="no space left on device") as failed:
            run_module("file_archive", dict(paths=[str(src)], backup_dir=str(small_disk), compression=compression))
        assert "Traceback" not in json.dumps(failed.value.result)
        assert sorted(os.listdir(str(small_disk / "monthly"))) == ["older.keep"]


def test_missing_path_fails_unless_ignored(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    with pytest.raises(ModuleFailed, match="does not exist .*ignore_missing"):
        run_module("file_archive", dict(paths=[str(src / "app/config"), str(tmp_path / "nope")],
                                        backup_dir=str(tmp_path / "bk")))
    assert not (tmp_path / "bk").exists()
    result = run_module("file_archive", dict(paths=[str(src / "app/config"), str(tmp_path / "nope")],
                                             backup_dir=str(tmp_path / "bk"), ignore_missing=True))
    assert result["status"] == "warning"
    assert "nope is missing" in result["summary"]


def test_pg_restore_refuses_a_file_archive(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    made = run_module("file_archive", dict(paths=[str(src / "app/config")], backup_dir=str(tmp_path / "bk")))
    with pytest.raises(ModuleFailed, match="file archive"):
        run_module("pg_restore", dict(backup=made["path"], target="whatever", login_host="127.0.0.1", port=1))


def test_s3_offload_and_retention_handle_file_archives(tmp_path, s3_server):
    src = tmp_path / "src"
    _tree(src)
    out = tmp_path / "bk"
    made = [run_module("file_archive", dict(name="cfg", paths=[str(src / "app/config")], backup_dir=str(out)))]
    # An older archive: renamed to a date two months back, manifest name adjusted.
    old = catalog_runner.utcnow() - datetime.timedelta(days=70)
    older = run_module("file_archive", dict(name="cfg", paths=[str(src / "app/config")], backup_dir=str(out),
                                            kind="old"))
    new_name = "monthly/cfg-%s.tar.zst" % catalog_plan.format_ts(old)
    os.rename(older["path"], str(out / new_name))
    manifest = dict(older["manifest"], name=new_name, kind="monthly")
    catalog_runner.atomic_write_json(str(out / new_name) + catalog_plan.MANIFEST_SUFFIX, manifest)
    os.unlink(older["manifest_path"])
    bucket = "rbbak-" + uuid.uuid4().hex[:10]
    s3 = dict(endpoint_url=s3_server.endpoint_url, access_key=s3_server.access_key,
              secret_key=s3_server.secret_key, bucket=bucket, retries=2)
    s3_client.client(s3).create_bucket(Bucket=bucket)
    for path in (made[0]["path"], str(out / new_name)):
        up = run_module("s3_backup", dict(s3, mode="upload", backup=path, prefix="files"))
        assert up["changed"] is True
    again = run_module("s3_backup", dict(s3, mode="upload", backup=made[0]["path"], prefix="files"))
    assert again["changed"] is False
    down = run_module("s3_backup", dict(s3, mode="download", name=made[0]["name"], prefix="files",
                                        backup_dir=str(tmp_path / "fetched")))
    assert down["changed"] is True
    assert catalog_runner.sha256_file(down["path"])[0] == made[0]["manifest"]["sha256"]
    restored = run_module("file_archive", dict(state="restored", backup=down["path"], dest=str(tmp_path / "r")))
    assert restored["status"] == "ok"
    rules = {"monthly": {"keep_days": 60}}
    for extra, key in (({"backup_dir": str(out)}, "deleted"), ({"s3": dict(s3, prefix="files")}, "s3_deleted")):
        plan = run_module("backup_retention", dict(rules=rules, **extra), check_mode=True)
        assert plan["changed"] is True, plan
        assert plan[key] == [new_name], plan
    assert os.path.exists(str(out / new_name))
