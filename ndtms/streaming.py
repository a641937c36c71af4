"""What the faust stream processors (validator, linker) share: app wiring, health and metrics pages."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ndtms.contract.settings import PlatformSettings
from ndtms.logs import logging_config


def faust_app(settings: PlatformSettings, app_id: str, port: int, datadir: Path) -> faust.App:
    # faust makes only the last level of its data folder: a fresh state folder must exist first.
    datadir.parent.mkdir(parents=True, exist_ok=True)
    brokers = ";".join(f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(","))
    app = faust.App(
        app_id,
        broker=brokers,
        store="rocksdb://",
        datadir=str(datadir),
        web_host=settings.service_host,
        web_port=port,
        web_in_thread=False,
        autodiscover=False,
        topic_replication_factor=1,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_partitioner=None,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        table_standby_replicas=0,
        # A crashed worker's partitions move on after 10 s rather than faust's default minute:
        # the group waits a session timeout for a member that will never answer.
        broker_credentials=_credentials(settings),
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
    )
    _add_health_and_metrics(app)
    return app


def _credentials(settings: PlatformSettings) -> faust.types.auth.CredentialsT | None:
    """The same TLS and SASL settings the librdkafka clients get, in faust's (aiokafka's) terms."""
    context = None
    if settings.uses_tls:
        cafile = str(settings.kafka_ssl_ca_location) if settings.kafka_ssl_ca_location else None
        context = ssl.create_default_context(cafile=cafile)
    if settings.uses_sasl:
        assert settings.kafka_sasl_username and settings.kafka_sasl_password  # the settings insist
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context is not None else None


def _add_health_and_metrics(app: faust.App) -> None:
    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        tables: Any = app.tables
        ready = tables.recovery.completed.is_set() and not app.rebalancing
        # Readiness: 503 until the tables are restored and while partitions move.
        body = {"status": "ready" if ready else "starting", "app": app.conf.id}
        return web.json(body, status=200 if ready else 503)

    @app.page("/live")
    async def live(web: Any, request: Any) -> Any:
        # Liveness: the worker's event loop answers; restarting it would not help anything else.
        return web.json({"status": "alive", "app": app.conf.id})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset in content_type=, so the full header goes in as a header.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def run_worker(app: faust.App) -> None:
    """Run the app as this process's worker until SIGTERM."""
    worker = faust.Worker(app, loglevel="info", logging_config=logging_config(app.conf.id))
    worker.execute_from_commandline()
