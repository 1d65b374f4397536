"""Unit tests for plugins/module_utils/backup/catalog_runner.py: checksums, atomic writes, verifying and listing backups on disk."""

from __future__ import annotations

import datetime
import json
import os

from utils.backup_fixtures import sample_manifest

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner


NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)


def test_sha256_file_streams(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 * 1024 + 7))
    digest, size = catalog_runner.sha256_file(str(path), chunk=1024)
    import hashlib
    assert digest == hashlib.sha256(b"x" * (3 * 1024 + 7)).hexdigest()
    assert size == 3 * 1024 + 7


def test_atomic_write_json_leaves_no_temp(tmp_path):
    target = tmp_path / "m.json"
    catalog_runner.atomic_write_json(str(target), {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["m.json"]


def test_verify_archive_custom(tmp_path):
    archive = tmp_path / "a.dump"
    archive.write_bytes(b"hello world")
    digest, size = catalog_runner.sha256_file(str(archive))
    manifest = sample_manifest(NOW, sha256=digest, size=size)
    assert catalog_runner.verify_archive(str(archive), manifest)[0] is True
    archive.write_bytes(b"hello World")
    ok, message = catalog_runner.verify_archive(str(archive), manifest)
    assert not ok and "does not match" in message
    archive.write_bytes(b"hello")
    ok, message = catalog_runner.verify_archive(str(archive), manifest)
    assert not ok and "bytes" in message
    archive.unlink()
    assert catalog_runner.verify_archive(str(archive), manifest) == (False, "archive %s is missing" % archive)


def test_verify_archive_directory(tmp_path):
    root = tmp_path / "d.dir"
    root.mkdir()
    (root / "toc.dat").write_bytes(b"toc")
    (root / "1.dat.gz").write_bytes(b"data")
    manifest = sample_manifest(NOW, format="directory", compression="gzip", sha256=None, files=catalog_runner.hash_tree(str(root)))
    assert catalog_runner.verify_archive(str(root), manifest)[0] is True
    (root / "1.dat.gz").write_bytes(b"dat4")
    ok, message = catalog_runner.verify_archive(str(root), manifest)
    assert not ok and "checksum mismatch in 1.dat.gz" in message
    (root / "1.dat.gz").unlink()
    (root / "2.dat.gz").write_bytes(b"x")
    ok, message = catalog_runner.verify_archive(str(root), manifest)
    assert not ok and "missing 1.dat.gz" in message and "unexpected 2.dat.gz" in message


def test_list_backups_and_check(tmp_path):
    daily = tmp_path / "daily"
    daily.mkdir()
    complete = daily / "db-20261120T000000Z.dump"
    complete.write_bytes(b"abc")
    digest, size = catalog_runner.sha256_file(str(complete))
    catalog_runner.atomic_write_json(catalog_plan.manifest_path(str(complete)), sample_manifest(NOW, sha256=digest, size=size))
    (daily / "db-20261121T000000Z.dump").write_bytes(b"no manifest")
    (daily / "db-20261122T000000Z.dump.partial").write_bytes(b"half")
    (daily / "README").write_text("not a backup")
    (daily / "other-20261122T000000Z.dump").write_bytes(b"x")
    found = catalog_runner.list_backups(str(tmp_path), database="db")
    names = [(b["name"], b["complete"], b["partial"]) for b in found]
    assert names == [
        ("daily/db-20261120T000000Z.dump", True, False),
        ("daily/db-20261121T000000Z.dump", False, False),
        ("daily/db-20261122T000000Z.dump.partial", False, True),
    ]
    assert catalog_runner.check_backup(found[0])["verified"] is True
    assert catalog_runner.check_backup(found[1])["verified"] is False
    assert catalog_runner.list_backups(str(tmp_path / "missing")) == []
    catalog_runner.delete_backup(found[0])
    assert not complete.exists() and not os.path.exists(catalog_plan.manifest_path(str(complete)))
