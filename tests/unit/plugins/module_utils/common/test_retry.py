"""Retries with exponential backoff."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.common.retry import backoff_delays, retry_call


def test_backoff_doubles_and_caps():
    assert backoff_delays(1, 0.5) == []
    assert backoff_delays(4, 0.5) == [0.5, 1.0, 2.0]
    assert backoff_delays(4, 10, cap=15) == [10, 15, 15]


def test_retry_succeeds_after_failures_and_sleeps_between():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("refused")
        return "up"

    assert retry_call(flaky, attempts=3, backoff=0.1, sleep=sleeps.append) == "up"
    assert len(calls) == 3 and sleeps == [0.1, 0.2]


def test_retry_reraises_last_error_and_ignores_other_exceptions():
    def down():
        raise OSError("down")

    with pytest.raises(OSError):
        retry_call(down, attempts=2, backoff=0, sleep=lambda s: None)
    calls = []

    def wrong():
        calls.append(1)
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        retry_call(wrong, attempts=5, retry_on=(OSError,), sleep=lambda s: None)
    assert len(calls) == 1
