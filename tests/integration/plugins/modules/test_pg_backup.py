"""pg_backup against a real PostgreSQL 15, with faults injected (killed pg_dump, failing zstd, full disk)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
import time

import pytest

from utils.backup_fixtures import create_db, drop_db, unique
from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import tool_runner


@pytest.fixture(scope="module")
def source(postgres):
    name = create_db(postgres, unique("src"))
    yield name
    drop_db(postgres, name)


def _args(postgres, database, backup_dir, **extra):
    args = dict(postgres.dsn(database=database), backup_dir=str(backup_dir))
    args.update(extra)
    return args


def _entries(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def _script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_custom_zstd_backup_writes_archive_then_manifest(postgres, source, tmp_path):
    result = run_module("pg_backup", _args(postgres, source, tmp_path, kind="daily"))
    assert result["changed"] is True and result["status"] == "ok"
    path, mpath = result["path"], result["manifest_path"]
    assert path.startswith(str(tmp_path / "daily" / source)) and path.endswith(".dump.zst")
    assert mpath == path + ".manifest.json"
    assert _entries(tmp_path / "daily") == sorted([os.path.basename(path), os.path.basename(mpath)])
    manifest = json.loads(open(mpath).read())
    assert manifest == result["manifest"]
    digest, size = catalog_runner.sha256_file(path)
    assert manifest["sha256"] == digest and manifest["size"] == size
    assert manifest["database"] == source and manifest["kind"] == "daily"
    assert manifest["format"] == "custom" and manifest["compression"] == "zstd"
    assert manifest["server_version"].startswith("15.")
    assert manifest["pg_dump_version"].startswith("pg_dump (PostgreSQL) 15")
    assert manifest["row_counts"] == {"public.Odd Name": 2, "public.docs": 1, "public.filings": 2000,
                                      "reporting.daily": 10}
    assert manifest["row_count_method"] == "exact"
    assert catalog_plan.parse_iso(manifest["finished"]) >= catalog_plan.parse_iso(manifest["started"])
    assert manifest["duration_seconds"] >= 0
    # A valid zstd stream holding a custom-format archive.
    assert subprocess.run(["zstd", "-t", "-q", path], check=False).returncode == 0
    head = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout[:5]
    assert head == b"PGDMP"
    key = 'backup_size_bytes{database="%s",kind="daily"}' % source
    assert result["metrics"][key] == size
    assert postgres.password not in json.dumps(result)


@pytest.mark.parametrize("fmt, compression, ext", [
    ("custom", "gzip", ".dump.gz"),
    ("custom", "none", ".dump"),
    ("directory", None, ".dir"),
    ("directory", "gzip", ".dir"),
    ("directory", "none", ".dir"),
])
def test_other_formats_verify_against_their_manifest(postgres, source, tmp_path, fmt, compression, ext):
    extra = {"format": fmt, "kind": "weekly", "jobs": 2}
    if compression:
        extra["compression"] = compression
    result = run_module("pg_backup", _args(postgres, source, tmp_path, **extra))
    assert result["path"].endswith(ext)
    manifest = catalog_runner.load_manifest(result["manifest_path"])
    assert manifest["compression"] == (compression or "zstd")
    ok, message = catalog_runner.verify_archive(result["path"], manifest)
    assert ok, message
    if fmt == "directory":
        paths = {f["path"] for f in manifest["files"]}
        assert "toc.dat" in paths
        assert manifest["size"] == sum(f["size"] for f in manifest["files"])
        data = {p for p in paths if not p.endswith(".toc") and p != "toc.dat"}
        suffix = {"zstd": ".dat.zst", "gzip": ".dat.gz", "none": ".dat"}[manifest["compression"]]
        assert data and all(p.endswith(suffix) for p in data), paths
        if suffix == ".dat.zst":
            # Each data file (table data, large objects) is a valid zstd stream; no uncompressed
            # copy is left.
            assert any(p.startswith("blob_") for p in data), data
            for name in data:
                assert subprocess.run(["zstd", "-t", "-q", os.path.join(result["path"], name)], check=False).returncode == 0
            assert [n for n in os.listdir(result["path"]) if n.endswith(".dat")] == ["toc.dat"]


def test_estimated_counts(postgres, source, tmp_path):
    postgres.psql("ANALYZE", database=source)
    result = run_module("pg_backup", _args(postgres, source, tmp_path, exact_counts=False))
    assert result["manifest"]["row_count_method"] == "estimate"
    assert result["manifest"]["row_counts"]["public.filings"] == 2000


def test_check_mode_writes_nothing(postgres, source, tmp_path):
    result = run_module("pg_backup", _args(postgres, source, tmp_path / "b"), check_mode=True)
    assert result["changed"] is True
    assert result["path"].startswith(str(tmp_path / "b" / "daily" / source))
    assert "would write" in result["checks"][0]["message"]
    assert not (tmp_path / "b").exists()


def _earlier_backup(postgres, source, backup_dir):
    earlier = run_module("pg_backup", _args(postgres, source, backup_dir))
    time.sleep(1.1)  # backup names have one-second resolution
    return earlier


def _assert_untouched(earlier, backup_dir):
    assert _entries(backup_dir / "daily") == sorted(
        [os.path.basename(earlier["path"]), os.path.basename(earlier["manifest_path"])])
    assert catalog_runner.verify_archive(earlier["path"], catalog_runner.load_manifest(earlier["manifest_path"]))[0]


def test_pg_dump_killed_half_way(postgres, source, tmp_path):
    earlier = _earlier_backup(postgres, source, tmp_path)
    # Writes the start of a real dump, then dies of SIGKILL.
    wrapper = _script(tmp_path, "pg_dump_killed", 'head -c 65536 /dev/urandom\nkill -9 $$\n')
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", _args(postgres, source, tmp_path, pg_dump_path=wrapper))
    assert "pg_dump was killed by signal SIGKILL" in failed.value.result["msg"]
    _assert_untouched(earlier, tmp_path)


def test_pg_dump_failing_after_some_output(postgres, source, tmp_path):
    earlier = _earlier_backup(postgres, source, tmp_path)
    real = tool_runner.find_pg_binary("pg_dump")
    wrapper = _script(tmp_path, "pg_dump_fails",
                      '"%s" "$@" | head -c 4096\necho "pg_dump: error: injected failure" >&2\nexit 3\n' % real)
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", _args(postgres, source, tmp_path, pg_dump_path=wrapper))
    msg = failed.value.result["msg"]
    assert "pg_dump exited with status 3" in msg and "injected failure" in msg
    assert postgres.password not in json.dumps(failed.value.result)
    _assert_untouched(earlier, tmp_path)


@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_zstd_failing(postgres, source, tmp_path, monkeypatch, fmt):
    earlier = _earlier_backup(postgres, source, tmp_path)
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    for name in ("zstd", "pzstd"):  # pzstd is preferred where it is installed
        _script(fakebin, name, 'head -c 100 >/dev/null\necho "zstd: injected error" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", "%s:%s" % (fakebin, os.environ["PATH"]))
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", _args(postgres, source, tmp_path, format=fmt))
    assert "zstd exited with status 1" in failed.value.result["msg"]
    assert "injected error" in failed.value.result["msg"]
    # The directory dump pg_dump wrote before the compressor failed is gone too.
    _assert_untouched(earlier, tmp_path)


def test_directory_format_failing_dump(postgres, source, tmp_path):
    wrapper = _script(tmp_path, "pg_dump_dir", 'while [ "$1" != "-f" ]; do shift; done\nmkdir -p "$2"\n'
                                               'echo partial > "$2/toc.dat"\nexit 1\n')
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", _args(postgres, source, tmp_path, format="directory", pg_dump_path=wrapper))
    assert "pg_dump exited with status 1" in failed.value.result["msg"]
    assert _entries(tmp_path / "daily") == []


@pytest.fixture
def tiny_disk():
    mount = tempfile.mkdtemp(prefix="runbook-ops-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", mount], check=False)
        os.rmdir(mount)


@pytest.mark.parametrize("fmt, rows, step", [
    ("custom", 60000, "writing"),
    ("directory", 60000, "pg_dump"),  # pg_dump itself runs out of space
    ("directory", 10000, "compressing"),  # the dump fits, its compressed copy does not
])
def test_disk_fills_up(postgres, tmp_path, tiny_disk, fmt, rows, step):
    small = create_db(postgres, unique("small"), "CREATE TABLE t (x int); INSERT INTO t VALUES (1);")
    big = create_db(postgres, unique("big"),
                    "CREATE TABLE noise AS SELECT i, md5(random()::text) || md5(random()::text) AS a "
                    "FROM generate_series(1, %d) i;" % rows)
    try:
        from pathlib import Path
        disk = Path(tiny_disk)
        earlier = run_module("pg_backup", _args(postgres, small, disk, format=fmt))
        with pytest.raises(ModuleFailed) as failed:
            run_module("pg_backup", _args(postgres, big, disk, format=fmt))
        assert "no space left on device" in failed.value.result["msg"]
        assert step in failed.value.result["msg"]
        assert _entries(disk / "daily") == sorted(
            [os.path.basename(earlier["path"]), os.path.basename(earlier["manifest_path"])])
        assert catalog_runner.verify_archive(earlier["path"], catalog_runner.load_manifest(earlier["manifest_path"]))[0]
    finally:
        drop_db(postgres, small)
        drop_db(postgres, big)


@pytest.mark.parametrize("extra, message", [
    ({"jobs": 0}, "jobs must be at least 1"),
    ({"kind": "../etc"}, "cannot be used in a backup file name"),
    ({"format": "tar"}, "value of format must be one of"),
    ({"pg_dump_path": "/nonexistent/pg_dump"}, "does not exist or is not executable"),
])
def test_bad_input_fails_clearly(postgres, source, tmp_path, extra, message):
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", _args(postgres, source, tmp_path, **extra))
    assert message in failed.value.result["msg"]
    assert _entries(tmp_path) == []


def test_unreachable_server_and_wrong_password(postgres, source, tmp_path):
    args = _args(postgres, source, tmp_path, login_password="wrong-password-xyz")
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", args)
    assert "authentication failed" in failed.value.result["msg"]
    assert "wrong-password-xyz" not in json.dumps(failed.value.result)
    args = _args(postgres, source, tmp_path, port=1)
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_backup", args)
    assert "connection refused" in failed.value.result["msg"]
    assert _entries(tmp_path / "daily") == []


def test_backup_modules_through_ansible_playbook(postgres, source, tmp_path):
    """pg_backup, backup_verify, pg_restore, backup_retention and file_archive as Ansible runs them
    (AnsiballZ with their module_utils, the argument specs and their rules), on localhost."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    dsn = postgres.dsn(database="postgres")
    target = unique("play")
    files = tmp_path / "files"
    files.mkdir()
    (files / "app.conf").write_text("x = 1\n")
    tasks = [
        {"name": "backup", "runbook.ops.pg_backup": dict(dsn, database=source, backup_dir=str(tmp_path / "b")),
         "register": "dump"},
        {"name": "verify", "runbook.ops.backup_verify": dict(dsn, backup_dir=str(tmp_path / "b"), test_restore=True),
         "register": "verified"},
        {"name": "restore", "runbook.ops.pg_restore": dict(dsn, backup="{{ dump.path }}", target=target),
         "register": "restored"},
        {"name": "retention", "runbook.ops.backup_retention": dict(backup_dir=str(tmp_path / "b")),
         "check_mode": True, "diff": True, "register": "kept"},
        {"name": "archive", "runbook.ops.file_archive": dict(paths=[str(files)], backup_dir=str(tmp_path / "f")),
         "register": "archived"},
        {"name": "unpack", "runbook.ops.file_archive": dict(state="restored", backup="{{ archived.path }}",
                                                            dest=str(tmp_path / "out"))},
        {"name": "results", "ansible.builtin.assert": {"that": [
            "dump is changed", "verified.status == 'ok'", "verified is not changed", "restored.status == 'ok'",
            "kept is not changed", "kept.deleted == []", "archived is changed"]}},
    ]
    playbook = tmp_path / "backup.yml"
    playbook.write_text(json.dumps([{"name": "backup modules", "hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"))
    env.pop("ANSIBLE_CONFIG", None)
    try:
        done = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c",
                               "local", "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                              cwd=str(root), env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
        assert (tmp_path / "out" / str(files).lstrip("/") / "app.conf").read_text() == "x = 1\n"
        if postgres.password:
            assert postgres.password not in done.stdout
    finally:
        drop_db(postgres, target)
