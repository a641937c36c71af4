"""The real broker and registry that integration and end-to-end tests run against.

`KAFKA_BOOTSTRAP_SERVERS` / `NDTMS_SCHEMA_REGISTRY_URL` in the environment mean "use that
cluster / registry". Otherwise, where a Docker daemon answers, Kafka comes from
testcontainers; where none does (this machine kind, CI), the Maven-fetched broker runs as
a local process. The registry is Apicurio, run locally, unless one is configured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ndtms.localrun.platform import platform_running
from ndtms_contract.settings import PlatformSettings

TEST_KAFKA_PORT = 29092
TEST_REGISTRY_PORT = 28081
TEST_PSEUDONYM_KEY = "test-pseudonym-key"


def docker_daemon_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]  # noqa: PLC0415 - only where testcontainers may run

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - no client, no socket, no daemon: all mean "no Docker"
        return False
    return True


@contextmanager
def _testcontainers_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer  # noqa: PLC0415

    with KafkaContainer().with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@contextmanager
def running_platform(state_dir: Path) -> Iterator[PlatformSettings]:
    settings = PlatformSettings(
        state_dir=state_dir,
        local_kafka_port=TEST_KAFKA_PORT,
        local_registry_port=TEST_REGISTRY_PORT,
        pseudonym_key=TEST_PSEUDONYM_KEY,
        ingest_port=28700,
        validator_port=28701,
        journey_port=28702,
        linker_port=28703,
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        schema_registry_url=os.environ.get("NDTMS_SCHEMA_REGISTRY_URL") or None,
    )
    with ExitStack() as stack:
        bootstrap = None
        if settings.uses_local_kafka and docker_daemon_available():
            bootstrap = stack.enter_context(_testcontainers_kafka())
        yield stack.enter_context(platform_running(settings, bootstrap))
