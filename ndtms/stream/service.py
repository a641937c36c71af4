"""Running a stage as a process: logging, health and metrics over HTTP, lag, signals, shutdown.

Every stream stage is started by `run_stage`, so they all answer the same pages
(`/health` ready or 503, `/live`, `/metrics`) on `NDTMS_SERVICE_HOST` and their port.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ndtms.contract.settings import PlatformSettings
from ndtms.logs import configure_logging
from ndtms.metrics import LagSampler
from ndtms.stream.runner import Processor, StageRunner

log = logging.getLogger(__name__)
STALLED_SECONDS = 120  # a loop that has not come round for this long is not alive


def instance_name(settings: PlatformSettings, port: int) -> str:
    """Stable across restarts of the same instance, distinct between instances of one group."""
    return settings.stream_instance_id or f"{socket.gethostname()}-{port}"


def run_stage(
    settings: PlatformSettings,
    processor: Processor,
    group_id: str,
    port: int,
    extra_threads: Callable[[threading.Event], None] | None = None,
) -> None:
    configure_logging(group_id)
    # Each record allocates many short-lived objects; with the default threshold (700) the
    # collector runs every few records and walks every long-lived object each time.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    if settings.uses_development_key:
        settings.pseudonym_secret()  # logs the development-key warning in this service's log
    runner = StageRunner(settings, processor, group_id, instance_name(settings, port))
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    server = ThreadingHTTPServer((settings.service_host, port), _pages(runner, group_id))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"{group_id}-http", daemon=True).start()
    lag = LagSampler(
        settings, processor.service, group_id, {t: _partitions(runner, t) for t in processor.topics}
    )
    lag.start()
    if extra_threads is not None:
        extra_threads(stopping)
    log.info("started", extra={"service": processor.service})
    try:
        runner.run(stopping.is_set)
    finally:
        lag.stop.set()
        server.shutdown()
        runner.producer.flush(30)
        log.info("stopped", extra={"service": processor.service})


def _partitions(runner: StageRunner, topic: str) -> int:
    metadata = runner.consumer.list_topics(topic, timeout=30).topics[topic]
    return len(metadata.partitions)


def _pages(runner: StageRunner, group_id: str) -> type[BaseHTTPRequestHandler]:
    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path == "/health":
                # Readiness: 503 until the state is restored and while partitions move.
                ready = runner.ready
                body = {"status": "ready" if ready else "starting", "app": group_id}
                self._json(200 if ready else 503, body)
            elif path == "/live":
                alive = time.monotonic() - runner.last_loop < STALLED_SECONDS
                self._json(
                    200 if alive else 503, {"status": "alive" if alive else "stalled", "app": group_id}
                )
            else:
                self._json(404, {"error": f"no page {path}; try /health, /live or /metrics"})

        def _json(self, status: int, body: dict[str, str]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every 15 s would drown the log

    return Pages
