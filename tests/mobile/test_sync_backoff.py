"""Retry delays of the outbox sync (no window needed)."""

from __future__ import annotations

from mobile.sync import Backoff


def test_delays_double_up_to_the_cap_and_reset():
    backoff = Backoff(first=2, factor=2, maximum=60, jitter=0)
    assert [backoff.next_delay() for _ in range(7)] == [2, 4, 8, 16, 32, 60, 60]
    backoff.reset()
    assert backoff.next_delay() == 2


def test_jitter_stays_within_bounds():
    backoff = Backoff(first=10, maximum=10, jitter=0.2)
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(8 <= d <= 12 for d in delays)
    assert len(set(delays)) > 1
