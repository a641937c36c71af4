"""The journey service's HTTP face: health and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def create_app(is_ready: Callable[[], bool]) -> FastAPI:
    app = FastAPI(title="NDTMS journey service", version="1")

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ready" if is_ready() else "starting", "app": "journey"}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
