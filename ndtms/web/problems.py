"""RFC 9457 problem details: the one error shape of every HTTP API of the platform.

Every refusal (400, 401, 403, 404, 405, 413, 422, and the 500 that must never happen) is
`application/problem+json`: `type`, `title`, `status`, `detail` (what was received, what is
expected, what to do), `instance` (the path asked for), and `errors`, our extension listing
each problem with where it is. Operations that answer per record add their own extension
(`results` on the ingest API), so a client reads one shape whatever went wrong.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from ndtms_contract.explanations import explain

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# RFC 9110's names where Python's HTTPStatus still has the older ones.
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


class FieldProblem(BaseModel):
    """One thing wrong and where: a JSON path in the body, or `query.NAME` / `path.NAME`."""

    path: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with `errors` (and per operation, more members) as extensions."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] = []


def problem(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title_of(status),
        "status": status,
        "detail": detail,
        **({"instance": instance} if instance else {}),
        "errors": [e.model_dump() for e in errors or []],
        **(extensions or {}),
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def title_of(status: int) -> str:
    return TITLES.get(status) or HTTPStatus(status).phrase


def problem_responses(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for refusals: `problem_responses(s404="no such client")`."""
    return {
        int(name.removeprefix("s")): {
            "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
        }
        for name, description in descriptions.items()
    }


def with_problem_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Add `Problem` and `FieldProblem` to a generated document's components."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    components["Problem"] = schema
    return document


def install_problem_handlers(app: FastAPI) -> None:
    """Every refusal FastAPI or Starlette makes on its own answers in the same shape."""

    async def http_refusal(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).description
        allowed = (exc.headers or {}).get("Allow")
        if exc.status_code == 405 and allowed:
            detail = f"{request.method} is not allowed on {request.url.path}; it answers {allowed}"
        return problem(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [request_problem(e) for e in exc.errors()]
        listed = "; ".join(f"{e.path}: {e.message}" for e in errors)
        return problem(422, f"the request is not valid: {listed}", instance=request.url.path, errors=errors)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged as one JSON line with the traceback; the caller learns nothing internal.
        log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "an unexpected error; it has been logged", instance=request.url.path)

    app.add_exception_handler(HTTPException, http_refusal)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)


def request_problem(error: Any) -> FieldProblem:
    """A FastAPI parameter error in our words: `query.page`, and no library prefixes."""
    location = [str(part) for part in error.get("loc", ())]
    message = "is required" if error.get("type") == "missing" else explain(error)
    return FieldProblem(path=".".join(location) or "request", message=message)
