"""The pages every service answers besides its API: readiness, liveness and Prometheus metrics."""

from __future__ import annotations

from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST.split(";", 1)[0]


class Health(BaseModel):
    """`ready` once the service can do its work; `starting` (503) until then or while stopping."""

    status: Literal["ready", "starting", "stopping", "broker unreachable", "alive", "stalled"]
    app: str
    detail: str | None = None


HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "ready", "model": Health},
    503: {"description": "not ready: starting, stopping, or its broker is unreachable", "model": Health},
}

METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {METRICS_MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}
