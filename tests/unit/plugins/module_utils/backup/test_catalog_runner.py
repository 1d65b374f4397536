"""Unit tests for plugins/module_utils/backup/catalog_runner.py: names, manifests, retention, restore plans."""

from __future__ import annotations

import datetime
import itertools
import json
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)
RULES = {"daily": {"keep_days": 30}, "weekly": {"keep_days": 90}, "monthly": {"keep_count": 3}}


def make(kind, age_days, state, database="app", index=0):
    """A backup record ``age_days`` old; state is verified, corrupt, unchecked or incomplete."""
    ts = NOW - datetime.timedelta(days=age_days, seconds=index)
    return {
        "name": "%s/%s-%s-%d.dump.zst" % (kind, database, bk.format_ts(ts), index),
        "kind": kind,
        "database": database,
        "timestamp": ts,
        "complete": state != "incomplete",
        "verified": {"verified": True, "corrupt": False, "unchecked": None, "incomplete": False}[state],
    }


# ---------------------------------------------------------------------------------------------
# names and timestamps
# ---------------------------------------------------------------------------------------------

def test_backup_name_layout():
    started = datetime.datetime(2026, 11, 22, 2, 3, 4, tzinfo=datetime.timezone.utc)
    assert bk.backup_name("daily", "finchat", started, bk.extension("custom", "zstd")) == \
        "daily/finchat-20261122T020304Z.dump.zst"
    assert bk.extension("custom", "gzip") == "dump.gz"
    assert bk.extension("custom", "none") == "dump"
    assert bk.extension("directory", "gzip") == "dir"
    assert bk.extension("tar", "zstd") == "tar.zst"
    assert bk.extension("tar", "gzip") == "tar.gz"
    assert bk.extension("tar", "none") == "tar"


def test_backup_name_converts_to_utc():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    started = datetime.datetime(2026, 11, 22, 4, 0, 0, tzinfo=tz)
    assert bk.backup_name("weekly", "db", started, "dump") == "weekly/db-20261122T020000Z.dump"


@pytest.mark.parametrize("bad", ["", "..", "a/b", "x y", "../etc", "a\x00"])
def test_backup_name_rejects_unsafe_parts(bad):
    with pytest.raises(ValueError):
        bk.backup_name(bad, "db", NOW, "dump")
    with pytest.raises(ValueError):
        bk.backup_name("daily", bad, NOW, "dump")


def test_extension_rejects_unknown():
    with pytest.raises(ValueError):
        bk.extension("zip", "zstd")
    with pytest.raises(ValueError):
        bk.extension("custom", "lz4")


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
    parsed = bk.parse_backup_name(filename)
    assert (parsed["database"], parsed["ext"]) == expected
    assert parsed["timestamp"] == datetime.datetime(2026, 11, 22, 2, 3, 4, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("filename", ["notes.txt", "db-2026.dump", "db-20261322T020304Z.dump", "db-20261122T020304Z.tar.xz"])
def test_parse_backup_name_ignores_foreign_files(filename):
    assert bk.parse_backup_name(filename) is None


def test_iso_round_trip():
    assert bk.parse_iso(bk.iso(NOW)) == NOW


# ---------------------------------------------------------------------------------------------
# manifests, checksums, atomic writes
# ---------------------------------------------------------------------------------------------

def _manifest(**over):
    fields = dict(kind="daily", database="db", name="daily/db-20261122T020304Z.dump.zst", format="custom",
                  compression="zstd", size=3, sha256="a" * 64, started=bk.iso(NOW), finished=bk.iso(NOW),
                  duration_seconds=0.1, row_counts={"public.t": 3}, row_count_method="exact")
    fields.update(over)
    return bk.build_manifest(**fields)


def test_build_manifest_has_every_key():
    manifest = _manifest()
    assert set(manifest) == set(bk.MANIFEST_KEYS)
    assert manifest["schema"] == bk.MANIFEST_SCHEMA
    assert bk.validate_manifest(manifest) is manifest


def test_build_manifest_rejects_unknown_fields():
    with pytest.raises(ValueError, match="bogus"):
        bk.build_manifest(bogus=1)


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
    manifest = _manifest()
    manifest.update(change)
    with pytest.raises(bk.BackupError, match=message):
        bk.validate_manifest(manifest)


def test_file_archive_manifest_keys_only_when_given():
    manifest = _manifest(format="tar", name="monthly/files-20261122T020304Z.tar.zst", row_counts=None,
                         members=[{"path": "etc/app.yml", "type": "file", "size": 3, "sha256": "c" * 64}],
                         sources=["/etc/app.yml"], exclude=[], sqlite=[], warnings=[])
    assert set(manifest) == set(bk.MANIFEST_KEYS) | set(bk.FILE_ARCHIVE_KEYS)
    assert bk.validate_manifest(manifest) is manifest
    assert bk.single_file(manifest) and bk.single_file(_manifest()) and not bk.single_file({"format": "directory"})


def test_validate_manifest_not_a_dict():
    with pytest.raises(bk.BackupError):
        bk.validate_manifest([1])


def test_sha256_file_streams(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 * 1024 + 7))
    digest, size = bk.sha256_file(str(path), chunk=1024)
    import hashlib
    assert digest == hashlib.sha256(b"x" * (3 * 1024 + 7)).hexdigest()
    assert size == 3 * 1024 + 7


def test_atomic_write_json_leaves_no_temp(tmp_path):
    target = tmp_path / "m.json"
    bk.atomic_write_json(str(target), {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["m.json"]


def test_verify_archive_custom(tmp_path):
    archive = tmp_path / "a.dump"
    archive.write_bytes(b"hello world")
    digest, size = bk.sha256_file(str(archive))
    manifest = _manifest(sha256=digest, size=size)
    assert bk.verify_archive(str(archive), manifest)[0] is True
    archive.write_bytes(b"hello World")
    ok, message = bk.verify_archive(str(archive), manifest)
    assert not ok and "does not match" in message
    archive.write_bytes(b"hello")
    ok, message = bk.verify_archive(str(archive), manifest)
    assert not ok and "bytes" in message
    archive.unlink()
    assert bk.verify_archive(str(archive), manifest) == (False, "archive %s is missing" % archive)


def test_verify_archive_directory(tmp_path):
    root = tmp_path / "d.dir"
    root.mkdir()
    (root / "toc.dat").write_bytes(b"toc")
    (root / "1.dat.gz").write_bytes(b"data")
    manifest = _manifest(format="directory", compression="gzip", sha256=None, files=bk.hash_tree(str(root)))
    assert bk.verify_archive(str(root), manifest)[0] is True
    (root / "1.dat.gz").write_bytes(b"dat4")
    ok, message = bk.verify_archive(str(root), manifest)
    assert not ok and "checksum mismatch in 1.dat.gz" in message
    (root / "1.dat.gz").unlink()
    (root / "2.dat.gz").write_bytes(b"x")
    ok, message = bk.verify_archive(str(root), manifest)
    assert not ok and "missing 1.dat.gz" in message and "unexpected 2.dat.gz" in message


def test_list_backups_and_check(tmp_path):
    daily = tmp_path / "daily"
    daily.mkdir()
    complete = daily / "db-20261120T000000Z.dump"
    complete.write_bytes(b"abc")
    digest, size = bk.sha256_file(str(complete))
    bk.atomic_write_json(bk.manifest_path(str(complete)), _manifest(sha256=digest, size=size))
    (daily / "db-20261121T000000Z.dump").write_bytes(b"no manifest")
    (daily / "db-20261122T000000Z.dump.partial").write_bytes(b"half")
    (daily / "README").write_text("not a backup")
    (daily / "other-20261122T000000Z.dump").write_bytes(b"x")
    found = bk.list_backups(str(tmp_path), database="db")
    names = [(b["name"], b["complete"], b["partial"]) for b in found]
    assert names == [
        ("daily/db-20261120T000000Z.dump", True, False),
        ("daily/db-20261121T000000Z.dump", False, False),
        ("daily/db-20261122T000000Z.dump.partial", False, True),
    ]
    assert bk.check_backup(found[0])["verified"] is True
    assert bk.check_backup(found[1])["verified"] is False
    assert bk.list_backups(str(tmp_path / "missing")) == []
    bk.delete_backup(found[0])
    assert not complete.exists() and not os.path.exists(bk.manifest_path(str(complete)))


def test_compare_row_counts():
    assert bk.compare_row_counts({"a": 1}, {"a": 1}) == []
    problems = bk.compare_row_counts({"a": 1, "b": 2}, {"a": 3, "c": 0})
    assert problems == ["a has 3 rows, manifest says 1", "b missing (expected 2 rows)", "c not in the manifest (0 rows)"]


def test_row_count_check():
    manifest = _manifest(row_counts={"public.t": 3})
    assert bk.row_count_check("db", manifest, {"public.t": 3})[0] == "ok"
    assert bk.row_count_check("db", manifest, {"public.t": 2})[0] == "critical"
    manifest["row_count_method"] = "estimate"
    assert bk.row_count_check("db", manifest, {"public.t": 2})[0] == "ok"


def test_libpq_env_carries_password_only_in_env():
    env = bk.libpq_env({"login_host": "db", "port": 5433, "login_user": "u", "login_password": "s3cret",
                        "ssl_mode": "require", "ca_cert": "/ca.pem", "connect_timeout": 5},
                       base={"PATH": "/bin", "PGPASSWORD": "old", "PGSERVICE": "x"})
    assert env == {"PATH": "/bin", "PGHOST": "db", "PGPORT": "5433", "PGUSER": "u", "PGPASSWORD": "s3cret",
                   "PGSSLMODE": "require", "PGSSLROOTCERT": "/ca.pem", "PGCONNECT_TIMEOUT": "5",
                   "PGAPPNAME": "runbook.ops"}
    argv = bk.dump_argv("/usr/bin/pg_dump", {"login_password": "s3cret"}, "db", "custom", 1, "zstd", "snap", None)
    assert "s3cret" not in " ".join(argv)
    assert argv[-2:] == ["-d", "dbname='db'"]


def test_conninfo_dbname_quotes():
    assert bk.conninfo_dbname("it's\\x") == "dbname='it\\'s\\\\x'"


# ---------------------------------------------------------------------------------------------
# retention
# ---------------------------------------------------------------------------------------------

def test_normalize_rules_defaults_and_errors():
    assert bk.normalize_rules(None)["daily"] == {"keep_days": 30.0, "keep_count": None}
    with pytest.raises(ValueError, match="unknown keys"):
        bk.normalize_rules({"daily": {"keep": 3}})
    with pytest.raises(ValueError, match="keep_count"):
        bk.normalize_rules({"daily": {"keep_count": 0}})
    with pytest.raises(ValueError, match="numbers"):
        bk.normalize_rules({"daily": {"keep_days": "soon"}})
    with pytest.raises(ValueError, match="mapping"):
        bk.normalize_rules({"daily": 3})
    with pytest.raises(ValueError):
        bk.normalize_rules({"../x": {}})


def test_daily_keeps_30_days():
    backups = [make("daily", age, "verified", index=i) for i, age in enumerate([0.5, 10, 29.9, 30.1, 60])]
    keep, delete, reasons = bk.plan_retention(backups, RULES, NOW)
    assert delete == [backups[4]["name"], backups[3]["name"]]
    assert set(keep) == {b["name"] for b in backups[:3]}
    assert "keep 30 days" in reasons[backups[3]["name"]]


def test_weekly_keeps_90_days_and_monthly_by_count():
    weekly = [make("weekly", age, "verified", index=i) for i, age in enumerate([7, 80, 91, 200])]
    monthly = [make("monthly", age, "verified", index=i) for i, age in enumerate([30, 60, 90, 120, 900])]
    keep, delete, reasons = bk.plan_retention(weekly + monthly, RULES, NOW)
    assert set(delete) == {weekly[2]["name"], weekly[3]["name"], monthly[3]["name"], monthly[4]["name"]}
    assert "number 4 of monthly (keep 3)" in reasons[monthly[3]["name"]]


def test_every_backup_but_the_newest_corrupt():
    backups = [make("daily", 0.2, "verified", index=0)] + [make("daily", age, "corrupt", index=i)
                                                           for i, age in enumerate([1, 2, 40, 50], 1)]
    keep, delete, reasons = bk.plan_retention(backups, RULES, NOW)
    assert backups[0]["name"] in keep
    assert "never deleted" in reasons[backups[0]["name"]]
    assert set(delete) == {backups[3]["name"], backups[4]["name"]}
    assert "CORRUPT" in reasons[backups[3]["name"]]


def test_newest_corrupt_keeps_newest_verified_even_when_expired():
    backups = [make("daily", 1, "corrupt", index=0), make("daily", 45, "verified", index=1),
               make("daily", 60, "verified", index=2)]
    keep, delete, reasons = bk.plan_retention(backups, RULES, NOW)
    assert backups[1]["name"] in keep, reasons
    assert delete == [backups[2]["name"]]
    assert "newest verified" in reasons[backups[1]["name"]]


def test_newest_corrupt_with_count_rule():
    backups = [make("monthly", 1, "corrupt", index=0), make("monthly", 31, "corrupt", index=1),
               make("monthly", 62, "corrupt", index=2), make("monthly", 93, "verified", index=3),
               make("monthly", 124, "verified", index=4)]
    keep, delete, _reasons = bk.plan_retention(backups, RULES, NOW)
    assert backups[3]["name"] in keep
    assert delete == [backups[4]["name"]]


def test_all_expired_keeps_newest_verified():
    backups = [make("daily", age, "verified", index=i) for i, age in enumerate([40, 50, 60])]
    keep, delete, _reasons = bk.plan_retention(backups, RULES, NOW)
    assert keep == [backups[0]["name"]]


def test_all_corrupt_are_deleted_by_rules():
    backups = [make("daily", age, "corrupt", index=i) for i, age in enumerate([1, 40])]
    keep, delete, _reasons = bk.plan_retention(backups, RULES, NOW)
    assert keep == [backups[0]["name"]] and delete == [backups[1]["name"]]


def test_incomplete_backups():
    backups = [make("daily", 0.01, "incomplete", index=0), make("daily", 1, "verified", index=1),
               make("daily", 2, "incomplete", index=2), make("daily", 3, "verified", index=3)]
    keep, delete, reasons = bk.plan_retention(backups, RULES, NOW)
    assert delete == [backups[2]["name"]]
    assert "may be in progress" in reasons[backups[0]["name"]]


def test_only_incomplete_are_kept():
    backups = [make("daily", age, "incomplete", index=i) for i, age in enumerate([1, 100])]
    keep, delete, _reasons = bk.plan_retention(backups, RULES, NOW)
    assert delete == [] and len(keep) == 2


def test_kind_without_rule_is_kept():
    backups = [make("manual", 1000, "verified", index=0), make("manual", 2000, "corrupt", index=1)]
    keep, delete, reasons = bk.plan_retention(backups, RULES, NOW)
    assert delete == []
    assert "no retention rule" in reasons[backups[1]["name"]]


def test_groups_are_per_database():
    backups = [make("daily", 40, "verified", database="a"), make("daily", 50, "verified", database="b"),
               make("daily", 60, "verified", database="b", index=1)]
    keep, delete, _reasons = bk.plan_retention(backups, RULES, NOW)
    assert set(keep) == {backups[0]["name"], backups[1]["name"]}
    assert delete == [backups[2]["name"]]


def test_both_rules_apply():
    rules = {"daily": {"keep_days": 30, "keep_count": 2}}
    backups = [make("daily", age, "verified", index=i) for i, age in enumerate([1, 2, 3, 40])]
    keep, delete, reasons = bk.plan_retention(backups, rules, NOW)
    assert set(delete) == {backups[2]["name"], backups[3]["name"]}
    assert "keep 30 days" in reasons[backups[3]["name"]] and "keep 2" in reasons[backups[3]["name"]]


def _oracle(group, rule):
    """The retention rules restated independently for one (kind, database) group."""
    complete = sorted((b for b in group if b["complete"]), key=lambda b: b["timestamp"], reverse=True)
    protected = next((b for b in complete if b["verified"] is True), None) or \
        next((b for b in complete if b["verified"] is None), None)
    expected = {}
    for b in group:
        if not b["complete"]:
            expected[b["name"]] = any(c["timestamp"] > b["timestamp"] for c in complete)
            continue
        if protected is not None and b["name"] == protected["name"]:
            expected[b["name"]] = False
            continue
        if rule is None:
            expected[b["name"]] = False
            continue
        age = (NOW - b["timestamp"]).total_seconds() / 86400
        rank = complete.index(b) + 1
        expected[b["name"]] = bool((rule.get("keep_days") is not None and age > rule["keep_days"])
                                   or (rule.get("keep_count") is not None and rank > rule["keep_count"]))
    return expected


STATES = ("verified", "corrupt", "unchecked", "incomplete")
AGES = (0.5, 20, 45, 100, 400)


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly", "manual"])
def test_retention_matrix(kind):
    """Every combination of three backups' ages and states, for every kind."""
    options = list(itertools.product(AGES, STATES))
    for combo in itertools.product(options, repeat=3):
        group = [make(kind, age, state, index=i) for i, (age, state) in enumerate(combo)]
        keep, delete, reasons = bk.plan_retention(group, RULES, NOW)
        names = {b["name"] for b in group}
        assert set(keep) | set(delete) == names and not set(keep) & set(delete)
        assert set(reasons) == names
        expected = _oracle(group, RULES.get(kind))
        assert {n for n, d in expected.items() if d} == set(delete), combo
        verified = [b for b in group if b["verified"] is True]
        if verified:
            newest = max(verified, key=lambda b: b["timestamp"])
            assert newest["name"] in keep, combo


def test_retention_matrix_mixed_kinds():
    """Kinds never influence each other: planning together equals planning separately."""
    for daily_state, weekly_state, monthly_state in itertools.product(STATES, repeat=3):
        backups = []
        for kind, state in (("daily", daily_state), ("weekly", weekly_state), ("monthly", monthly_state)):
            backups += [make(kind, age, state if i == 0 else "verified", index=i) for i, age in enumerate(AGES)]
        keep, delete, _reasons = bk.plan_retention(backups, RULES, NOW)
        for kind in ("daily", "weekly", "monthly"):
            part = [b for b in backups if b["kind"] == kind]
            pk, pd, _reasons = bk.plan_retention(part, RULES, NOW)
            assert set(pk) <= set(keep) and set(pd) <= set(delete)


def test_freshness_and_newest_complete():
    backups = [make("daily", 2, "verified", index=0), make("daily", 1, "incomplete", index=1),
               make("weekly", 3, "corrupt", index=2)]
    newest = bk.newest_complete(backups)
    assert newest[("daily", "app")]["name"] == backups[0]["name"]
    assert newest[("weekly", "app")]["name"] == backups[2]["name"]
    assert bk.freshness(None, NOW) is None
    assert bk.freshness(NOW - datetime.timedelta(hours=3), NOW) == 3 * 3600


# ---------------------------------------------------------------------------------------------
# restore plans
# ---------------------------------------------------------------------------------------------

def test_plan_restore_new_database():
    plan = bk.plan_restore("app", False, 0, 0, swap=False, force=False, stamp="S")
    assert plan["refused"] is None and plan["create"] and plan["restore_into"] == "app"


def test_plan_restore_empty_existing():
    plan = bk.plan_restore("app", True, 0, 0, swap=False, force=False, stamp="S")
    assert plan["refused"] is None and not plan["create"]


def test_plan_restore_refuses_non_empty_without_force():
    plan = bk.plan_restore("app", True, 5, 0, swap=False, force=False, stamp="S")
    assert "not empty" in plan["refused"]
    forced = bk.plan_restore("app", True, 5, 0, swap=False, force=True, stamp="S")
    assert forced["refused"] is None and forced["drop_first"]


def test_plan_restore_swap():
    plan = bk.plan_restore("app", True, 5, 0, swap=True, force=False, stamp="20261122T000000Z")
    assert plan["restore_into"] == "app_restore_20261122T000000Z"
    assert plan["rename_old_to"] == "app_before_20261122T000000Z"
    busy = bk.plan_restore("app", True, 5, 2, swap=True, force=False, stamp="S")
    assert "2 open connection" in busy["refused"]
    forced = bk.plan_restore("app", True, 5, 2, swap=True, force=True, stamp="S")
    assert forced["terminate"] and forced["refused"] is None


def test_plan_restore_name_limits():
    assert bk.plan_restore("x" * 64, False, 0, 0, False, False, "S")["refused"]
    assert "too long" in bk.plan_restore("x" * 50, False, 0, 0, True, False, "20261122T000000Z")["refused"]


def test_scratch_name_fits():
    name = bk.scratch_name("d" * 80, "20261122T000000Z")
    assert len(name) <= 63 and name.endswith("_verify_20261122t000000z")


def test_resolve_backup():
    assert bk.resolve_backup("/b/x.dump.zst") == ("/b/x.dump.zst", "/b/x.dump.zst.manifest.json")
    assert bk.resolve_backup("/b/x.dir/") == ("/b/x.dir", "/b/x.dir.manifest.json")
    assert bk.resolve_backup("/b/x.dump.manifest.json") == ("/b/x.dump", "/b/x.dump.manifest.json")


def test_compressor_prefers_pzstd_and_falls_back_to_zstd(monkeypatch):
    installed = {"pzstd": "/usr/bin/pzstd", "zstd": "/usr/bin/zstd", "gzip": "/bin/gzip"}
    monkeypatch.setattr(bk.shutil, "which", installed.get)
    monkeypatch.setattr(bk, "_cpus", lambda: 2)
    assert bk.compressor_argv("zstd") == ["/usr/bin/pzstd", "-c", "-q", "-p", "2"]
    assert bk.compressor_argv("zstd", decompress=True) == ["/usr/bin/pzstd", "-d", "-c", "-q", "-p", "2"]
    del installed["pzstd"]
    assert bk.compressor_argv("zstd") == ["/usr/bin/zstd", "-T0", "-q", "-c"]
    assert bk.compressor_argv("zstd", decompress=True) == ["/usr/bin/zstd", "-d", "-c", "-q"]
    assert bk.compressor_argv("gzip", decompress=True) == ["/bin/gzip", "-d", "-c"]
    assert bk.compressor_argv("none") is None
    del installed["zstd"]
    with pytest.raises(bk.BackupError, match="zstd is not installed"):
        bk.compressor_argv("zstd")


@pytest.mark.parametrize("fmt, compression, expected", [
    ("custom", "zstd", True), ("custom", "gzip", True), ("custom", "none", False),
    ("directory", "zstd", True), ("directory", "gzip", False), ("directory", "none", False),
    ("tar", "zstd", False),
])
def test_needs_decompression(fmt, compression, expected):
    assert bk.needs_decompression({"format": fmt, "compression": compression}) is expected


def _directory_dump(root):
    """A directory-format dump's file names: the TOC files and the data files."""
    root.mkdir()
    (root / "toc.dat").write_bytes(b"PGDMP toc")
    (root / "blobs.toc").write_bytes(b"16424 blob_16424.dat\n")
    (root / "3352.dat").write_bytes(b"1\tcompany\n" * 5000)
    (root / "3353.dat").write_bytes(b"")
    (root / "blob_16424.dat").write_bytes(bytes(range(256)) * 4)
    return {name: (root / name).read_bytes() for name in os.listdir(root)}


@pytest.mark.parametrize("big", [bk.BIG_FILE, 1000])  # all in batches; the two data files one by one
def test_compress_data_files_then_decompress_directory(tmp_path, monkeypatch, big):
    monkeypatch.setattr(bk, "BIG_FILE", big)
    original = _directory_dump(tmp_path / "d.dir")
    bk.compress_data_files(str(tmp_path / "d.dir"))
    # The data files are compressed and gone, the TOC files stay as pg_dump wrote them.
    assert sorted(os.listdir(tmp_path / "d.dir")) == [
        "3352.dat.zst", "3353.dat.zst", "blob_16424.dat.zst", "blobs.toc", "toc.dat"]
    assert (tmp_path / "d.dir" / "3352.dat.zst").stat().st_size < len(original["3352.dat"]) // 10
    manifest = _manifest(format="directory", compression="zstd", sha256=None,
                         files=bk.hash_tree(str(tmp_path / "d.dir")))
    out = tmp_path / "out"
    out.mkdir()
    message = bk.verified_decompress(str(tmp_path / "d.dir"), manifest, str(out))
    assert "sha256 of 5 files matches" in message
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == original


def test_decompress_directory_refuses_a_changed_file_first(tmp_path):
    _directory_dump(tmp_path / "d.dir")
    bk.compress_data_files(str(tmp_path / "d.dir"))
    manifest = _manifest(format="directory", compression="zstd", sha256=None,
                         files=bk.hash_tree(str(tmp_path / "d.dir")))
    (tmp_path / "d.dir" / "3352.dat.zst").write_bytes(b"not zstd")
    with pytest.raises(bk.BackupError, match="refusing to restore.*checksum mismatch in 3352.dat.zst"):
        bk.prepare_source(str(tmp_path / "d.dir"), manifest, str(tmp_path))
    # The temp directory is gone.
    assert sorted(os.listdir(tmp_path)) == ["d.dir"]
