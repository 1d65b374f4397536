"""The one wait helper: bounded, and run here on a fake clock that never sleeps."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.common.waiting import clock, wait_for


class FakeTime:
    """``now`` and ``sleep`` for the helpers; ``cost`` seconds pass on every probe."""

    def __init__(self):
        self.t = 100.0
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def test_clock_yields_at_once_then_each_interval_and_stops_at_the_deadline():
    fake = FakeTime()
    ticks = list(clock(1.0, 0.3, now=fake.now, sleep=fake.sleep))
    assert ticks[0] == 0.0
    assert [round(t, 6) for t in ticks] == [0.0, 0.3, 0.6, 0.9, 1.0]
    # the last pause is cut to the deadline, never past it
    assert round(fake.sleeps[-1], 6) == 0.1


def test_clock_with_zero_timeout_yields_once():
    fake = FakeTime()
    assert list(clock(0, 1.0, now=fake.now, sleep=fake.sleep)) == [0.0]
    assert fake.sleeps == []


def test_clock_takes_a_function_for_a_changing_pace():
    fake = FakeTime()
    paces = iter([0.5, 0.1, 0.1, 5.0])
    ticks = list(clock(1.0, lambda: next(paces), now=fake.now, sleep=fake.sleep))
    assert [round(t, 6) for t in ticks] == [0.0, 0.5, 0.6, 0.7, 1.0]


def test_clock_counts_time_spent_by_the_caller():
    fake = FakeTime()
    seen = []
    for elapsed in clock(2.0, 0.5, now=fake.now, sleep=fake.sleep):
        seen.append(round(elapsed, 6))
        fake.t += 0.7  # a slow probe
    assert seen == [0.0, 1.2, 2.0]


def test_wait_for_returns_as_soon_as_the_predicate_holds():
    fake = FakeTime()
    values = iter(["starting", "starting", "healthy", "never read"])

    def healthy(status):
        return status == "healthy"

    outcome = wait_for(lambda: next(values), healthy, timeout=10, interval=1, now=fake.now, sleep=fake.sleep)
    assert outcome.done is True
    assert outcome.value == "healthy"
    assert outcome.attempts == 3
    assert outcome.elapsed == 2.0


def test_wait_for_times_out_with_the_last_value():
    fake = FakeTime()
    count = [0]

    def probe():
        count[0] += 1
        return count[0]

    outcome = wait_for(probe, lambda value: False, timeout=3, interval=1, now=fake.now, sleep=fake.sleep)
    assert outcome.done is False
    assert outcome.value == 4 and outcome.attempts == 4
    assert outcome.elapsed == 3.0


def test_wait_for_lets_probe_errors_through():
    fake = FakeTime()

    def probe():
        raise OSError("boom")

    try:
        wait_for(probe, bool, timeout=3, interval=1, now=fake.now, sleep=fake.sleep)
    except OSError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the probe's error was swallowed")
