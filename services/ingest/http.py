"""The ingest HTTP API: `POST /v1/episodes`, health and metrics."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import KafkaException, Producer
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.concurrency import run_in_threadpool

from services.ingest.parsing import Parsed, Problem, parse_object, reject_duplicates
from services.ingest.publishing import RawTopicWriter
from services.ingest.settings import IngestSettings

RECORDS = Counter(
    "ndtms_ingest_records_total", "Episode updates received, by outcome and channel", ["outcome", "channel"]
)


def _result(item: Parsed, delivered_error: str | None = None) -> dict[str, Any]:
    if item.update is not None and not item.problems and delivered_error is None:
        u = item.update
        return {
            "index": item.position,
            "status": "accepted",
            "provider_id": u.provider_id,
            "episode_id": u.episode_id,
            "revision": u.revision,
        }
    problems = [*item.problems] + ([Problem("", delivered_error)] if delivered_error else [])
    return {
        "index": item.position,
        "status": "rejected",
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(settings: IngestSettings, writer: RawTopicWriter, producer: Producer) -> FastAPI:
    app = FastAPI(
        title="NDTMS ingest API",
        version="1",
        description="Publish NDTMS episode updates (full snapshots of one episode) "
        "for validation and linkage.",
    )

    @app.post("/v1/episodes")
    async def publish_episodes(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > settings.ingest_max_body_bytes:
            return _error(
                413,
                f"body is {len(body)} bytes; the limit is {settings.ingest_max_body_bytes}: split the batch",
            )
        try:
            data = json.loads(body)
        except UnicodeDecodeError:
            return _error(400, "body is not UTF-8 JSON")
        except json.JSONDecodeError as exc:
            return _error(400, f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        records = data if isinstance(data, list) else [data]
        if not records:
            return _error(422, "empty batch: send one update object or a non-empty array of them")
        if len(records) > settings.ingest_max_batch:
            return _error(413, f"batch of {len(records)} records; the limit is {settings.ingest_max_batch}")
        parsed = list(reject_duplicates((parse_object(i, r) for i, r in enumerate(records)), unit="index"))
        valid = [p for p in parsed if p.accepted]
        deliveries = iter(await _write(writer, [p.update for p in valid if p.update is not None]))
        results = []
        for item in parsed:
            error = next(deliveries).error if item.accepted else None
            results.append(_result(item, error))
        accepted = sum(1 for r in results if r["status"] == "accepted")
        RECORDS.labels("accepted", "http").inc(accepted)
        RECORDS.labels("rejected", "http").inc(len(results) - accepted)
        status = 200 if accepted == len(results) else 422 if accepted == 0 else 207
        return JSONResponse(
            {"accepted": accepted, "rejected": len(results) - accepted, "results": results},
            status_code=status,
        )

    @app.get("/v1/health")
    def health() -> JSONResponse:
        try:
            producer.list_topics(timeout=2)
        except KafkaException as exc:
            return JSONResponse({"status": "broker unreachable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready", "app": "ingest"})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _write(writer: RawTopicWriter, updates: list[Any]) -> list[Any]:
    # The writer blocks until the broker acknowledges; keep the event loop free meanwhile.
    return await run_in_threadpool(writer.write, updates) if updates else []
