"""Unit tests for plugins/module_utils/backup/catalog_plan.py: names, timestamps, manifests, row-count comparisons."""

from __future__ import annotations

import datetime

import pytest

from utils.backup_fixtures import sample_manifest

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan


NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------------------------
# names and timestamps
# ---------------------------------------------------------------------------------------------

def test_backup_name_layout():
    started = datetime.datetime(2026, 11, 22, 2, 3, 4, tzinfo=datetime.timezone.utc)
    assert catalog_plan.backup_name("daily", "finchat", started, catalog_plan.extension("custom", "zstd")) == \
        "daily/finchat-20261122T020304Z.dump.zst"
    assert catalog_plan.extension("custom", "gzip") == "dump.gz"
    assert catalog_plan.extension("custom", "none") == "dump"
    assert catalog_plan.extension("directory", "gzip") == "dir"
    assert catalog_plan.extension("tar", "zstd") == "tar.zst"
    assert catalog_plan.extension("tar", "gzip") == "tar.gz"
    assert catalog_plan.extension("tar", "none") == "tar"


def test_backup_name_converts_to_utc():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    started = datetime.datetime(2026, 11, 22, 4, 0, 0, tzinfo=tz)
    assert catalog_plan.backup_name("weekly", "db", started, "dump") == "weekly/db-20261122T020000Z.dump"


@pytest.mark.parametrize("bad", ["", "..", "a/b", "x y", "../etc", "a\x00"])
def test_backup_name_rejects_unsafe_parts(bad):
    with pytest.raises(ValueError):
        catalog_plan.backup_name(bad, "db", NOW, "dump")
    with pytest.raises(ValueError):
        catalog_plan.backup_name("daily", bad, NOW, "dump")


def test_extension_rejects_unknown():
    with pytest.raises(ValueError):
        catalog_plan.extension("zip", "zstd")
    with pytest.raises(ValueError):
        catalog_plan.extension("custom", "lz4")


@pytest.mark.parametrize("filename, expected", [
    ("finchat-20261122T020304Z.dump.zst", ("finchat", "dump.zst")),
    ("my-db-20261122T020304Z.dump.gz", ("my-db", "dump.gz")),
    ("db-20261122T020304Z.dir", ("db", "dir")),
    ("db-20261122T020304Z.dump", ("db", "dump")),
    ("finchat-files-20261122T020304Z.tar.zst", ("finchat-files", "tar.zst")),
    ("files-20261122T020304Z.tar.gz", ("files", "tar.gz")),
    ("files-20261122T020304Z.tar", ("files", "tar")),
])
def test_parse_backup_name(filename, expected):
    parsed = catalog_plan.parse_backup_name(filename)
    assert (parsed["database"], parsed["ext"]) == expected
    assert parsed["timestamp"] == datetime.datetime(2026, 11, 22, 2, 3, 4, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("filename", ["notes.txt", "db-2026.dump", "db-20261322T020304Z.dump", "db-20261122T020304Z.tar.xz"])
def test_parse_backup_name_ignores_foreign_files(filename):
    assert catalog_plan.parse_backup_name(filename) is None


def test_iso_round_trip():
    assert catalog_plan.parse_iso(catalog_plan.iso(NOW)) == NOW


# ---------------------------------------------------------------------------------------------
# manifests, checksums, atomic writes
# ---------------------------------------------------------------------------------------------


def test_build_manifest_has_every_key():
    manifest = sample_manifest(NOW)
    assert set(manifest) == set(catalog_plan.MANIFEST_KEYS)
    assert manifest["schema"] == catalog_plan.MANIFEST_SCHEMA
    assert catalog_plan.validate_manifest(manifest) is manifest


def test_build_manifest_rejects_unknown_fields():
    with pytest.raises(ValueError, match="bogus"):
        catalog_plan.build_manifest(bogus=1)


@pytest.mark.parametrize("change, message", [
    ({"schema": "other"}, "schema"),
    ({"sha256": "abc"}, "sha256"),
    ({"size": None}, "size"),
    ({"format": "zip"}, "format"),
    ({"format": "tar"}, "no members"),
    ({"format": "tar", "members": [{"path": "etc/x", "type": "file", "sha256": "b"}]}, "sha256"),
    ({"format": "tar", "members": [{"path": "../x", "type": "dir"}]}, "leaves"),
    ({"format": "tar", "members": [{"path": "/etc/x", "type": "dir"}]}, "leaves"),
    ({"compression": "lz4"}, "compression"),
    ({"database": ""}, "database"),
    ({"row_counts": [1]}, "row_counts"),
    ({"format": "directory", "files": []}, "no files"),
    ({"format": "directory", "files": [{"path": "../x", "sha256": "a" * 64}]}, "leaves"),
])
def test_validate_manifest_errors(change, message):
    manifest = sample_manifest(NOW)
    manifest.update(change)
    with pytest.raises(catalog_plan.BackupError, match=message):
        catalog_plan.validate_manifest(manifest)


def test_file_archive_manifest_keys_only_when_given():
    manifest = sample_manifest(NOW, format="tar", name="monthly/files-20261122T020304Z.tar.zst", row_counts=None,
                               members=[{"path": "etc/app.yml", "type": "file", "size": 3, "sha256": "c" * 64}],
                               sources=["/etc/app.yml"], exclude=[], sqlite=[], warnings=[])
    assert set(manifest) == set(catalog_plan.MANIFEST_KEYS) | set(catalog_plan.FILE_ARCHIVE_KEYS)
    assert catalog_plan.validate_manifest(manifest) is manifest
    assert catalog_plan.single_file(manifest) and catalog_plan.single_file(sample_manifest(NOW)) and not catalog_plan.single_file({"format": "directory"})


def test_validate_manifest_not_a_dict():
    with pytest.raises(catalog_plan.BackupError):
        catalog_plan.validate_manifest([1])


def test_compare_row_counts():
    assert catalog_plan.compare_row_counts({"a": 1}, {"a": 1}) == []
    problems = catalog_plan.compare_row_counts({"a": 1, "b": 2}, {"a": 3, "c": 0})
    assert problems == ["a has 3 rows, manifest says 1", "b missing (expected 2 rows)", "c not in the manifest (0 rows)"]


def test_row_count_check():
    manifest = sample_manifest(NOW, row_counts={"public.t": 3})
    assert catalog_plan.row_count_check("db", manifest, {"public.t": 3})[0] == "ok"
    assert catalog_plan.row_count_check("db", manifest, {"public.t": 2})[0] == "critical"
    manifest["row_count_method"] = "estimate"
    assert catalog_plan.row_count_check("db", manifest, {"public.t": 2})[0] == "ok"


def test_resolve_backup():
    assert catalog_plan.resolve_backup("/b/x.dump.zst") == ("/b/x.dump.zst", "/b/x.dump.zst.manifest.json")
    assert catalog_plan.resolve_backup("/b/x.dir/") == ("/b/x.dir", "/b/x.dir.manifest.json")
    assert catalog_plan.resolve_backup("/b/x.dump.manifest.json") == ("/b/x.dump", "/b/x.dump.manifest.json")
