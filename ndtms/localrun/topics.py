"""Creating the catalogue's topics, explicitly, with their partitions and configs."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ndtms.contract.topics import CATALOGUE, INTERNAL


class ClusterUnreachable(RuntimeError):
    pass


def ensure_topics(
    client_config: dict[str, str | int | float | bool], replication_factor: int = 1
) -> list[str]:
    """Create any missing catalogue (or service-internal) topic; return the names created."""
    errors: list[str] = []
    config: dict[str, Any] = {**client_config, "error_cb": lambda error: errors.append(error.str())}
    admin = AdminClient(config)
    try:
        existing = set(admin.list_topics(timeout=15).topics)
    except KafkaException as exc:
        # The client's own error callback says why (authentication, TLS, no route); the
        # exception alone only says that it timed out.
        detail = "; ".join(dict.fromkeys(errors)) or str(exc)
        raise ClusterUnreachable(f"cannot reach {client_config.get('bootstrap.servers')}: {detail}") from exc
    missing = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=replication_factor,
            config=spec.config,
        )
        for spec in (*CATALOGUE, *INTERNAL)
        if spec.name not in existing
    ]
    if not missing:
        return []
    futures = admin.create_topics(missing, operation_timeout=30)
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    _wait_for_leaders(admin, created)
    return created


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout: float = 30) -> None:
    """Creation returns before every partition has a leader; clients asking sooner get errors."""
    deadline = time.monotonic() + timeout
    while names:
        topics = admin.list_topics(timeout=10).topics
        if all(
            name in topics
            and topics[name].partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in names
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leader after {timeout:.0f}s")
        time.sleep(0.2)
