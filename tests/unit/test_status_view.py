"""The operator's view: throughput, lag trend, stalled consumers, silent providers."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from ndtms_apps.cli.status import status_tables
from ndtms_apps.cli.status_view import Trend, services_view, silent_providers, topic_rates


def reading(
    at: float, lag: int, committed: int, raw_end: int, last: dict[str, float] | None = None
) -> dict[str, Any]:
    return {
        "at": at,
        "services": {"validator": {"up": True, "health": "ready", "lag": lag, "committed": committed}},
        "topics": {"ndtms.episodes.raw": {"end_offset_total": raw_end}},
        "providers_last_published": last or {},
    }


@pytest.mark.parametrize(
    ("lag_then", "lag_now", "committed_now", "trend", "stalled", "rate"),
    [
        (10, 20, 110, Trend.RISING, False, 2.0),
        (20, 10, 110, Trend.FALLING, False, 2.0),
        (10, 10, 100, Trend.STEADY, True, 0.0),
        (0, 0, 100, Trend.STEADY, False, 0.0),
    ],
)
def test_trend_stall_and_rate(
    lag_then: int, lag_now: int, committed_now: int, trend: Trend, stalled: bool, rate: float
) -> None:
    [view] = services_view(reading(0, lag_then, 100, 500), reading(5, lag_now, committed_now, 520), 5)
    assert (view.trend, view.stalled, view.consumed_per_second) == (trend, stalled, rate)


def test_first_reading_has_no_trend_and_topic_rates_need_two() -> None:
    [view] = services_view(None, reading(0, 5, 100, 500), 0)
    assert view.trend is Trend.UNKNOWN and not view.stalled and view.consumed_per_second is None
    assert topic_rates(reading(0, 0, 0, 500), reading(10, 0, 0, 600), 10) == {"ndtms.episodes.raw": 10.0}


def test_silent_providers_beyond_the_period() -> None:
    now = 1_000_000.0
    last = {"P1": now - 3600, "P2": now - 49 * 3600}
    assert silent_providers(last, now, 48) == {"P2": 49.0}


def test_the_rendered_view_shows_stalls_and_silence() -> None:
    console = Console(record=True, width=120)
    old = {"P9": 0.0}
    then, now = reading(1e6, 10, 100, 500, old), reading(1e6 + 5, 10, 100, 500, old)
    console.print(status_tables(then, now, 48))
    text = console.export_text()
    assert "STALLED" in text and "P9" in text and "silent for over 48 h" in text


def test_latency_is_the_mean_since_the_last_reading() -> None:
    then = reading(0, 0, 0, 0)
    now = reading(5, 0, 0, 0)
    then["services"]["validator"] |= {"latency_sum": 10.0, "latency_count": 100.0}
    now["services"]["validator"] |= {"latency_sum": 12.0, "latency_count": 110.0}
    [view] = services_view(then, now, 5)
    assert view.latency == pytest.approx(0.2)
    [first] = services_view(None, now, 0)
    assert first.latency == pytest.approx(12 / 110)
