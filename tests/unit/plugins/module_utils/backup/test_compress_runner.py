"""Unit tests for plugins/module_utils/backup/compress_runner.py: compressor choice and the directory-dump (de)compression."""

from __future__ import annotations

import datetime
import os

import pytest

from utils.backup_fixtures import sample_manifest

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import compress_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import restore_runner


NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)


def test_compressor_prefers_pzstd_and_falls_back_to_zstd(monkeypatch):
    installed = {"pzstd": "/usr/bin/pzstd", "zstd": "/usr/bin/zstd", "gzip": "/bin/gzip"}
    monkeypatch.setattr(compress_runner.shutil, "which", installed.get)
    monkeypatch.setattr(compress_runner, "cpu_count", lambda: 2)
    assert compress_runner.compressor_argv("zstd") == ["/usr/bin/pzstd", "-c", "-q", "-p", "2"]
    assert compress_runner.compressor_argv("zstd", decompress=True) == ["/usr/bin/pzstd", "-d", "-c", "-q", "-p", "2"]
    del installed["pzstd"]
    assert compress_runner.compressor_argv("zstd") == ["/usr/bin/zstd", "-T0", "-q", "-c"]
    assert compress_runner.compressor_argv("zstd", decompress=True) == ["/usr/bin/zstd", "-d", "-c", "-q"]
    assert compress_runner.compressor_argv("gzip", decompress=True) == ["/bin/gzip", "-d", "-c"]
    assert compress_runner.compressor_argv("none") is None
    del installed["zstd"]
    with pytest.raises(catalog_plan.BackupError, match="zstd is not installed"):
        compress_runner.compressor_argv("zstd")


def _directory_dump(root):
    """A directory-format dump's file names: the TOC files and the data files."""
    root.mkdir()
    (root / "toc.dat").write_bytes(b"PGDMP toc")
    (root / "blobs.toc").write_bytes(b"16424 blob_16424.dat\n")
    (root / "3352.dat").write_bytes(b"1\tcompany\n" * 5000)
    (root / "3353.dat").write_bytes(b"")
    (root / "blob_16424.dat").write_bytes(bytes(range(256)) * 4)
    return {name: (root / name).read_bytes() for name in os.listdir(root)}


@pytest.mark.parametrize("big", [compress_runner.BIG_FILE, 1000])  # all in batches; the two data files one by one
def test_compress_data_files_then_decompress_directory(tmp_path, monkeypatch, big):
    monkeypatch.setattr(compress_runner, "BIG_FILE", big)
    original = _directory_dump(tmp_path / "d.dir")
    compress_runner.compress_data_files(str(tmp_path / "d.dir"))
    # The data files are compressed and gone, the TOC files stay as pg_dump wrote them.
    assert sorted(os.listdir(tmp_path / "d.dir")) == [
        "3352.dat.zst", "3353.dat.zst", "blob_16424.dat.zst", "blobs.toc", "toc.dat"]
    assert (tmp_path / "d.dir" / "3352.dat.zst").stat().st_size < len(original["3352.dat"]) // 10
    manifest = sample_manifest(NOW, format="directory", compression="zstd", sha256=None,
                               files=catalog_runner.hash_tree(str(tmp_path / "d.dir")))
    out = tmp_path / "out"
    out.mkdir()
    message = compress_runner.verified_decompress(str(tmp_path / "d.dir"), manifest, str(out))
    assert "sha256 of 5 files matches" in message
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == original


def test_decompress_directory_refuses_a_changed_file_first(tmp_path):
    _directory_dump(tmp_path / "d.dir")
    compress_runner.compress_data_files(str(tmp_path / "d.dir"))
    manifest = sample_manifest(NOW, format="directory", compression="zstd", sha256=None,
                               files=catalog_runner.hash_tree(str(tmp_path / "d.dir")))
    (tmp_path / "d.dir" / "3352.dat.zst").write_bytes(b"not zstd")
    with pytest.raises(catalog_plan.BackupError, match="refusing to restore.*checksum mismatch in 3352.dat.zst"):
        restore_runner.prepare_source(str(tmp_path / "d.dir"), manifest, str(tmp_path))
    # The temp directory is gone.
    assert sorted(os.listdir(tmp_path)) == ["d.dir"]
