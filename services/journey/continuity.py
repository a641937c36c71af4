"""The continuity-of-care companion report over HTTP (`GET /v1/reports/continuity`).

The journey service follows `ndtms.links` (every partition, `ndtms.link_view`) and counts by
the indicator's rule (`ndtms.continuity.report`). Figures leave with NDTMS disclosure control
unless an operations key asks for exact ones (`exact=true`): aggregates only, nothing about a
person, so a report is not put on the audit trail.

Longer than most modules (about 350 lines): the report's response models are its published
OpenAPI contract and sit with the routes that answer in them; the counting is
`ndtms.continuity.report`.
"""

# No `from __future__ import annotations`: FastAPI reads the route's annotations at runtime, and
# one names a closure's local (`exact_allowed`) that a string annotation could not resolve.
import gc
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ndtms.access import Credentials
from ndtms.continuity.areas import area_of
from ndtms.continuity.indicator import Counts, Release
from ndtms.continuity.report import Asked, ContinuityReport, NotYetReportable, Releases, continuity_report
from ndtms.web.access import API_KEY_HEADER, BEARER, authenticated, operations_only
from ndtms.web.problems import problem_responses
from ndtms.web.vendored import with_uplot
from ndtms_contract.dates import iso_date
from ndtms_contract.episodes import IDENTIFIER_PATTERN, LOCAL_AUTHORITY_PATTERN
from ndtms_contract.links import TransferLink
from ndtms_contract.periods import QUARTER_PATTERN, Quarter
from services.journey.disclosure import SMALL, controlled

IsoDate = Annotated[date, BeforeValidator(iso_date)]
FROM_1900 = {"pattern": r"^(19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"}
Count = int | Literal["<5"]
PUBLISHED_RULE = (
    "NDTMS disclosure control: a count under 5 is shown as <5 and any other rounded to the nearest 5; "
    "rates are worked out from the exact counts and withheld when fewer than 5 releases are decided"
)
EXACT_RULE = "exact counts, for operations staff only: not for publication"


class LinkSource(Protocol):
    caught_up: threading.Event

    def versioned(self) -> tuple[int, dict[str, TransferLink]]: ...


class ReportNotReady(RuntimeError):
    """The link records are still being read: a count now would be short."""


class ContinuityReports:
    """Reports from the links as they stand. A link record is worked out into a release once:
    when the links change, only the records that changed are worked out again."""

    def __init__(self, links: LinkSource, grace_days: int, today: Callable[[], date]):
        self.links = links
        self.grace_days = grace_days
        self.today = today
        self._lock = threading.Lock()
        self._version: int | None = None
        self._releases = Releases(())
        self._worked_out: dict[str, tuple[TransferLink, Release]] = {}
        self._frozen = 0  # how many records there were when they were last frozen

    def releases(self) -> Releases:
        if not self.links.caught_up.is_set():
            raise ReportNotReady(
                "the journey service is still reading ndtms.links; the report is ready once it has "
                "read them all (seconds after a start)"
            )
        with self._lock:
            version, links = self.links.versioned()
            if version != self._version:
                before, now = self._worked_out, {}
                for key, link in links.items():
                    held = before.get(key)
                    # Link records are immutable: the same object is the same record.
                    now[key] = (
                        held
                        if held is not None and held[0] is link
                        else (link, Release.of(link, self.grace_days))
                    )
                self._worked_out, self._version = now, version
                self._releases = Releases(release for _, release in now.values())
                if len(now) >= 2 * self._frozen:
                    # Tens of thousands of long-lived records: kept out of the cyclic
                    # collector's sweeps, which otherwise walk them all during a report and
                    # double its time. Done again only when the records have doubled, each time
                    # after a collection, so that nothing already garbage is kept; the records
                    # hold no cycles, so reference counting still frees the ones replaced.
                    gc.collect()
                    gc.freeze()
                    self._frozen = max(len(now), 1)
            return self._releases

    def report(self, asked: Asked) -> ContinuityReport:
        return continuity_report(self.releases(), asked)


def asked_for(
    today: date, prison: str | None, la: str | None, quarter: str | None, day: date | None
) -> Asked:
    """The report asked for; `day` (default today) is the day it is judged on."""
    on = day or today
    if on > today:
        raise NotYetReportable(f"{on.isoformat()} is after today ({today.isoformat()}): no figures yet")
    if quarter is None:
        return Asked.rolling_year(on, prison, la)
    return Asked.of_quarter(Quarter.parse(quarter), on, prison, la)


def figures(counts: Counts, exact: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "transfers": counts.transfers,
        "decided": counts.decided,
        "engaged": counts.engaged,
        "triaged": counts.triaged,
        "not_engaged": counts.not_engaged,
        "still_open": counts.still_open,
        "engaged_by_confirmed_match": counts.engaged_by_confirmed_match,
    }
    withheld = counts.decided == 0 if exact else counts.decided < SMALL
    rate = None if withheld else round(100 * counts.engaged / counts.decided, 1)
    without = None
    if not withheld:
        without = round(100 * (counts.engaged - counts.engaged_by_confirmed_match) / counts.decided, 1)
    if not exact:
        shown = {name: controlled(value) for name, value in shown.items()}
    return {**shown, "rate_percent": rate, "rate_without_confirmed_percent": without}


def area_json(la: str | None) -> dict[str, Any]:
    area = area_of(la)
    return {"la": la, "la_name": area.name, "region": area.region}


def report_json(report: ContinuityReport, exact: bool, limit: int | None = None) -> dict[str, Any]:
    """`limit`: the largest pathways only (as shown: published figures in their published order)."""
    asked = report.asked

    def shown_size(counts: Counts) -> int:
        # Published rows are ordered by what they show: exact order would tell apart two "<5".
        value = counts.transfers if exact else controlled(counts.transfers)
        return value if isinstance(value, int) else 0

    flows = sorted(report.flows, key=lambda f: (-shown_size(f.counts), f.prison, f.la or "~"))[:limit]
    regions = sorted(report.regions, key=lambda r: (-shown_size(r.counts), r.region))
    chosen_area = area_of(asked.la) if asked.la else None
    return {
        "period": {"from": asked.period.start.isoformat(), "to": asked.period.end.isoformat()},
        "judged_on": asked.judged_on.isoformat(),
        "quarter": str(asked.quarter) if asked.period == asked.quarter.period else None,
        "prison": asked.prison,
        "la": asked.la,
        "la_name": chosen_area.name if chosen_area else None,
        "figures": "exact" if exact else "published",
        "disclosure": EXACT_RULE if exact else PUBLISHED_RULE,
        "flows": [
            {
                "prison": flow.prison,
                "la": flow.la,
                "la_name": area_of(flow.la).name,
                "region": area_of(flow.la).region,
                **figures(flow.counts, exact),
            }
            for flow in flows
        ],
        "flows_total": len(report.flows),
        "prisons": report.prisons,
        "areas": [
            {"la": la, "la_name": area_of(la).name, "region": area_of(la).region} for la in report.areas
        ],
        "total": figures(report.total, exact),
        "regions": [{"region": row.region, **figures(row.counts, exact)} for row in regions],
        "national": figures(report.national, exact),
        "trend": [
            {
                "quarter": str(point.quarter),
                "judged_on": point.judged_on.isoformat(),
                "partial": point.partial,
                "rolling": figures(point.rolling, exact),
                "own": figures(point.own, exact),
            }
            for point in report.trend
        ],
    }


class Figures(BaseModel):
    transfers: Count
    decided: Count
    engaged: Count
    triaged: Count
    not_engaged: Count
    still_open: Count
    engaged_by_confirmed_match: Count
    rate_percent: float | None = Field(description="engaged / decided x 100, one decimal")
    rate_without_confirmed_percent: float | None = Field(
        description="the rate leaving out releases engaged through a confirmed probable match"
    )


class FlowRow(Figures):
    prison: str
    la: str | None = Field(description="destination local authority; null when none was recorded")
    la_name: str
    region: str


class RegionRow(Figures):
    region: str


class TrendPoint(BaseModel):
    quarter: str
    judged_on: date
    partial: bool = Field(description="the quarter had not ended on the day judged: figures to that day")
    rolling: Figures
    own: Figures


class PeriodOf(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date


class Area(BaseModel):
    la: str | None
    la_name: str
    region: str


class ContinuityReportDocument(BaseModel):
    period: PeriodOf
    judged_on: date
    quarter: str | None
    prison: str | None
    la: str | None
    la_name: str | None
    figures: Literal["published", "exact"]
    disclosure: str
    flows: list[FlowRow] = Field(description="pathways, the largest first (`limit`: that many)")
    flows_total: int = Field(description="how many pathways there are in all")
    prisons: list[str] = Field(description="every prison with a release in the period")
    areas: list[Area] = Field(description="every destination of a release in the period")
    total: Figures
    regions: list[RegionRow]
    national: Figures
    trend: list[TrendPoint]


def continuity_routes(reports: ContinuityReports, credentials: Credentials) -> APIRouter:
    routes = APIRouter(tags=["continuity of care"])
    check_key, check_role = authenticated(credentials), operations_only(credentials)

    def exact_allowed(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
        header: Annotated[str | None, Depends(API_KEY_HEADER)],
        exact: Annotated[
            bool, Query(description="exact counts instead of published ones: needs an operations key")
        ] = False,
    ) -> bool:
        if exact:
            check_role(request, check_key(request, bearer, header))
        return exact

    @routes.get(
        "/reports/continuity",
        response_model=ContinuityReportDocument,
        responses=problem_responses(
            s401="exact=true without an API key, or a key that is unknown or revoked",
            s403="exact=true with a key that lacks the operations role",
            s404="a quarter that has not begun, or a day after today: there are no figures yet",
            s422="a prison that is not an identifier, an LA that is not an ONS code, a quarter not "
            "like 2025Q1, or a day that is not YYYY-MM-DD on or after 1900-01-01",
            s503="the service is still reading the link records",
        ),
        # Published figures need no key; exact ones need an operations key.
        openapi_extra={"security": [{}]},
    )
    def continuity(
        exact: Annotated[bool, Depends(exact_allowed)],
        prison: Annotated[
            str | None, Query(pattern=IDENTIFIER_PATTERN, description="a prison's provider id")
        ] = None,
        la: Annotated[
            str | None,
            Query(pattern=LOCAL_AUTHORITY_PATTERN, description="a destination local authority (ONS code)"),
        ] = None,
        quarter: Annotated[
            str | None,
            Query(pattern=QUARTER_PATTERN, description="a calendar quarter, e.g. 2025Q1 (January to March)"),
        ] = None,
        limit: Annotated[
            int | None, Query(ge=1, le=1_000_000, description="the largest pathways only (default: all)")
        ] = None,
        today: Annotated[
            IsoDate | None,
            Query(
                description="the day the figures are judged on, YYYY-MM-DD; default today. Without "
                "`quarter`: the 12 months of releases to that day",
                json_schema_extra=FROM_1900,
            ),
        ] = None,
    ) -> Any:
        """Releases with a treatment need by prison and destination area, their pick-up rates, and the
        quarterly trend (PHOF 2.16 companion report)."""
        try:
            asked = asked_for(reports.today(), prison, la, quarter, today)
        except NotYetReportable as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from exc
        try:
            report = reports.report(asked)
        except ReportNotReady as exc:
            raise HTTPException(503, detail=str(exc)) from exc
        # Encoded straight to JSON: a national matrix has thousands of rows, and the document's own
        # model (checked in the tests) would take longer to validate than the report to count.
        return Response(msgspec.json.encode(report_json(report, exact, limit)), media_type="application/json")

    return routes


PAGE = Path(__file__).with_name("pages") / "continuity.html"


def continuity_page_route() -> APIRouter:
    """The page: the report for a browser (aggregates only, published unless a key is typed in)."""
    routes = APIRouter()

    @routes.get("/reports/continuity", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return with_uplot(PAGE.read_text(encoding="utf-8"))

    return routes
