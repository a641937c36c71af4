"""A stage's HTTP pages: `/health` (ready or 503), `/live`, `/metrics`; and their OpenAPI document.

A stage serves these three pages only, from the standard library's threaded server: no
framework on a process whose work is the stream. Every other path is a 404 and every other
method a 405, both as RFC 9457 problems like the other services' refusals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ndtms.web.pages import HEALTH_RESPONSES, METRICS_MEDIA_TYPE, Health
from ndtms.web.problems import PROBLEM_MEDIA_TYPE, Problem, title_of, with_problem_schemas

STALLED_SECONDS = 120  # a loop that has not come round for this long is not alive
PAGES = ("/health", "/live", "/metrics")


def page_handler(
    app: str, is_ready: Callable[[], bool], last_loop: Callable[[], float]
) -> type[BaseHTTPRequestHandler]:
    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def _answer(self, with_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST, with_body)
            elif path == "/health":
                # Readiness: 503 until the state is restored and while partitions move.
                ready = is_ready()
                self._health(ready, Health(status="ready" if ready else "starting", app=app), with_body)
            elif path == "/live":
                alive = time.monotonic() - last_loop() < STALLED_SECONDS
                self._health(alive, Health(status="alive" if alive else "stalled", app=app), with_body)
            else:
                self._problem(404, f"no page {path}: this stage serves {', '.join(PAGES)}", with_body)

        def _refuse_method(self) -> None:
            detail = f"{self.command} is not served: the pages answer GET"
            self._problem(405, detail, True, {"Allow": "GET, HEAD"})

        def __getattr__(self, name: str) -> Any:
            # The server looks up `do_<METHOD>`; without one it answers 501. Every method but GET
            # and HEAD (POST, QUERY, anything) is a 405 instead.
            if name.startswith("do_"):
                return self._refuse_method
            raise AttributeError(name)

        def _health(self, good: bool, body: Health, with_body: bool) -> None:
            content = body.model_dump_json(exclude_none=True).encode()
            self._send(200 if good else 503, content, "application/json", with_body)

        def _problem(
            self, status: int, detail: str, with_body: bool, headers: dict[str, str] | None = None
        ) -> None:
            body = Problem(
                title=title_of(status),
                status=status,
                detail=detail,
                instance=self.path.split("?", 1)[0],
            )
            self._send(status, body.model_dump_json().encode(), PROBLEM_MEDIA_TYPE, with_body, headers)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            with_body: bool,
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every 15 s would drown the log

    return Pages


def _health_responses() -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
    return {
        str(status): {"description": spec["description"], **ref} for status, spec in HEALTH_RESPONSES.items()
    }


def document() -> dict[str, Any]:
    """The OpenAPI document of every stage's pages (docs/stage-openapi.json)."""
    metrics = {
        "200": {
            "description": "Prometheus text exposition format",
            "content": {METRICS_MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    }
    operations = {
        "/health": (
            "Readiness: 503 until the stage's state is restored, and while partitions move.",
            _health_responses(),
        ),
        "/live": (
            "Liveness: 503 when the processing loop has not come round for 120 s.",
            _health_responses(),
        ),
        "/metrics": ("Prometheus metrics of the stage.", metrics),
    }
    paths = {
        path: {"get": {"summary": summary, "operationId": f"stage_{path.strip('/')}", "responses": responses}}
        for path, (summary, responses) in operations.items()
    }
    health = Health.model_json_schema(ref_template="#/components/schemas/{model}")
    return with_problem_schemas(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "NDTMS stream stage pages",
                "version": "1",
                "description": "What the validator and the linker answer on NDTMS_SERVICE_HOST and "
                "their port: health, liveness and metrics. No key is needed; keep the port inside.",
            },
            "paths": paths,
            "components": {"schemas": {"Health": health}},
        }
    )


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
