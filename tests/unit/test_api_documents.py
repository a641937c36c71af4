"""The OpenAPI documents are generated from the code and say what the services answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _ingest() -> str:
    from services.ingest.openapi import render  # noqa: PLC0415 - FastAPI only for these tests

    return render()


def _journey() -> str:
    from services.journey.openapi import render  # noqa: PLC0415

    return render()


def _stage() -> str:
    from ndtms.stream.pages import render  # noqa: PLC0415

    return render()


DOCUMENTS: dict[str, tuple[Callable[[], str], str]] = {
    "ingest-openapi.json": (_ingest, "services.ingest.openapi"),
    "journey-openapi.json": (_journey, "services.journey.openapi"),
    "stage-openapi.json": (_stage, "ndtms.stream.pages"),
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_checked_in_document_is_current(name: str) -> None:
    render, module = DOCUMENTS[name]
    assert (DOCS / name).read_text() == render(), (
        f"docs/{name} is stale: run `.venv/bin/python -m {module} > docs/{name}`"
    )


def _operations(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    document = json.loads((DOCS / name).read_text())
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_refusal_is_documented_as_a_problem(name: str) -> None:
    for path, method, operation in _operations(name):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert list(response["content"]) == ["application/problem+json"], (path, method, status)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_metrics_are_text_and_health_has_its_503(name: str) -> None:
    found = {path: operation for path, _, operation in _operations(name)}
    metrics = found["/metrics"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    health = found.get("/v1/health") or found["/health"]
    assert {"200", "503"} <= set(health["responses"])


def test_an_update_says_what_a_complete_snapshot_needs() -> None:
    document = json.loads((DOCS / "ingest-openapi.json").read_text())
    update = document["components"]["schemas"]["EpisodeUpdate"]
    [completeness, custody] = update["allOf"]
    assert completeness["else"]["required"] == ["setting", "recorded_at", "client", "referral_date"]
    assert custody["then"] == {"properties": {"custody": {"type": "null"}}}
    batch = document["paths"]["/v1/episodes"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["oneOf"][1]["minItems"] == 1
