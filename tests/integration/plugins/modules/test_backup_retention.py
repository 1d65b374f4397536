"""backup_retention on a real backup directory: real pg_backup archives copied to older timestamps."""

from __future__ import annotations

import datetime
import os
import shutil

import pytest

from utils.backup_fixtures import create_db, drop_db, unique
from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner


@pytest.fixture(scope="module")
def real_backup(postgres, tmp_path_factory):
    name = create_db(postgres, unique("ret"), "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100);")
    base = tmp_path_factory.mktemp("src")
    made = run_module("pg_backup", dict(postgres.dsn(database=name), backup_dir=str(base)))
    yield made
    drop_db(postgres, name)


def plant(backup_dir, real, kind, age_days, state="verified", database="app"):
    """Copy a real backup to ``<kind>/<database>-<now - age>.dump.zst`` with the given state."""
    moment = catalog_runner.utcnow() - datetime.timedelta(days=age_days)
    name = catalog_plan.backup_name(kind, database, moment, "dump.zst")
    path = os.path.join(str(backup_dir), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if state == "partial":
        path += catalog_plan.PARTIAL_SUFFIX
        shutil.copy(real["path"], path)
        return kind + "/" + os.path.basename(path)
    shutil.copy(real["path"], path)
    if state != "incomplete":
        manifest = dict(real["manifest"], kind=kind, name=name, database=database)
        catalog_runner.atomic_write_json(catalog_plan.manifest_path(path), manifest)
    if state == "corrupt":
        with open(path, "r+b") as handle:
            handle.seek(50)
            byte = handle.read(1)
            handle.seek(50)
            handle.write(bytes([byte[0] ^ 0xFF]))
    return name


def _files(backup_dir):
    found = []
    for root, _dirs, names in os.walk(str(backup_dir)):
        for name in names:
            found.append(os.path.relpath(os.path.join(root, name), str(backup_dir)))
    return sorted(found)


RULES = {"daily": {"keep_days": 30}, "weekly": {"keep_days": 90}, "monthly": {"keep_count": 2}}


def test_check_mode_lists_then_real_run_deletes(real_backup, tmp_path):
    d_new = plant(tmp_path, real_backup, "daily", 1)
    d_mid = plant(tmp_path, real_backup, "daily", 29)
    d_old = plant(tmp_path, real_backup, "daily", 31)
    w_new = plant(tmp_path, real_backup, "weekly", 80)
    w_old = plant(tmp_path, real_backup, "weekly", 100)
    m = [plant(tmp_path, real_backup, "monthly", age) for age in (10, 40, 70, 101)]
    before = _files(tmp_path)
    args = dict(backup_dir=str(tmp_path), rules=RULES)
    preview = run_module("backup_retention", args, check_mode=True)
    assert preview["changed"] is True
    assert preview["deleted"] == [m[3], w_old, m[2], d_old]
    assert set(preview["kept"]) == {d_new, d_mid, w_new, m[0], m[1]}
    assert _files(tmp_path) == before
    assert preview["diff"]["before"].split() == sorted(preview["kept"] + preview["deleted"],
                                                       key=lambda n: n.split("-", 1)[1])
    assert d_old not in preview["diff"]["after"] and d_new in preview["diff"]["after"]
    checks = {c["name"]: c for c in preview["checks"]}
    assert checks["retention.daily"]["message"] == "kept 2, would delete 1"

    done = run_module("backup_retention", args)
    assert done["changed"] is True and done["deleted"] == preview["deleted"]
    remaining = _files(tmp_path)
    for name in done["deleted"]:
        assert name not in remaining and catalog_plan.manifest_path(name) not in remaining
    for name in done["kept"]:
        assert name in remaining and catalog_plan.manifest_path(name) in remaining
    assert done["metrics"]['backup_retention_deleted{kind="monthly"}'] == 2

    again = run_module("backup_retention", args)
    assert again["changed"] is False and again["deleted"] == []


def test_every_backup_but_the_newest_corrupt(real_backup, tmp_path):
    newest = plant(tmp_path, real_backup, "daily", 0.1)
    corrupt = [plant(tmp_path, real_backup, "daily", age, "corrupt") for age in (1, 2, 35, 50)]
    result = run_module("backup_retention", dict(backup_dir=str(tmp_path), rules=RULES))
    assert set(result["deleted"]) == {corrupt[2], corrupt[3]}
    assert newest in result["kept"] and "never deleted" in result["reasons"][newest]
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["retention.daily.corrupt"]["status"] == "warning"
    assert result["status"] == "warning"


def test_newest_corrupt_keeps_newest_verified(real_backup, tmp_path):
    bad_newest = plant(tmp_path, real_backup, "daily", 0.1, "corrupt")
    good_old = plant(tmp_path, real_backup, "daily", 40)
    older = plant(tmp_path, real_backup, "daily", 45)
    result = run_module("backup_retention", dict(backup_dir=str(tmp_path), rules=RULES))
    assert result["deleted"] == [older]
    assert good_old in result["kept"] and bad_newest in result["kept"]
    assert os.path.exists(os.path.join(str(tmp_path), good_old))
    assert os.path.exists(catalog_plan.manifest_path(os.path.join(str(tmp_path), good_old)))


def test_incomplete_and_partial_leftovers(real_backup, tmp_path):
    newest_incomplete = plant(tmp_path, real_backup, "daily", 0.01, "incomplete")
    complete = plant(tmp_path, real_backup, "daily", 1)
    old_incomplete = plant(tmp_path, real_backup, "daily", 2, "incomplete")
    old_partial = plant(tmp_path, real_backup, "daily", 3, "partial")
    result = run_module("backup_retention", dict(backup_dir=str(tmp_path), rules=RULES))
    assert result["deleted"] == [old_partial, old_incomplete]
    assert set(result["kept"]) == {newest_incomplete, complete}
    assert _files(tmp_path) == sorted([newest_incomplete, complete, catalog_plan.manifest_path(complete)])


def test_without_checksum_verification_corrupt_newest_is_protected(real_backup, tmp_path):
    newest = plant(tmp_path, real_backup, "daily", 40, "corrupt")
    older = plant(tmp_path, real_backup, "daily", 50)
    result = run_module("backup_retention", dict(backup_dir=str(tmp_path), rules=RULES, verify_checksums=False))
    assert result["kept"] == [newest] and result["deleted"] == [older]


def test_database_filter(real_backup, tmp_path):
    plant(tmp_path, real_backup, "daily", 1, database="a")
    old_a = plant(tmp_path, real_backup, "daily", 40, database="a")
    old_b = plant(tmp_path, real_backup, "daily", 40, database="b")
    old_b2 = plant(tmp_path, real_backup, "daily", 41, database="b")
    result = run_module("backup_retention", dict(backup_dir=str(tmp_path), rules=RULES, database="a"))
    assert result["deleted"] == [old_a]
    assert os.path.exists(os.path.join(str(tmp_path), old_b)) and os.path.exists(os.path.join(str(tmp_path), old_b2))


@pytest.mark.parametrize("args, message", [
    ({"rules": {"daily": {"keep_count": 0}}}, "keep_count must be >= 1"),
    ({"rules": {"daily": {"keep": 1}}}, "unknown keys"),
    ({"backup_dir": "/etc/hostname"}, "is not a directory"),
])
def test_bad_input(tmp_path, args, message):
    full = dict(backup_dir=str(tmp_path))
    full.update(args)
    with pytest.raises(ModuleFailed) as failed:
        run_module("backup_retention", full)
    assert message in failed.value.result["msg"]


def test_missing_directory_holds_no_backups(tmp_path):
    result = run_module("backup_retention", dict(backup_dir=str(tmp_path / "not-yet")), check_mode=True)
    assert result["changed"] is False and result["deleted"] == [] and result["status"] == "ok"
    assert "does not exist" in result["checks"][0]["message"]


def _s3_options(server, bucket):
    return dict(bucket=bucket, prefix="pg", endpoint_url=server.endpoint_url, access_key=server.access_key,
                secret_key=server.secret_key, retries=2)


def test_s3_prefix_retention(real_backup, tmp_path, s3_server):
    from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client
    import json

    bucket = "ret-" + unique("b").replace("_", "-")
    options = _s3_options(s3_server, bucket)
    client = s3_client.client(options)
    client.create_bucket(Bucket=bucket)
    names = {
        "newest_corrupt": plant(tmp_path, real_backup, "daily", 0.1),
        "good_old": plant(tmp_path, real_backup, "daily", 40),
        "older": plant(tmp_path, real_backup, "daily", 45),
        "weekly": plant(tmp_path, real_backup, "weekly", 10),
    }
    for name in names.values():
        upload = dict(options, mode="upload", backup=os.path.join(str(tmp_path), name))
        run_module("s3_backup", upload)
    # The newest copy on S3 gets damaged; an upload that never finished has no manifest.
    client.put_object(Bucket=bucket, Key="pg/" + names["newest_corrupt"], Body=b"damaged")
    stale = catalog_plan.backup_name("daily", "app", catalog_runner.utcnow() - datetime.timedelta(days=2), "dump.zst")
    client.put_object(Bucket=bucket, Key="pg/" + stale, Body=b"half an upload")
    args = dict(s3=options, rules=RULES)
    preview = run_module("backup_retention", args, check_mode=True)
    assert preview["s3_deleted"] == [names["older"], stale]
    assert set(preview["s3_kept"]) == {names["newest_corrupt"], names["good_old"], names["weekly"]}
    assert "newest verified" in preview["s3_reasons"][names["good_old"]]
    checks = {c["name"]: c for c in preview["checks"]}
    assert checks["retention.s3.daily.corrupt"]["status"] == "warning"
    assert "s3://%s/pg/%s" % (bucket, names["older"]) in preview["diff"]["before"]
    assert "s3://%s/pg/%s" % (bucket, names["older"]) not in preview["diff"]["after"]
    assert len(client.list_objects_v2(Bucket=bucket)["Contents"]) == 9

    done = run_module("backup_retention", args)
    assert done["changed"] is True and done["s3_deleted"] == preview["s3_deleted"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"pg/" + names[k] + suffix for k in ("newest_corrupt", "good_old", "weekly")
                    for suffix in ("", ".manifest.json")}
    assert s3_server.secret_key not in json.dumps(done)
    again = run_module("backup_retention", args)
    assert again["changed"] is False


def test_needs_a_directory_or_s3():
    with pytest.raises(ModuleFailed) as failed:
        run_module("backup_retention", {})
    assert "one of the following is required: backup_dir, s3" in failed.value.result["msg"]
