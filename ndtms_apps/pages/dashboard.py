"""The operations dashboard's data: the services' metrics sampled over the last hour, summarised.

A sampler scrapes every service's `/metrics` every `interval` seconds and keeps an hour of
readings; `summary()` turns them into what the page draws: throughput and lag per service
over time, findings by rule, dead letters, and the live continuity-of-care indicator by
prison and by destination local authority, and the probable matches waiting per prison. Only
aggregates: nothing about any person (the review queue on the page is read from the journey
API with an operations key the reviewer types in).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from prometheus_client.parser import text_string_to_metric_families

from ndtms.web.vendored import with_uplot
from ndtms_apps.pages.rules_document import descriptions
from services.linker.indicator_metrics import MEASURES

Labels = frozenset[tuple[str, str]]
Series = dict[tuple[str, Labels], float]
HOUR = 3600.0
PAGE = Path(__file__).with_name("dashboard.html")
OPEN_CANDIDATES = "ndtms_linker_candidates_open"
# The label the sampler gives each sample: the address of the instance that served it.
INSTANCE_LABEL = "ndtms_instance"


def dashboard_page() -> str:
    """The page: HTML, CSS and script in one answer with the charting library inlined.

    Nothing is fetched from elsewhere: operations networks often have no internet.
    """
    return with_uplot(PAGE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Reading:
    at: float
    series: Series
    up: dict[str, bool]


def parse(text: str) -> Series:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(series: Series, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in series.items() if n == name and wanted <= found)


def grouped(series: Series, name: str, label: str, **labels: str) -> dict[str, float]:
    wanted = set(labels.items())
    grouped: dict[str, float] = {}
    for (n, found), v in series.items():
        if n == name and wanted <= found:
            key = dict(found).get(label, "")
            grouped[key] = grouped.get(key, 0.0) + v
    return grouped


def one_instance(series: Series, prefix: str) -> Series:
    """The series whose names start with `prefix` as one instance serves them (the first, by
    address): for figures every instance serves whole, which a sum over instances would multiply."""
    instances = sorted(
        dict(labels).get(INSTANCE_LABEL, "") for name, labels in series if name.startswith(prefix)
    )
    if not instances:
        return {}
    chosen = instances[0]
    return {
        (name, labels): value
        for (name, labels), value in series.items()
        if name.startswith(prefix) and dict(labels).get(INSTANCE_LABEL, "") == chosen
    }


def summary(readings: list[Reading], services: list[str], now: float) -> dict[str, Any]:
    """What the page draws, from readings oldest first (pure)."""
    throughput: dict[str, list[list[float]]] = {s: [] for s in services}
    lag: dict[str, list[list[float]]] = {s: [] for s in services}
    for before, after in itertools.pairwise(readings):
        seconds = after.at - before.at
        for service in services:
            # Ingest consumes nothing: its throughput is what it wrote to the raw topic.
            name = "ndtms_records_produced_total" if service == "ingest" else "ndtms_records_consumed_total"
            consumed = total(after.series, name, service=service) - total(
                before.series, name, service=service
            )
            throughput[service].append([after.at, max(consumed, 0) / seconds if seconds > 0 else 0.0])
    for reading in readings:
        for service in services:
            lag[service].append([reading.at, total(reading.series, "ndtms_consumer_lag", service=service)])
    latest = readings[-1] if readings else Reading(now, {}, {})
    # Every linker instance serves the same national indicator: read it from one of them.
    national_view = one_instance(latest.series, "ndtms_continuity_of_care_")
    return {
        "at": latest.at,
        "up": latest.up,
        "throughput": throughput,
        "lag": lag,
        "findings": dict(sorted(grouped(latest.series, "ndtms_validator_findings_total", "rule").items())),
        "rule_descriptions": descriptions(),
        "dead_letters": total(latest.series, "ndtms_dlq_records_total"),
        "indicator": {scope: _indicator(national_view, scope) for scope in ("national", "prison", "la")},
        "matches_open": dict(sorted(grouped(latest.series, OPEN_CANDIDATES, "prison").items())),
        "measures": _measures(latest.series),
    }


# The treatment measures the page shows, as the journey service's gauges name them.
MEASURES_SHOWN = (
    "in_treatment",
    "new_presentations",
    "waits_count",
    "waits_median_days",
    "waits_within_21_days",
    "waiting_now_over_21_days",
    "retained_12_weeks",
    "retained_12_weeks_cohort",
    "successful_completions",
    "representations_6_months",
    "unplanned_exits",
    "early_unplanned_exits",
)


def _measures(series: Series) -> dict[str, Any]:
    """The national row and the ten providers with the most people waiting over 21 days."""

    def figures(**labels: str) -> dict[str, float | None]:
        found = {
            m: [
                v
                for (n, ls), v in series.items()
                if n == f"ndtms_treatment_{m}" and set(labels.items()) <= ls
            ]
            for m in MEASURES_SHOWN
        }
        return {m: values[0] if values else None for m, values in found.items()}

    if not any(name.startswith("ndtms_treatment_") for name, _ in series):
        return {"national": None, "providers": []}
    waiting = grouped(series, "ndtms_treatment_waiting_now_over_21_days", "group", scope="provider")
    busiest = sorted(waiting, key=lambda provider: (-waiting[provider], provider))[:10]
    return {
        "national": figures(scope="national"),
        "providers": [{"provider": p, **figures(scope="provider", group=p)} for p in busiest],
    }


def _indicator(series: Series, scope: str) -> list[dict[str, Any]]:
    rates = grouped(series, "ndtms_continuity_of_care_rate", "group", scope=scope)
    rows = []
    for group in sorted(grouped(series, "ndtms_continuity_of_care_transfers", "group", scope=scope)):
        measures = {
            m: total(series, "ndtms_continuity_of_care_transfers", scope=scope, group=group, measure=m)
            for m in MEASURES
        }
        rows.append({"group": group, "rate": rates.get(group), **measures})
    return rows


class Sampler:
    """Scrapes every instance of every service in a thread; keeps an hour of readings.

    Each sample is labelled with the address it came from, so the same series from two
    instances add up (records consumed, the lag of the partitions each holds) instead of one
    replacing the other. A service is up when every one of its instances answers."""

    def __init__(
        self,
        targets: Mapping[str, str | Sequence[str]],
        interval: float = 15.0,
        clock: Callable[[], float] = time.time,
    ):
        self.targets = {
            name: [where] if isinstance(where, str) else list(where) for name, where in targets.items()
        }
        self.interval = interval
        self.clock = clock
        self.readings: deque[Reading] = deque(maxlen=int(HOUR / interval) + 1)
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="dashboard-sampler", daemon=True).start()

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while True:
                self.sample(client)
                if self.stop.wait(self.interval):
                    return

    def sample(self, client: httpx.Client) -> None:
        series: Series = {}
        up: dict[str, bool] = {}
        for name, urls in self.targets.items():
            up[name] = True
            for url in urls:
                try:
                    response = client.get(f"{url}/metrics")
                except httpx.HTTPError:
                    up[name] = False
                    continue
                up[name] = up[name] and response.status_code == 200
                series |= {
                    (metric, labels | {(INSTANCE_LABEL, url)}): value
                    for (metric, labels), value in parse(response.text).items()
                }
        with self._lock:
            self.readings.append(Reading(self.clock(), series, up))

    def summary(self) -> dict[str, Any]:
        with self._lock:
            readings = list(self.readings)
        return summary(readings, list(self.targets), self.clock())


def ops_routes(summary: Callable[[], dict[str, Any]]) -> APIRouter:
    """The operations page: aggregates only, no key needed (like /metrics; keep both inside)."""
    router = APIRouter(tags=["operations"], include_in_schema=False)

    @router.get("/ops", response_class=HTMLResponse)
    def page() -> str:
        return dashboard_page()

    @router.get("/ops/data")
    def data() -> dict[str, Any]:
        return summary()

    return router
