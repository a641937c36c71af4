"""How the platform's topics should be laid out on a cluster, and what differs on an existing one.

Pure: the caller describes the cluster (brokers, and each existing topic's partitions,
replication factor and min.insync.replicas) and gets back what to create and what to report.

- Replication: 3 copies and `min.insync.replicas` 2 wherever the cluster has at least 3
  brokers (a write is acknowledged by two, so one broker can fail or restart without losing an
  acknowledged record or stopping writes); 1 and 1 on fewer (a local broker). Both can be set.
- Partitions: the catalogue's, or a count the settings give for every topic partitioned by
  person (`NDTMS_TOPIC_PARTITIONS`, at creation only). A stage's state changelog must have the
  partitions of the input it follows, and the inputs one stage reads together must match (the
  linker reads `valid` and `matching.confirmed` partition by partition). A missing changelog is
  created with its input's partitions as they are on the cluster; existing topics that disagree
  break co-partitioning, and nothing is changed then: the caller refuses to go on.
- Nothing is changed silently: a replication factor or min ISR that differs from the settings
  is reported, with how to change it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ndtms_contract.topics import TopicSpec

CLUSTER_SIZE_FOR_REPLICATION = 3


@dataclass(frozen=True)
class Shape:
    partitions: int
    replication_factor: int
    min_insync_replicas: int


@dataclass(frozen=True)
class Replication:
    factor: int
    min_insync: int


def replication_for(brokers: int, factor: int | None = None, min_insync: int | None = None) -> Replication:
    """The replication the settings ask for, with the defaults for a cluster of `brokers`."""
    chosen = factor if factor is not None else (3 if brokers >= CLUSTER_SIZE_FOR_REPLICATION else 1)
    if chosen > brokers:
        raise ValueError(
            f"replication factor {chosen} needs at least {chosen} brokers; the cluster has {brokers}"
        )
    isr = min_insync if min_insync is not None else (2 if chosen >= CLUSTER_SIZE_FOR_REPLICATION else 1)
    if not 1 <= isr <= chosen:
        raise ValueError(f"min.insync.replicas {isr} must be between 1 and the replication factor {chosen}")
    return Replication(chosen, isr)


@dataclass(frozen=True)
class Layout:
    """What to create (with the partitions each gets), and what to tell the operator."""

    create: dict[str, int]
    differences: list[str]
    broken: list[str]


def layout(
    specs: Iterable[TopicSpec],
    existing: Mapping[str, Shape],
    replication: Replication,
    partitions: int | None = None,
) -> Layout:
    """`partitions`: the count for the topics partitioned by person (every topic the catalogue
    gives more than one partition), instead of the catalogue's; single-partition topics (the
    ledger, the audit trail) keep one, as their order is total."""
    wanted = list(specs)
    by_name = {spec.name: spec for spec in wanted}

    def catalogued(spec: TopicSpec) -> int:
        return partitions if partitions is not None and spec.partitions > 1 else spec.partitions

    def partitions_of(spec: TopicSpec) -> int:
        """What the topic has, or would be created with: its input's count when it follows one."""
        if spec.name in existing:
            return existing[spec.name].partitions
        if spec.follows is not None and spec.follows in by_name:
            return partitions_of(by_name[spec.follows])
        return catalogued(spec)

    create = {spec.name: partitions_of(spec) for spec in wanted if spec.name not in existing}
    broken = [
        f"{spec.name} has {partitions_of(spec)} partitions but {spec.follows}, whose partitions it "
        f"must match, has {partitions_of(by_name[spec.follows])}"
        for spec in wanted
        if spec.follows is not None
        and spec.follows in by_name
        and partitions_of(spec) != partitions_of(by_name[spec.follows])
    ]
    differences = []
    for spec in wanted:
        shape = existing.get(spec.name)
        if shape is None:
            continue
        if shape.partitions != catalogued(spec) and spec.follows is None:
            source = (
                "the settings say" if partitions is not None and spec.partitions > 1 else "the catalogue says"
            )
            differences.append(
                f"{spec.name}: {shape.partitions} partitions, {source} {catalogued(spec)} "
                "(kept: the topics that follow it are made to match)"
            )
        if shape.replication_factor != replication.factor:
            differences.append(
                f"{spec.name}: replication factor {shape.replication_factor}, the settings say "
                f"{replication.factor} (not changed: reassign its partitions with "
                "kafka-reassign-partitions to change it)"
            )
        if shape.min_insync_replicas != replication.min_insync:
            differences.append(
                f"{spec.name}: min.insync.replicas {shape.min_insync_replicas}, the settings say "
                f"{replication.min_insync} (not changed: set it with kafka-configs --alter)"
            )
    return Layout(create, differences, broken)
