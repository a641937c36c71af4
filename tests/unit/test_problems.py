"""RFC 9457 problems: one shape for every refusal, and for the error that must never happen."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import pytest
from fastapi import FastAPI, HTTPException, Query
from fastapi.testclient import TestClient

from ndtms.logs import JsonFormatter
from ndtms.web.problems import install_problem_handlers


def app() -> FastAPI:
    made = FastAPI()
    install_problem_handlers(made)

    @made.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug with a secret detail")

    @made.get("/missing")
    def missing() -> None:
        raise HTTPException(404, detail="no such thing")

    @made.get("/paged")
    def paged(page: Annotated[int, Query(ge=1, le=10)]) -> int:
        return page

    return made


CLIENT = TestClient(app(), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("path", "status", "detail", "errors"),
    [
        ("/missing", 404, "no such thing", []),
        ("/nowhere", 404, "Not Found", []),
        (
            "/paged?page=11",
            422,
            "the request is not valid: query.page: got '11'; expected a number at most 10",
            [{"path": "query.page", "message": "got '11'; expected a number at most 10"}],
        ),
        (
            "/paged",
            422,
            "the request is not valid: query.page: is required",
            [{"path": "query.page", "message": "is required"}],
        ),
    ],
)
def test_refusals_are_problems(path: str, status: int, detail: str, errors: list[dict[str, str]]) -> None:
    response = CLIENT.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": {404: "Not Found", 422: "Unprocessable Content"}[status],
        "status": status,
        "detail": detail,
        "instance": path.split("?", maxsplit=1)[0],
        "errors": errors,
    }


def test_an_unexpected_error_is_a_500_problem_and_one_json_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        response = CLIENT.get("/broken")
    assert (
        response.status_code == 500 and response.json()["detail"] == "an unexpected error; it has been logged"
    )
    assert "secret" not in response.text
    [record] = [r for r in caplog.records if r.name == "ndtms.web.problems"]
    line = JsonFormatter("ndtms-test").format(record)
    assert "\n" not in line and "RuntimeError" in json.loads(line)["error"]
