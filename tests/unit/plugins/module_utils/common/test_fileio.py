"""module_utils/common/fileio.py: atomic writes."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.common import fileio


def test_atomic_write_replaces_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "runbook_ops.prom"
    fileio.atomic_write(str(target), "a 1\n")
    fileio.atomic_write(str(target), "a 2\n")
    assert target.read_text() == "a 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        fileio.atomic_write(str(target), "a 3\n")
    assert target.read_text() == "a 2\n"
    assert os.listdir(tmp_path) == ["runbook_ops.prom"]


def test_atomic_write_mode_none_keeps_0600_and_syncs_the_directory(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(fileio, "fsync_dir", synced.append)
    target = tmp_path / "db.dump.manifest.json"
    fileio.atomic_write(str(target), "{}\n", mode=None, sync_dir=True)
    assert target.read_text() == "{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert synced == [str(tmp_path)]


def test_fsync_dir_of_a_missing_directory_is_quiet(tmp_path):
    fileio.fsync_dir(str(tmp_path / "missing"))
