"""A broker, a registry and the topics, for tests and benchmarks: configured ones or local processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ndtms.localrun.kafka import LocalCluster
from ndtms.localrun.registry import LocalRegistry
from ndtms.localrun.topics import ensure_topics
from ndtms_contract.settings import PlatformSettings


@contextmanager
def platform_running(settings: PlatformSettings, bootstrap: str | None = None) -> Iterator[PlatformSettings]:
    """Start what `settings` does not point elsewhere (stopped again on exit); yield explicit settings."""
    with ExitStack() as stack:
        if bootstrap is None and settings.uses_local_kafka:
            kafka = LocalCluster(settings)
            bootstrap = kafka.start()
            stack.callback(kafka.stop)
        registry_url = settings.schema_registry_url
        if settings.uses_local_registry:
            registry = LocalRegistry(settings)
            registry_url = registry.start()
            stack.callback(registry.stop)
        explicit = settings.model_copy(
            update={
                "kafka_bootstrap_servers": bootstrap or settings.bootstrap_servers,
                "schema_registry_url": registry_url,
            }
        )
        ensure_topics(
            explicit.kafka_client_config(),
            explicit.raw_retention_days,
            explicit.topic_replication_factor,
            explicit.topic_min_insync_replicas,
            explicit.topic_partitions,
        )
        yield explicit
