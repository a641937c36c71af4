"""The ingest HTTP API: `POST /v1/episodes`, health and metrics.

Longer than most modules (about 450 lines): one FastAPI app whose endpoints (episodes,
extracts, objections, credentials' checks) share `create_app`'s locals and its dependency
annotations, which FastAPI reads at runtime; the shape checks, extracts, ledger and outcomes
they call are modules of their own.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' dependency annotations at
# runtime, and they name a local of create_app.
import json
import tempfile
from typing import Annotated, Any

from confluent_kafka import KafkaException, Producer
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from starlette.concurrency import run_in_threadpool

from ndtms.access import Credential, Credentials
from ndtms.audit import AuditUnavailable
from ndtms.clocks import Clock
from ndtms.erasing import ErasureLedger, ErasureNotRecorded
from ndtms.metrics import PRODUCED
from ndtms.web.access import UNAUTHORISED, authenticated, record_refusal
from ndtms.web.pages import HEALTH_RESPONSES, METRICS_RESPONSES, Health
from ndtms.web.problems import (
    FieldProblem,
    install_problem_handlers,
    problem,
    problem_responses,
    with_problem_schemas,
)
from ndtms_client.raw_topic import RawTopicWriter
from ndtms_contract.episodes import IDENTIFIER_PATTERN, EpisodeUpdate
from ndtms_contract.erasures import Objection
from ndtms_contract.parsing import Parsed, Problem, parse_object, reject_duplicates, whole_batch
from ndtms_contract.topics import RAW
from services.ingest.extract_runs import publish_extract
from services.ingest.extracts import BadExtract, extract_pattern
from services.ingest.ledger import ExtractLedger
from services.ingest.objections import extract_objector, record_objection
from services.ingest.outcomes import ExtractOutcome, ObjectionRecorded, Publication
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
    undelivered = Problem("$", f"the broker did not acknowledge it ({delivered_error}); send it again")
    problems = [*item.problems] + ([undelivered] if delivered_error else [])
    return {
        "index": item.position,
        "status": "rejected",
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }


class _Refused(Exception):
    """A request refused before any record is looked at (its body, its size, its length)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _records_of(body: bytes, max_batch: int) -> tuple[list[Any], bool]:
    """The body's records, and whether it was a batch (an array) rather than one object."""
    if not body.strip():
        raise _Refused(400, "the body is empty: send one update object or a JSON array of them")
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise _Refused(400, "the body is not UTF-8: send JSON encoded as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise _Refused(
            400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _Refused(
            400,
            "the body nests arrays or objects too deeply to be an update: send one update object "
            "or a flat JSON array of them",
        ) from None
    if not isinstance(data, list):
        return [data], False
    if not data:
        raise _Refused(422, "the batch is empty: send one update object or an array of 1 or more")
    if len(data) > max_batch:
        raise _Refused(422, f"the batch has {len(data)} records; the limit is {max_batch}: split it")
    return data, True


async def _body_within(request: Request, limit: int, advice: str) -> bytes:
    # Read no further than the limit: a 50 MB body is refused after 5 MB, not held whole.
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise _Refused(413, f"the body is over the limit of {limit} bytes: {advice}")
        parts.append(part)
    return b"".join(parts)


# Synthetic examples (made-up people): the OpenAPI document shows them, and schemathesis sends them.
EXAMPLE_UPDATE = {
    "provider_id": "P0001",
    "episode_id": "EP-1001",
    "revision": 1,
    "setting": "community",
    "recorded_at": "2024-04-01T09:30:00Z",
    "client": {
        "first_initial": "J",
        "second_initial": "S",
        "date_of_birth": "1985-03-02",
        "sex": "male",
        "local_authority": "E09000033",
        "consent": True,
    },
    "referral_date": "2024-03-05",
    "triage_date": "2024-03-06",
    "interventions": [{"intervention_id": "EP-1001-1", "type": "psychosocial", "start_date": "2024-03-08"}],
}
EXAMPLE_OBJECTION = {
    "provider_id": "P0001",
    "client": {"first_initial": "J", "second_initial": "S", "date_of_birth": "1985-03-02", "sex": "male"},
    "recorded_at": "2024-04-02T11:00:00Z",
}
EXAMPLE_WITHDRAWAL = {"provider_id": "P0001", "episode_id": "EP-1001", "revision": 2, "deleted": True}
EXAMPLE_EXTRACT = (
    "AGNCY,EPISODID,SETTING,FINITIAL,SINITIAL,DOB,SEX,LA,CONSENT,REFLD,TRIAGED,PSYCHSTART\n"
    "P0001,EP-2001,C,A,B,02/03/1985,2,E09000033,Y,05/03/2024,06/03/2024,08/03/2024\n"
)


def _batch_schema(max_batch: int) -> dict[str, Any]:
    return {
        "oneOf": [
            {"$ref": "#/components/schemas/EpisodeUpdate"},
            {
                "type": "array",
                "minItems": 1,
                "maxItems": max_batch,
                # Each element is answered on its own (results[i]), so any element is a
                # well-formed part of a batch: one that is not an EpisodeUpdate is rejected
                # while the others are published.
                "items": {"description": "an EpisodeUpdate; any other element is rejected on its own"},
                "description": "a batch: answered per record (200 all accepted, 207 otherwise)",
            },
        ]
    }


def create_app(
    settings: IngestSettings,
    writer: RawTopicWriter,
    producer: Producer,
    credentials: Credentials,
    ledger: ExtractLedger,
    erasures: ErasureLedger,
    clock: Clock,
) -> FastAPI:
    app = FastAPI(
        title="NDTMS ingest API",
        version="1",
        description="Publish NDTMS episode updates (full snapshots of one episode) for validation and "
        "linkage. Every /v1 call except health needs an API key bound to the provider codes it "
        "publishes for: `Authorization: Bearer <key>`. Every refusal is an RFC 9457 problem "
        "(`application/problem+json`) saying what is wrong, where, and what to do.",
    )
    install_problem_handlers(app)
    vendor = authenticated(credentials)

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, _Refused)
        return problem(exc.status, exc.detail, instance=request.url.path)

    @app.post(
        "/v1/episodes",
        responses={
            200: {"description": "every record accepted (acknowledged by the broker)", "model": Publication},
            207: {
                "description": "a batch with some or all records rejected; see results",
                "model": Publication,
            },
            **UNAUTHORISED,
            **problem_responses(
                s400="the body is empty, not UTF-8, or not JSON",
                s413="the body is over the size limit",
                s422="one update that was rejected (see results), or a batch that is empty or too long",
            ),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _batch_schema(settings.ingest_max_batch),
                        "examples": {
                            "update": {"summary": "one episode's snapshot", "value": EXAMPLE_UPDATE},
                            "withdrawal": {"summary": "withdraw an episode", "value": EXAMPLE_WITHDRAWAL},
                            "batch": {"summary": "a batch", "value": [EXAMPLE_UPDATE]},
                        },
                    }
                },
            }
        },
    )
    async def publish_episodes(
        request: Request, credential: Annotated[Credential, Depends(vendor)]
    ) -> JSONResponse:
        """One episode update, or a JSON array of up to the batch limit; answered per record."""
        body = await _body_within(request, settings.ingest_max_body_bytes, "split the batch")
        whole = whole_batch(body, settings.ingest_max_batch)
        if whole is not None:
            batch, each = True, iter(whole)
        else:
            records, batch = _records_of(body, settings.ingest_max_batch)
            each = (parse_object(i, r) for i, r in enumerate(records))
        parsed = list(reject_duplicates(each, unit="index"))
        forbidden = sorted(
            {
                p.update.provider_id
                for p in parsed
                if p.update is not None and not credential.may_publish_for(p.update.provider_id)
            }
        )
        if forbidden:
            record_refusal(request, 403, "provider", credential.id)
            return problem(
                403,
                f"credential {credential.id} may not publish for provider(s) {', '.join(forbidden)}; "
                "nothing in this request was published",
                instance=request.url.path,
            )
        valid = [p for p in parsed if p.accepted]
        deliveries = iter(await _write(writer, [p.update for p in valid if p.update is not None]))
        results = []
        for item in parsed:
            error = next(deliveries).error if item.accepted else None
            results.append(_result(item, error))
        accepted = sum(1 for r in results if r["status"] == "accepted")
        _count(accepted, len(results) - accepted, "http", results, clock)
        summary = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
        if accepted == len(results):
            return JSONResponse(summary, status_code=200)
        if batch:
            return JSONResponse(summary, status_code=207)
        problems = results[0]["problems"]
        return problem(
            422,
            "the update was rejected: " + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
            instance=request.url.path,
            errors=[FieldProblem(path=p["path"], message=p["message"]) for p in problems],
            extensions=summary,
        )

    @app.post(
        "/v1/extracts",
        responses={
            200: {"description": "every row published or unchanged", "model": ExtractOutcome},
            207: {"description": "some or all rows rejected; see rejections", "model": ExtractOutcome},
            **UNAUTHORISED,
            **problem_responses(
                s413="the file is over the size limit",
                s415="the file was sent as a form upload (multipart) instead of the raw CSV body",
                s422="the file cannot be read as an extract (no header, unknown or missing columns, "
                "not UTF-8), or `provider` is missing",
            ),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {
                        "schema": {"type": "string", "pattern": extract_pattern()},
                        "example": EXAMPLE_EXTRACT,
                    }
                },
            }
        },
    )
    async def publish_extract_upload(
        request: Request,
        credential: Annotated[Credential, Depends(vendor)],
        provider: Annotated[
            str,
            Query(
                pattern=IDENTIFIER_PATTERN,
                description="the extract's AGNCY (provider code)",
                examples=["P0001"],
            ),
        ],
    ) -> JSONResponse:
        """A provider's NDTMS-style CSV extract (full snapshot); revisions derived from content."""
        if not credential.may_publish_for(provider):
            record_refusal(request, 403, "provider", credential.id)
            return problem(
                403,
                f"credential {credential.id} may not publish for provider {provider}",
                instance=request.url.path,
            )
        sent_as = request.headers.get("content-type", "")
        if sent_as.lower().startswith("multipart/"):
            return problem(
                415,
                "the extract was sent as a form upload (multipart); send the file itself as the body: "
                "curl --data-binary @extract.csv -H 'Content-Type: text/csv' ...",
                instance=request.url.path,
            )
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed below
        try:
            size = 0
            async for part in request.stream():
                size += len(part)
                if size > settings.ingest_max_extract_bytes:
                    return problem(
                        413,
                        f"the extract is over {settings.ingest_max_extract_bytes} bytes: split it by month",
                        instance=request.url.path,
                    )
                spool.write(part)
            spool.seek(0)
            objector = extract_objector(erasures, provider, _actor(credential))
            try:
                summary = await run_in_threadpool(
                    publish_extract, spool, provider, writer, ledger, clock(), objector
                )
            except BadExtract as exc:
                return problem(422, str(exc), instance=request.url.path)
        finally:
            spool.close()
        RECORDS.labels("accepted", "csv").inc(summary.published + summary.unchanged)
        PRODUCED.labels("ingest", RAW.name).inc(summary.published)
        if summary.published or summary.unchanged:
            LAST_PUBLISHED.labels(provider).set(clock().timestamp())
        RECORDS.labels("rejected", "csv").inc(summary.rejected)
        return JSONResponse(summary.as_json(), status_code=207 if summary.rejected else 200)

    @app.post(
        "/v1/objections",
        status_code=202,
        responses={
            202: {
                "description": "on the erasure ledger: every service erases the client",
                "model": ObjectionRecorded,
            },
            **UNAUTHORISED,
            **problem_responses(
                s400="the body is not JSON",
                s422="the objection is not valid (see errors)",
                s503="the objection could not be recorded (the broker did not acknowledge it): send it again",
            ),
        },
        openapi_extra={
            "requestBody": {
                "content": {"application/json": {"examples": {"objection": {"value": EXAMPLE_OBJECTION}}}}
            }
        },
    )
    async def publish_objection(
        request: Request, objection: Objection, credential: Annotated[Credential, Depends(vendor)]
    ) -> JSONResponse:
        """The client objects to NDTMS keeping their records: every episode of theirs, at every
        provider, is erased, and later updates for them are refused. Name them by attributors."""
        if not credential.may_publish_for(objection.provider_id):
            record_refusal(request, 403, "provider", credential.id)
            return problem(
                403,
                f"credential {credential.id} may not act for provider {objection.provider_id}",
                instance=request.url.path,
            )
        try:
            erasure, offset = await run_in_threadpool(
                record_objection, erasures, objection, _actor(credential)
            )
        except (ErasureNotRecorded, AuditUnavailable) as exc:
            return problem(
                503, f"{exc}; nothing was erased: send the objection again", instance=request.url.path
            )
        body = ObjectionRecorded(
            status="recorded",
            provider_id=objection.provider_id,
            erased_at=erasure.erased_at,
            ledger_offset=offset,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=202)

    @app.get("/v1/health", responses=HEALTH_RESPONSES)
    def health() -> JSONResponse:
        """Readiness: the broker answers."""
        try:
            producer.list_topics(timeout=2)
        except KafkaException as exc:
            body = {"status": "broker unreachable", "app": "ingest", "detail": str(exc)}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "app": "ingest"})

    @app.get("/v1/live", response_model=Health)
    def live() -> JSONResponse:
        """Liveness: the process answers (readiness, with the broker, is /v1/health)."""
        return JSONResponse({"status": "alive", "app": "ingest"})

    @app.get("/metrics", response_class=PlainTextResponse, responses=METRICS_RESPONSES)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.openapi = lambda: _openapi_with_contract(app)  # type: ignore[method-assign]
    return app


def _actor(credential: Credential) -> str:
    return f"{credential.name} ({credential.id})"


def _count(accepted: int, rejected: int, channel: str, results: list[dict[str, Any]], clock: Clock) -> None:
    RECORDS.labels("accepted", channel).inc(accepted)
    PRODUCED.labels("ingest", RAW.name).inc(accepted)
    for provider in {r["provider_id"] for r in results if r["status"] == "accepted"}:
        LAST_PUBLISHED.labels(provider).set(clock().timestamp())
    RECORDS.labels("rejected", channel).inc(rejected)


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
        app.openapi_schema = with_problem_schemas(document)
    return app.openapi_schema


async def _write(writer: RawTopicWriter, updates: list[Any]) -> list[Any]:
    # The writer blocks until the broker acknowledges; keep the event loop free meanwhile.
    return await run_in_threadpool(writer.write, updates) if updates else []
