"""What the operator's terminal view derives from two successive status readings (pure).

Throughput is the growth of each topic's end offsets between readings; a service's lag trend is
the change of its lag; a consumer is stalled when it has records to read and committed nothing
since the last reading; a provider is silent when the ingest service has accepted nothing from
it for longer than the configured period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Trend(StrEnum):
    RISING = "rising"
    FALLING = "falling"
    STEADY = "steady"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ServiceView:
    name: str
    up: bool
    lag: int
    trend: Trend
    stalled: bool
    consumed_per_second: float | None
    # Mean seconds from Kafka append to processed: since the last reading, else since start.
    latency: float | None = None


def trend(before: int | None, now: int) -> Trend:
    if before is None:
        return Trend.UNKNOWN
    return Trend.RISING if now > before else Trend.FALLING if now < before else Trend.STEADY


def services_view(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any], seconds: float
) -> list[ServiceView]:
    views = []
    for name, service in current["services"].items():
        earlier = previous["services"].get(name) if previous else None
        committed, lag = service.get("committed", 0), service["lag"]
        moved = committed - earlier.get("committed", 0) if earlier else None
        views.append(
            ServiceView(
                name=name,
                up=service["up"],
                lag=lag,
                trend=trend(earlier["lag"] if earlier else None, lag),
                stalled=bool(earlier) and lag > 0 and moved == 0,
                consumed_per_second=moved / seconds if moved is not None and seconds > 0 else None,
                latency=_mean_latency(earlier, service),
            )
        )
    return views


def topic_rates(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any], seconds: float
) -> dict[str, float]:
    if previous is None or seconds <= 0:
        return {}
    return {
        name: (topic["end_offset_total"] - previous["topics"][name]["end_offset_total"]) / seconds
        for name, topic in current["topics"].items()
        if name in previous["topics"]
    }


def silent_providers(
    last_published: Mapping[str, float], now: float, silent_after_hours: float
) -> dict[str, float]:
    """Providers not heard from for longer than the period, with the hours since."""
    limit = silent_after_hours * 3600
    return {
        provider: (now - at) / 3600 for provider, at in sorted(last_published.items()) if now - at > limit
    }


def _mean_latency(earlier: Mapping[str, Any] | None, now: Mapping[str, Any]) -> float | None:
    total, count = now.get("latency_sum", 0.0), now.get("latency_count", 0.0)
    if earlier is not None and count > earlier.get("latency_count", 0.0):
        total -= earlier.get("latency_sum", 0.0)
        count -= earlier.get("latency_count", 0.0)
    return total / count if count else None
