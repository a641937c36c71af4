"""The live indicator as Prometheus gauges, computed from the link view at each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ndtms.clocks import Clock, today_in_england
from ndtms.continuity.indicator import COLUMNS, Grouping, indicator
from ndtms_contract.links import TransferLink

MEASURES = ("transfers", "decided", *COLUMNS, "engaged_by_confirmed_match")


class IndicatorCollector(Collector):
    def __init__(self, links: Callable[[], list[TransferLink]], clock: Clock, grace_days: int):
        self._links = links
        self._clock = clock
        self._grace_days = grace_days

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = GaugeMetricFamily(
            "ndtms_continuity_of_care_transfers",
            "Prison releases with a treatment need over the rolling 12 months of exit dates, by measure",
            labels=["scope", "group", "measure"],
        )
        rates = GaugeMetricFamily(
            "ndtms_continuity_of_care_rate",
            "Engaged within 21 days as a share of decided transfers (PHOF 2.16), rolling 12 months",
            labels=["scope", "group"],
        )
        without = GaugeMetricFamily(
            "ndtms_continuity_of_care_rate_without_confirmed",
            "The rate as if no probable match had been confirmed (exact client keys only)",
            labels=["scope", "group"],
        )
        links = self._links()
        today = today_in_england(self._clock)
        for by in Grouping:
            for row in indicator(links, today, by, self._grace_days):
                for measure in MEASURES:
                    counts.add_metric([by.value, row.group, measure], getattr(row, measure))
                if row.rate is not None:
                    rates.add_metric([by.value, row.group], row.rate)
                if row.rate_without_confirmed is not None:
                    without.add_metric([by.value, row.group], row.rate_without_confirmed)
        yield counts
        yield rates
        yield without
