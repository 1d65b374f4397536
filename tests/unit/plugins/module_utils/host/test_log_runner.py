"""log_check's runner: reading files backwards, rotated siblings, unreadable and truncated files."""

from __future__ import annotations

import calendar
import io
import os
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.host import log_plan, log_runner

NOW = float(calendar.timegm((2026, 11, 22, 12, 0, 0, 0, 0, 0)))


def patterns(*specs):
    return log_plan.normalize_patterns([{"name": n, "regex": r, "warning": w, "critical": c} for n, r, w, c in specs], "t")


def _iso(seconds_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


class CountingReader(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


@pytest.mark.parametrize("block_size", [1, 3, 7, 64, 65536])
def test_iter_reverse_lines(block_size):
    data = "first\r\nsecond\n\nthird ü\nlast".encode()
    lines = list(log_runner.iter_reverse_lines(io.BytesIO(data), len(data), block_size=block_size))
    assert lines == ["last", "third ü", "", "second", "first"]
    with_newline = data + b"\n"
    assert list(log_runner.iter_reverse_lines(io.BytesIO(with_newline), len(with_newline), block_size=block_size)) == lines
    assert list(log_runner.iter_reverse_lines(io.BytesIO(b""), 0, block_size=block_size)) == []


def test_iter_reverse_lines_max_bytes_drops_the_cut_line():
    data = b"aaaa\nbbbb\ncccc\n"
    assert list(log_runner.iter_reverse_lines(io.BytesIO(data), len(data), max_bytes=8, block_size=3)) == ["cccc"]


def test_backwards_read_touches_only_the_end_of_a_big_log():
    old = (_iso(10 * 86400) + " ERROR old " + "x" * 100 + "\n").encode() * 50000  # about 6 MB
    recent = "".join(_iso(60 - i) + " ERROR recent\n" for i in range(3)).encode()
    handle = CountingReader(old + recent)
    tally = log_plan.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    log_plan.scan_reverse(log_runner.iter_reverse_lines(handle, len(old + recent)), tally, NOW - 86400, NOW)
    assert tally.counts == {"error": 3}
    assert handle.bytes_read <= 2 * log_runner.BLOCK_SIZE


def test_rotated_siblings_stop_at_old_or_missing():
    files = {"/l/a.log.1": NOW - 100, "/l/a.log.2.gz": NOW - 5000, "/l/a.log.3.gz": NOW - 90000,
             "/l/a.log.4.gz": NOW - 100000}
    found = log_runner.rotated_siblings("/l/a.log", NOW - 3600 * 2, files.__contains__, files.__getitem__)
    assert found == ["/l/a.log.1", "/l/a.log.2.gz"]
    assert log_runner.rotated_siblings("/l/b.log", NOW, files.__contains__, files.__getitem__) == []


def test_scan_file_unreadable_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "app.log"
    path.write_text(_iso(1) + " ERROR x\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(log_plan.LogScanError, match="cannot read log file .*app.log: Permission denied"):
        log_runner.scan_file(str(path), patterns(("error", "ERROR", None, None)), time.time() - 3600, time.time(), 5)


def test_scan_file_max_bytes_marks_truncation(tmp_path):
    path = tmp_path / "app.log"
    now = time.time()
    path.write_text("".join(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)) + " ERROR %05d\n" % i
                            for i in range(1000)))
    info = log_runner.scan_file(str(path), patterns(("error", "ERROR", None, None)), now - 3600, now, 2, max_bytes=1000)
    assert info["truncated"] is True
    assert 0 < info["counts"]["error"] < 1000
    target = {"name": "app", "since_hours": 1.0, "missing": "warning", "path": str(path),
              "patterns": patterns(("error", "ERROR", None, None))}
    checks, _rest = log_plan.evaluate_target(target, [info], 2, {})
    assert "read only the last part of" in checks[0]["message"]
    full = log_runner.scan_file(str(path), patterns(("error", "ERROR", None, None)), now - 3600, now, 2)
    assert full["counts"]["error"] == 1000 and full["truncated"] is False
    assert os.path.getsize(path) > 1000
