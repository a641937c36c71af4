"""The journey service's HTTP face: the query API (operations role), health and metrics.

Routes from above the service (the review desk's, the `/ops` page's) are handed in by the entry
point that composes the process (`services.journey.__main__`): the service never imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, BeforeValidator
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ndtms.access import Credential, Credentials
from ndtms.audit import Audit, AuditUnavailable
from ndtms.web.access import UNAUTHORISED, operations_only
from ndtms.web.pages import HEALTH_RESPONSES, METRICS_RESPONSES, Health
from ndtms.web.problems import install_problem_handlers, problem_responses, with_problem_schemas
from ndtms_contract.audit import AuditAction
from ndtms_contract.dates import iso_date
from ndtms_contract.episodes import IDENTIFIER_PATTERN
from ndtms_contract.journeys import ClientJourneys, JourneyStatus
from ndtms_contract.pseudonyms import CLIENT_KEY_PATTERN
from services.journey.continuity import ContinuityReports, continuity_page_route, continuity_routes
from services.journey.queries import JourneyFilter, list_journeys, person_document, person_of_episode
from services.journey.reports import measures_routes

MAX_PAGE_SIZE = 500
MAX_PAGE = 1_000_000  # keeps the row offset within a 64-bit integer whatever the page size
# A date filter is YYYY-MM-DD and nothing else: no Unix timestamps, no times.
IsoDate = Annotated[date, BeforeValidator(iso_date)]


class JourneySummary(BaseModel):
    client_key: str
    journey_id: str
    start_date: date
    discharge_date: date | None
    discharge_reason: str | None
    status: JourneyStatus
    providers: list[str]


class JourneyListing(BaseModel):
    items: list[JourneySummary]
    page: int
    page_size: int
    total: int
    next_page: int | None


def create_app(
    is_ready: Callable[[], bool],
    engine: Engine,
    credentials: Credentials,
    audit: Audit,
    operations: Sequence[APIRouter] = (),
    pages: Sequence[APIRouter] = (),
    today: Callable[[], date] | None = None,
    continuity: ContinuityReports | None = None,
) -> FastAPI:
    """`operations`: more routes for the operations role (behind its key check); `pages`: more
    routes that check what they need themselves."""
    app = FastAPI(
        title="NDTMS journey service",
        version="1",
        description="Each person's treatment journeys (NDTMS rule), the probable-match review and the live "
        "treatment measures, for operations staff. "
        "Every /v1 query needs an API key with the operations role: `Authorization: Bearer <key>`. "
        "Every refusal is an RFC 9457 problem (`application/problem+json`).",
    )
    install_problem_handlers(app)
    queries = APIRouter(
        prefix="/v1", dependencies=[Depends(operations_only(credentials))], responses=UNAUTHORISED
    )

    @app.get("/v1/health", tags=["operations"], responses=HEALTH_RESPONSES)
    def health() -> JSONResponse:
        """Readiness: 503 while starting or stopping."""
        ready = is_ready()
        body = {"status": "ready" if ready else "starting", "app": "journey"}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/v1/live", tags=["operations"], response_model=Health)
    def live() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "alive", "app": "journey"}

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse, responses=METRICS_RESPONSES)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    def recorded(request: Request, action: AuditAction, subject: str, detail: str = "") -> None:
        """On the audit trail before anything is shown; if it cannot be written, nothing is."""
        credential: Credential = request.state.credential
        try:
            audit(f"{credential.name} ({credential.id})", action, subject, detail)
        except AuditUnavailable as exc:
            raise HTTPException(
                503, detail=f"{exc}; a person is shown only once the view is recorded"
            ) from exc

    @queries.get(
        "/clients/{client_key}/journeys",
        response_model=ClientJourneys,
        responses=problem_responses(
            s404="no accepted episode of this client key",
            s422="the client key is not 32 hex characters",
            s503="the audit trail could not be written, so nothing is shown",
        ),
    )
    def client_journeys(
        request: Request,
        client_key: Annotated[str, Path(pattern=CLIENT_KEY_PATTERN, description="32 hex characters")],
    ) -> Any:
        """One person's journeys (the view is recorded on the audit trail)."""
        with Session(engine) as session:
            document = person_document(session, client_key)
        if document is None:
            raise HTTPException(404, detail=f"no journeys for client key {client_key}")
        recorded(request, AuditAction.PERSON_VIEWED, client_key, "by client key")
        return document

    @queries.get(
        "/providers/{provider_id}/episodes/{episode_id}/journeys",
        response_model=ClientJourneys,
        responses=problem_responses(
            s404="no accepted episode with this provider and episode id",
            s422="a provider or episode id that is not an identifier",
            s503="the audit trail could not be written, so nothing is shown",
        ),
    )
    def episode_journeys(
        request: Request,
        provider_id: Annotated[str, Path(pattern=IDENTIFIER_PATTERN, examples=["P0001"])],
        episode_id: Annotated[str, Path(pattern=IDENTIFIER_PATTERN, examples=["EP-1001"])],
    ) -> Any:
        """The journeys of the person an episode belongs to, found by the provider's own ids (audited)."""
        with Session(engine) as session:
            client_key = person_of_episode(session, provider_id, episode_id)
            document = person_document(session, client_key) if client_key else None
        if client_key is None or document is None:
            raise HTTPException(404, detail=f"no accepted episode {provider_id}/{episode_id}")
        recorded(request, AuditAction.PERSON_VIEWED, client_key, f"by episode {provider_id}/{episode_id}")
        return document

    @queries.get(
        "/journeys",
        response_model=JourneyListing,
        responses=problem_responses(
            s422="a filter or page parameter is not valid",
            s503="the audit trail could not be written, so nothing is shown",
        ),
    )
    def journeys(
        request: Request,
        status: JourneyStatus | None = None,
        provider: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
        started_from: Annotated[IsoDate | None, Query(description="YYYY-MM-DD")] = None,
        started_to: Annotated[IsoDate | None, Query(description="YYYY-MM-DD")] = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    ) -> Any:
        """Journeys filtered and paged (the listing is recorded on the audit trail)."""
        where = JourneyFilter(status, provider, started_from, started_to)
        recorded(request, AuditAction.JOURNEYS_LISTED, "journeys", request.url.query)
        with Session(engine) as session:
            found = list_journeys(session, where, page, page_size)
        return {
            "items": found.items,
            "page": found.page,
            "page_size": found.page_size,
            "total": found.total,
            "next_page": found.next_page,
        }

    for router in operations:
        queries.include_router(router)
    if today is not None:
        queries.include_router(measures_routes(engine, today))
    app.include_router(queries)
    if continuity is not None:
        # Published figures need no key (exact ones do): outside the operations-only router.
        app.include_router(continuity_routes(continuity, credentials), prefix="/v1")
        app.include_router(continuity_page_route())
    for router in pages:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = with_problem_schemas(
            get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        )
    return app.openapi_schema
