"""Running a stage as a process: logging, health and metrics over HTTP, lag, signals, shutdown.

Every stream stage is started by `run_stage`, so they all answer the same pages
(`/health` ready or 503, `/live`, `/metrics`) on `NDTMS_SERVICE_HOST` and their port.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from ndtms.contract.settings import PlatformSettings
from ndtms.metrics import LagSampler
from ndtms.stream.pages import page_handler
from ndtms.stream.runner import Processor, StageRunner

log = logging.getLogger(__name__)


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
    # Each record allocates many short-lived objects; with the default threshold (700) the
    # collector runs every few records and walks every long-lived object each time.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    runner = StageRunner(settings, processor, group_id, instance_name(settings, port))
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    pages = page_handler(group_id, lambda: runner.ready, lambda: runner.last_loop)
    server = ThreadingHTTPServer((settings.service_host, port), pages)
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
