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
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from ndtms.metrics import LagSampler
from ndtms.stream.claim import InstanceClaim, InstanceInUse
from ndtms.stream.pages import page_handler
from ndtms.stream.processor import Processor
from ndtms.stream.runner import StageRunner
from ndtms_contract.settings import PlatformSettings

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
    instance = instance_name(settings, port)
    # Before anything touches Kafka: a second process with this id (or this port) stops here,
    # instead of fencing the one already running.
    claim = InstanceClaim(settings.bootstrap_servers, group_id, instance)
    try:
        claim.take()
    except InstanceInUse as exc:
        log.error("%s", exc, extra={"service": processor.service})
        raise SystemExit(f"{processor.service}: {exc}") from None
    holder: list[StageRunner] = []
    pages = page_handler(group_id, lambda: bool(holder) and holder[0].ready, lambda: _last_loop(holder))
    try:
        server = ThreadingHTTPServer((settings.service_host, port), pages)
    except OSError as exc:
        claim.release()
        raise SystemExit(
            f"{processor.service}: cannot listen on {settings.service_host}:{port}: {exc}"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"{group_id}-http", daemon=True).start()
    runner = StageRunner(settings, processor, group_id, instance)
    holder.append(runner)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    lag = LagSampler(
        settings,
        processor.service,
        group_id,
        {t: _partitions(runner, t) for t in processor.topics},
        held=lambda: runner.assigned,
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
        claim.release()
        log.info("stopped", extra={"service": processor.service})


def _last_loop(holder: list[StageRunner]) -> float:
    # Before the runner exists the loop has not started: alive as of now.
    return holder[0].last_loop if holder else time.monotonic()


def _partitions(runner: StageRunner, topic: str) -> int:
    metadata = runner.consumer.list_topics(topic, timeout=30).topics[topic]
    return len(metadata.partitions)
