"""The ingest HTTP API: `POST /v1/episodes`, health and metrics."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' dependency annotations at
# runtime, and they name a local of create_app.
import json
import tempfile
from typing import Annotated, Any

from confluent_kafka import KafkaException, Producer
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from starlette.concurrency import run_in_threadpool

from ndtms.access import Credential, CredentialStore
from ndtms.clocks import Clock
from ndtms.contract.episodes import EpisodeUpdate
from ndtms.contract.topics import RAW
from ndtms.metrics import PRODUCED
from ndtms.web_access import UNAUTHORISED, authenticated
from services.ingest.extract_runs import publish_extract
from services.ingest.extracts import BadExtract
from services.ingest.ledger import ExtractLedger
from services.ingest.parsing import Parsed, Problem, parse_object, reject_duplicates
from services.ingest.publishing import RawTopicWriter
from services.ingest.settings import IngestSettings

LAST_PUBLISHED = Gauge(
    "ndtms_provider_last_published_timestamp_seconds",
    "When each provider last had updates accepted by this ingest service (Unix time)",
    ["provider"],
)
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


def create_app(
    settings: IngestSettings,
    writer: RawTopicWriter,
    producer: Producer,
    credentials: CredentialStore,
    ledger: ExtractLedger,
    clock: Clock,
) -> FastAPI:
    app = FastAPI(
        title="NDTMS ingest API",
        version="1",
        description="Publish NDTMS episode updates (full snapshots of one episode) for validation and "
        "linkage. Every /v1 call except health needs an API key bound to the provider codes it "
        "publishes for: `Authorization: Bearer <key>`.",
    )
    vendor = authenticated(credentials)

    @app.post(
        "/v1/episodes",
        responses={
            **UNAUTHORISED,
            200: {"description": "every record accepted (acknowledged by the broker)"},
            207: {"description": "some records accepted, some rejected; see results"},
            413: {"description": "body or batch too large"},
            422: {"description": "no record accepted; see results"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/EpisodeUpdate"},
                                {"type": "array", "items": {"$ref": "#/components/schemas/EpisodeUpdate"}},
                            ]
                        }
                    }
                },
            }
        },
    )
    async def publish_episodes(
        request: Request, credential: Annotated[Credential, Depends(vendor)]
    ) -> JSONResponse:
        """One episode update, or a JSON array of up to the batch limit; answered per record."""
        # Read no further than the limit: a 50 MB body is refused after 5 MB, not held whole.
        parts: list[bytes] = []
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > settings.ingest_max_body_bytes:
                return _error(
                    413, f"body is over the limit of {settings.ingest_max_body_bytes} bytes: split the batch"
                )
            parts.append(part)
        body = b"".join(parts)
        if not body.strip():
            return _error(400, "the body is empty: send one update object or an array of them")
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
        forbidden = sorted(
            {
                p.update.provider_id
                for p in parsed
                if p.update is not None and not credential.may_publish_for(p.update.provider_id)
            }
        )
        if forbidden:
            return _error(
                403,
                f"credential {credential.id} may not publish for provider(s) {', '.join(forbidden)}; "
                "nothing in this request was published",
            )
        valid = [p for p in parsed if p.accepted]
        deliveries = iter(await _write(writer, [p.update for p in valid if p.update is not None]))
        results = []
        for item in parsed:
            error = next(deliveries).error if item.accepted else None
            results.append(_result(item, error))
        accepted = sum(1 for r in results if r["status"] == "accepted")
        RECORDS.labels("accepted", "http").inc(accepted)
        PRODUCED.labels("ingest", RAW.name).inc(accepted)
        for provider in {r["provider_id"] for r in results if r["status"] == "accepted"}:
            LAST_PUBLISHED.labels(provider).set(clock().timestamp())
        RECORDS.labels("rejected", "http").inc(len(results) - accepted)
        status = 200 if accepted == len(results) else 422 if accepted == 0 else 207
        return JSONResponse(
            {"accepted": accepted, "rejected": len(results) - accepted, "results": results},
            status_code=status,
        )

    @app.post(
        "/v1/extracts",
        responses={
            **UNAUTHORISED,
            200: {"description": "every row published or unchanged"},
            207: {"description": "some rows rejected; see rejections"},
            413: {"description": "file too large"},
            422: {"description": "the file cannot be read (header), or every row was rejected"},
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
        },
    )
    async def publish_extract_upload(
        request: Request,
        credential: Annotated[Credential, Depends(vendor)],
        provider: Annotated[str, Query(min_length=1, max_length=40, description="the extract's AGNCY")],
    ) -> JSONResponse:
        """A provider's NDTMS-style CSV extract (full snapshot); revisions derived from content."""
        if not credential.may_publish_for(provider):
            return _error(403, f"credential {credential.id} may not publish for provider {provider}")
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed below
        try:
            size = 0
            async for part in request.stream():
                size += len(part)
                if size > settings.ingest_max_extract_bytes:
                    return _error(
                        413, f"extract is over {settings.ingest_max_extract_bytes} bytes: split it by month"
                    )
                spool.write(part)
            spool.seek(0)
            try:
                summary = await run_in_threadpool(publish_extract, spool, provider, writer, ledger, clock())
            except BadExtract as exc:
                return _error(422, str(exc))
        finally:
            spool.close()
        RECORDS.labels("accepted", "csv").inc(summary.published + summary.unchanged)
        PRODUCED.labels("ingest", RAW.name).inc(summary.published)
        if summary.published or summary.unchanged:
            LAST_PUBLISHED.labels(provider).set(clock().timestamp())
        RECORDS.labels("rejected", "csv").inc(summary.rejected)
        status = 200 if not summary.rejected else 422 if summary.rejected == summary.rows else 207
        return JSONResponse(summary.as_json(), status_code=status)

    @app.get("/v1/health")
    def health() -> JSONResponse:
        try:
            producer.list_topics(timeout=2)
        except KafkaException as exc:
            return JSONResponse({"status": "broker unreachable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready", "app": "ingest"})

    @app.get("/v1/live")
    def live() -> JSONResponse:
        """Liveness: the process answers (readiness, with the broker, is /v1/health)."""
        return JSONResponse({"status": "alive", "app": "ingest"})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.openapi = lambda: _openapi_with_contract(app)  # type: ignore[method-assign]
    return app


def _openapi_with_contract(app: FastAPI) -> dict[str, Any]:
    """The generated document plus the event contract's schema, which the bodies refer to."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema = EpisodeUpdate.model_json_schema(ref_template="#/components/schemas/{model}")
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(schema.pop("$defs", {}))
        components["EpisodeUpdate"] = schema
        app.openapi_schema = document
    return app.openapi_schema


async def _write(writer: RawTopicWriter, updates: list[Any]) -> list[Any]:
    # The writer blocks until the broker acknowledges; keep the event loop free meanwhile.
    return await run_in_threadpool(writer.write, updates) if updates else []
