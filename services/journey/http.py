"""The journey service's HTTP face: the query API (operations role), health and metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ndtms.access import CredentialStore
from ndtms.contract.journeys import ClientJourneys, JourneyStatus
from ndtms.dashboard import dashboard_page
from ndtms.web_access import UNAUTHORISED, operations_only
from services.journey.queries import JourneyFilter, list_journeys, person_document

MAX_PAGE_SIZE = 500
CLIENT_KEY_PATTERN = r"^[0-9a-f]{32}$"


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
    credentials: CredentialStore,
    dashboard: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="NDTMS journey service",
        version="1",
        description="Each person's treatment journeys (NDTMS rule), for operations staff. "
        "Every /v1 query needs an API key with the operations role: `Authorization: Bearer <key>`.",
    )
    queries = APIRouter(
        prefix="/v1", dependencies=[Depends(operations_only(credentials))], responses=UNAUTHORISED
    )

    @app.get("/v1/health", tags=["operations"])
    def health() -> JSONResponse:
        """Readiness: 503 while starting or stopping."""
        ready = is_ready()
        body = {"status": "ready" if ready else "starting", "app": "journey"}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/v1/live", tags=["operations"])
    def live() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "alive", "app": "journey"}

    @app.get("/metrics", tags=["operations"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @queries.get(
        "/clients/{client_key}/journeys",
        response_model=ClientJourneys,
        responses={404: {"description": "no accepted episode of this client key"}},
    )
    def client_journeys(
        client_key: Annotated[str, Path(pattern=CLIENT_KEY_PATTERN, description="32 hex characters")],
    ) -> Any:
        with Session(engine) as session:
            document = person_document(session, client_key)
        if document is None:
            raise HTTPException(404, detail=f"no journeys for client key {client_key}")
        return document

    @queries.get("/journeys", response_model=JourneyListing)
    def journeys(
        status: JourneyStatus | None = None,
        provider: Annotated[str | None, Query(max_length=40)] = None,
        started_from: date | None = None,
        started_to: date | None = None,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    ) -> Any:
        where = JourneyFilter(status, provider, started_from, started_to)
        with Session(engine) as session:
            found = list_journeys(session, where, page, page_size)
        return {
            "items": found.items,
            "page": found.page,
            "page_size": found.page_size,
            "total": found.total,
            "next_page": found.next_page,
        }

    app.include_router(queries)
    if dashboard is not None:
        _add_dashboard(app, dashboard)
    return app


def _add_dashboard(app: FastAPI, dashboard: Callable[[], dict[str, Any]]) -> None:
    """The operations page: aggregates only, no key needed (like /metrics; keep both inside)."""

    @app.get("/ops", response_class=HTMLResponse, tags=["operations"], include_in_schema=False)
    def page() -> str:
        return dashboard_page()

    @app.get("/ops/data", tags=["operations"], include_in_schema=False)
    def data() -> dict[str, Any]:
        return dashboard()
