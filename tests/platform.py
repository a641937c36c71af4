"""The real broker and registry that integration and end-to-end tests run against.

`KAFKA_BOOTSTRAP_SERVERS` / `NDTMS_SCHEMA_REGISTRY_URL` in the environment mean "use that
cluster / registry". Otherwise, where a Docker daemon answers, Kafka comes from
testcontainers; where none does (this machine kind, CI), the Maven-fetched broker runs
as a local process. The registry is Apicurio, run locally, unless one is configured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ndtms.contract.settings import PlatformSettings
from ndtms.localrun.kafka import LocalKafka
from ndtms.localrun.registry import LocalRegistry
from ndtms.localrun.topics import ensure_topics

TEST_KAFKA_PORT = 29092
TEST_REGISTRY_PORT = 28081
TEST_PSEUDONYM_KEY = "test-pseudonym-key"


def docker_daemon_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]  # noqa: PLC0415 - only where testcontainers may run

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextmanager
def _testcontainers_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer  # noqa: PLC0415

    with KafkaContainer().with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@contextmanager
def running_platform(state_dir: Path) -> Iterator[PlatformSettings]:
    with ExitStack() as stack:
        base = PlatformSettings(
            state_dir=state_dir,
            local_kafka_port=TEST_KAFKA_PORT,
            local_registry_port=TEST_REGISTRY_PORT,
            pseudonym_key=TEST_PSEUDONYM_KEY,
            ingest_port=28700,
            validator_port=28701,
            journey_port=28702,
            linker_port=28703,
        )
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            if docker_daemon_available():
                bootstrap = stack.enter_context(_testcontainers_kafka())
            else:
                kafka = LocalKafka(base)
                bootstrap = kafka.start()
                stack.callback(kafka.stop)
        registry_url = os.environ.get("NDTMS_SCHEMA_REGISTRY_URL")
        if not registry_url:
            registry = LocalRegistry(base)
            registry_url = registry.start()
            stack.callback(registry.stop)
        settings = base.model_copy(
            update={"kafka_bootstrap_servers": bootstrap, "schema_registry_url": registry_url}
        )
        ensure_topics(settings.kafka_client_config())
        yield settings
