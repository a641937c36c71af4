"""The treatment measures over HTTP (`GET /v1/measures`, operations role) and as gauges.

Figures are aggregates: nothing about a person, so nothing goes on the audit trail. The
gauges are the default period's national and per-provider rows, recomputed in a thread every
`NDTMS_MEASURES_REFRESH_SECONDS` and served by a collector, so that a provider that drops out
leaves no stale series.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ndtms.web.problems import problem_responses
from ndtms_contract.dates import iso_date
from ndtms_contract.periods import Period, year_to
from services.journey.disclosure import COUNTS, published_json, row_json
from services.journey.measures import Breakdown, MeasureRow, PeriodInverted, period_of
from services.journey.measuring import MeasuresIncomplete, measure_rows

log = logging.getLogger(__name__)
IsoDate = Annotated[date, BeforeValidator(iso_date)]
# Said in the document as well as checked: NDTMS periods start on or after 1900-01-01.
FROM_1900 = {"pattern": r"^(19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"}
Count = int | Literal["<5"]  # a number, or "<5" when published


class WaitsFigures(BaseModel):
    count: Count
    median_days: float | None
    within_21_days: Count
    within_21_days_percent: float | None = None  # published only


class RetainedFigures(BaseModel):
    numerator: Count
    denominator: Count
    percent: float | None = None  # published only


class MeasuresRow(BaseModel):
    scope: str
    group: str | None
    in_treatment: Count
    new_presentations: Count
    waits: WaitsFigures
    waiting_now_over_21_days: Count
    retained_12_weeks: RetainedFigures
    successful_completions: Count
    representations_6_months: Count
    representations_window_open: Count
    unplanned_exits: Count
    early_unplanned_exits: Count


class Measures(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    rows: list[MeasuresRow]


def document(rows: list[MeasureRow], period: Period, published: bool) -> dict[str, Any]:
    render = published_json if published else row_json
    return {"from": period.start.isoformat(), "to": period.end.isoformat(), "rows": [render(r) for r in rows]}


def measures_routes(engine: Engine, today: Callable[[], date]) -> APIRouter:
    routes = APIRouter(tags=["treatment measures"])

    @routes.get(
        "/measures",
        response_model=Measures,
        # Exact figures carry no percentages: only what a published row has is in the answer.
        response_model_exclude_unset=True,
        responses=problem_responses(
            s409="the store predates the measures: `ndtms journeys rebuild` once",
            s404="`from` is after `to`: there is no such period",
            s422="a date that is not YYYY-MM-DD on or after 1900-01-01, or a breakdown not provider or la",
        ),
    )
    def measures(
        start: Annotated[
            IsoDate | None,
            Query(alias="from", description="first day, YYYY-MM-DD", json_schema_extra=FROM_1900),
        ] = None,
        end: Annotated[
            IsoDate | None,
            Query(alias="to", description="last day, YYYY-MM-DD; default today", json_schema_extra=FROM_1900),
        ] = None,
        by: Breakdown | None = None,
        published: Annotated[bool, Query(description="NDTMS disclosure control: <5, rounded to 5")] = False,
    ) -> Any:
        """Numbers in treatment, waits, retention, completions and exits over `[from, to]`."""
        try:
            period = period_of(start, end, today())
        except PeriodInverted as exc:
            # Each date is valid on its own (the document says which are), not the two together.
            raise HTTPException(404, detail=f"{exc}: there is no such period") from exc
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from exc
        with Session(engine) as session:
            try:
                rows = measure_rows(session, period, by)
            except MeasuresIncomplete as exc:
                raise HTTPException(409, detail=str(exc)) from exc
        return document(rows, period, published)

    return routes


def _count(name: str) -> Callable[[MeasureRow], float | None]:
    def figure(row: MeasureRow) -> float | None:
        value: int = getattr(row, name)
        return value

    return figure


def _waits_count(row: MeasureRow) -> float | None:
    return row.waits.count


def _waits_within(row: MeasureRow) -> float | None:
    return row.waits.within_21_days


def _waits_median(row: MeasureRow) -> float | None:
    return row.waits.median_days


def _retained(row: MeasureRow) -> float | None:
    return row.retained_12_weeks.numerator


def _cohort(row: MeasureRow) -> float | None:
    return row.retained_12_weeks.denominator


# Gauge name (after ndtms_treatment_) and the figure it shows.
FIGURES: tuple[tuple[str, Callable[[MeasureRow], float | None]], ...] = (
    *((name, _count(name)) for name in COUNTS),
    ("waits_count", _waits_count),
    ("waits_within_21_days", _waits_within),
    ("waits_median_days", _waits_median),
    ("retained_12_weeks", _retained),
    ("retained_12_weeks_cohort", _cohort),
)


class MeasuresGauges(Collector):
    """The default period's rows as `ndtms_treatment_*` gauges (national and per provider)."""

    def __init__(
        self,
        engine: Engine,
        today: Callable[[], date],
        interval: float,
        leading: Callable[[], bool] = lambda: True,
    ):
        self.engine = engine
        self.today = today
        self.interval = interval
        # Of several instances on one store, only the leader exports the gauges: every instance
        # would export the same national figures, and a sum over instances would multiply them.
        self.leading = leading
        self.rows: list[MeasureRow] = []
        self.stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="measures-gauges", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                if self.leading():
                    with Session(self.engine) as session:
                        self.rows = measure_rows(session, year_to(self.today()), Breakdown.PROVIDER)
                else:
                    self.rows = []
            except MeasuresIncomplete:
                self.rows = []
            except Exception:  # the next round tries again; the API answers on its own
                log.exception("the measures could not be computed for the gauges")
            if self.stopping.wait(self.interval):
                return

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = self.rows
        for name, figure in FIGURES:
            family = GaugeMetricFamily(
                f"ndtms_treatment_{name}",
                f"NDTMS treatment measure {name}, rolling 12 months to today (community)",
                labels=["scope", "group"],
            )
            for row in rows:
                value = figure(row)
                if value is not None:
                    family.add_metric([row.scope, row.group or ""], value)
            yield family
