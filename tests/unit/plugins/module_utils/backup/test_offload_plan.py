"""Unit tests for plugins/module_utils/backup/offload_plan.py: S3 keys of a backup, the catalog from a listing."""

from __future__ import annotations

import datetime

from ansible_collections.runbook.ops.plugins.module_utils.backup import offload_plan


def test_keys_and_same_backup():
    custom = {"name": "daily/db-20261122T000000Z.dump.zst", "format": "custom", "sha256": "a" * 64, "size": 3}
    assert offload_plan.archive_keys("pg/", custom) == [("pg/daily/db-20261122T000000Z.dump.zst", "", "a" * 64)]
    assert offload_plan.archive_keys("", custom)[0][0] == "daily/db-20261122T000000Z.dump.zst"
    directory = {"name": "weekly/db-20261122T000000Z.dir", "format": "directory",
                 "files": [{"path": "toc.dat", "sha256": "b" * 64, "size": 1}]}
    assert offload_plan.archive_keys("x/y", directory) == [("x/y/weekly/db-20261122T000000Z.dir/toc.dat", "toc.dat", "b" * 64)]
    assert offload_plan.same_backup(custom, dict(custom))
    assert not offload_plan.same_backup(custom, dict(custom, sha256="c" * 64))
    assert not offload_plan.same_backup(custom, directory)
    assert offload_plan.same_backup(directory, dict(directory))


def test_catalog_from_keys_and_object_problems():
    listing = [{"key": "pg/daily/db-20261122T000000Z.dump.zst", "size": 3},
               {"key": "pg/daily/db-20261122T000000Z.dump.zst.manifest.json", "size": 900},
               {"key": "pg/daily/db-20261121T000000Z.dump.zst", "size": 5},
               {"key": "pg/daily/other-20261121T000000Z.dump.zst", "size": 5},
               {"key": "pg/notes.txt", "size": 1}]
    found = offload_plan.catalog_from_keys(listing, "pg/", database="db")
    assert [e["name"] for e in found] == ["daily/db-20261121T000000Z.dump.zst", "daily/db-20261122T000000Z.dump.zst"]
    incomplete, complete = found
    assert not incomplete["complete"] and complete["complete"]
    assert complete["timestamp"] == datetime.datetime(2026, 11, 22, tzinfo=datetime.timezone.utc)
    assert complete["manifest_key"] == "pg/daily/db-20261122T000000Z.dump.zst.manifest.json"
    manifest = {"name": complete["name"], "format": "custom", "sha256": "a" * 64, "size": 3}
    key = "pg/daily/db-20261122T000000Z.dump.zst"
    assert offload_plan.object_problems(complete, manifest, {key: "a" * 64}) == []
    assert "sha256 metadata" in offload_plan.object_problems(complete, manifest, {key: "b" * 64})[0]
    assert "is 3 bytes, manifest says 4" in offload_plan.object_problems(complete, dict(manifest, size=4), {})[0]


def test_safe_name():
    assert offload_plan.safe_name("/daily/x.dump/") == "daily/x.dump"
    for bad in ("", "/", "daily/../x"):
        try:
            offload_plan.safe_name(bad)
        except ValueError as exc:
            assert "relative to the backup directory" in str(exc)
        else:
            raise AssertionError(bad)
