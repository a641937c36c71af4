"""A stage's pages: health, liveness and metrics, and one problem shape for everything else."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import httpx
import pytest

from ndtms.stream.pages import STALLED_SECONDS, page_handler


class Stage:
    ready = False
    last_loop = time.monotonic()


@pytest.fixture
def pages() -> Iterator[tuple[str, type[Stage]]]:
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), page_handler("ndtms-test", lambda: Stage.ready, lambda: Stage.last_loop)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Stage
    server.shutdown()
    server.server_close()


def test_health_follows_readiness(pages: tuple[str, type[Stage]]) -> None:
    url, stage = pages
    stage.ready = False
    starting = httpx.get(f"{url}/health")
    assert (starting.status_code, starting.json()) == (503, {"status": "starting", "app": "ndtms-test"})
    stage.ready = True
    assert httpx.get(f"{url}/health").json()["status"] == "ready"


def test_liveness_follows_the_loop(pages: tuple[str, type[Stage]]) -> None:
    url, stage = pages
    stage.last_loop = time.monotonic()
    assert httpx.get(f"{url}/live").status_code == 200
    stage.last_loop = time.monotonic() - STALLED_SECONDS - 1
    assert httpx.get(f"{url}/live").json() == {"status": "stalled", "app": "ndtms-test"}


def test_metrics_are_prometheus_text(pages: tuple[str, type[Stage]]) -> None:
    url, _ = pages
    response = httpx.get(f"{url}/metrics")
    assert response.headers["content-type"].startswith("text/plain") and "# HELP" in response.text


@pytest.mark.parametrize(
    ("method", "path", "status", "says"),
    [
        ("GET", "/nothing", 404, "no page /nothing"),
        ("POST", "/health", 405, "POST is not served"),
        ("QUERY", "/metrics", 405, "QUERY is not served"),
    ],
)
def test_everything_else_is_a_problem(
    pages: tuple[str, type[Stage]], method: str, path: str, status: int, says: str
) -> None:
    url, _ = pages
    response = httpx.request(method, f"{url}{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and says in body["detail"] and body["instance"] == path
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"
