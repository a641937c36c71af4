"""Creating the catalogue's topics, explicitly, with their partitions and configs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from ndtms_contract.settings import ClientConfig
from ndtms_contract.topic_layout import Replication, Shape, layout, replication_for
from ndtms_contract.topics import (
    CATALOGUE,
    DEFAULT_RAW_RETENTION_DAYS,
    INTERNAL,
    attributor_retention,
    configured,
)


class ClusterUnreachable(RuntimeError):
    pass


class TopicLayoutRefused(RuntimeError):
    """The topics cannot be laid out as the settings ask (existing topics break co-partitioning,
    or more replicas than brokers); nothing was changed. The message says why."""


@dataclass(frozen=True)
class TopicReport:
    created: list[str]
    differences: list[str]
    replication: Replication
    brokers: int


def ensure_topics(
    client_config: ClientConfig,
    raw_retention_days: int = DEFAULT_RAW_RETENTION_DAYS,
    replication_factor: int | None = None,
    min_insync: int | None = None,
    partitions: int | None = None,
) -> list[str]:
    """Create any missing catalogue (or service-internal) topic; return the names created."""
    return prepare_topics(
        client_config, raw_retention_days, replication_factor, min_insync, partitions
    ).created


def prepare_topics(
    client_config: ClientConfig,
    raw_retention_days: int = DEFAULT_RAW_RETENTION_DAYS,
    replication_factor: int | None = None,
    min_insync: int | None = None,
    partitions: int | None = None,
) -> TopicReport:
    """Create any missing topic as `ndtms_contract.topic_layout` says, and report what differs.

    Topics that already exist keep their configuration, except the retention of the topics with
    attributors, which is set to `raw_retention_days` wherever it differs. When existing topics
    break co-partitioning nothing at all is changed (`TopicLayoutRefused`).
    """
    errors: list[str] = []
    config: dict[str, Any] = {**client_config, "error_cb": lambda error: errors.append(error.str())}
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=15)
    except KafkaException as exc:
        # The client's own error callback says why (authentication, TLS, no route); the
        # exception alone only says that it timed out. With librdkafka's log routed through
        # Python logging, callbacks are served when the client is polled: poll for them.
        admin.poll(1)
        detail = "; ".join(dict.fromkeys(errors)) or str(exc)
        raise ClusterUnreachable(f"cannot reach {client_config.get('bootstrap.servers')}: {detail}") from exc
    specs = (*CATALOGUE, *INTERNAL)
    try:
        replication = replication_for(len(metadata.brokers), replication_factor, min_insync)
    except ValueError as exc:
        raise TopicLayoutRefused(f"{exc}; nothing was changed") from exc
    existing = _shapes(admin, metadata, [spec.name for spec in specs])
    plan = layout(specs, existing, replication, partitions)
    if plan.broken:
        raise TopicLayoutRefused(
            "existing topics break co-partitioning, so nothing was changed: " + "; ".join(plan.broken)
        )
    bound_retention(admin, raw_retention_days, [name for name in attributor_retention(1) if name in existing])
    missing = [
        NewTopic(
            spec.name,
            num_partitions=plan.create[spec.name],
            replication_factor=replication.factor,
            config={
                **configured(spec, raw_retention_days),
                "min.insync.replicas": str(replication.min_insync),
            },
        )
        for spec in specs
        if spec.name in plan.create
    ]
    created = []
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=30).items():
            try:
                future.result()
                created.append(name)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        _wait_for_leaders(admin, created)
    return TopicReport(created, plan.differences, replication, len(metadata.brokers))


def _shapes(admin: AdminClient, metadata: Any, names: list[str]) -> dict[str, Shape]:
    """Partitions, replication factor and min.insync.replicas of those of `names` that exist."""
    present = [name for name in names if name in metadata.topics]
    if not present:
        return {}
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in present])
    isr = {
        resource.name: int(future.result(timeout=30)["min.insync.replicas"].value)
        for resource, future in futures.items()
    }
    shapes = {}
    for name in present:
        partitions = metadata.topics[name].partitions
        shapes[name] = Shape(len(partitions), len(partitions[0].replicas) if partitions else 0, isr[name])
    return shapes


def topic_config(admin: AdminClient, name: str) -> dict[str, str]:
    """A topic's configuration as the broker has it."""
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)]).values()
    return {key: entry.value for key, entry in future.result(timeout=30).items()}


def bound_retention(admin: AdminClient, days: int, names: list[str]) -> list[str]:
    """Set the retention of existing attributor topics to `days`; return those changed."""
    wanted = attributor_retention(days)
    changed = [
        name
        for name in names
        if topic_config(admin, name).get("retention.ms") != wanted[name]["retention.ms"]
    ]
    if not changed:
        return []
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(
                    "retention.ms",
                    wanted[name]["retention.ms"],
                    incremental_operation=AlterConfigOpType.SET,
                )
            ],
        )
        for name in changed
    ]
    for future in admin.incremental_alter_configs(resources).values():
        future.result(timeout=30)
    # The controller has it; the broker's own view follows a moment later. Return only once the
    # broker reports it, so that what `ndtms init` says is what a describe shows.
    deadline = time.monotonic() + 30
    while any(topic_config(admin, n).get("retention.ms") != wanted[n]["retention.ms"] for n in changed):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker does not report the new retention of {changed} after 30s")
        time.sleep(0.2)
    return changed


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
