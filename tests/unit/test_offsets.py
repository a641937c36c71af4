"""Partition ends and lag when the cluster is moving: no leader yet, partitions held elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import REGISTRY

from ndtms.metrics import LagSampler
from ndtms.offsets import NoLeader, end_offset
from ndtms.stream.claim import InstanceClaim, InstanceInUse
from ndtms.stream.transactions import retrying
from ndtms_contract.settings import PlatformSettings


class ElectingCluster:
    """A client whose metadata does not know the partition until it refreshes it, after which
    the partition has a leader again (what a client sees across a leader election)."""

    def __init__(self, elections: int):
        self.elections = elections
        self.refreshed = 0
        self.asked = 0

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.asked += 1
        if self.refreshed < self.elections:
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION))
        return 0, 42

    def list_topics(self, topic: str, timeout: float) -> None:
        self.refreshed += 1


def test_a_partition_without_a_leader_is_waited_for_and_the_metadata_refreshed() -> None:
    client = ElectingCluster(elections=3)
    assert end_offset(client, TopicPartition("t", 0), patience=30, pause=0) == 42  # type: ignore[arg-type]
    assert client.refreshed == 3 and client.asked == 4


def test_a_partition_that_never_gets_a_leader_is_said_in_words() -> None:
    with pytest.raises(NoLeader, match="partition 2 of t had no leader for 0 s"):
        end_offset(ElectingCluster(elections=10**9), TopicPartition("t", 2), patience=0, pause=0)  # type: ignore[arg-type]


def test_one_instance_id_is_claimed_by_one_process_at_a_time(tmp_path: Path) -> None:
    first = InstanceClaim("broker:9092", "ndtms-linker", "linker-0", tmp_path)
    first.take()
    with pytest.raises(
        InstanceInUse, match="instance id 'linker-0' of ndtms-linker is already in use by process"
    ):
        InstanceClaim("broker:9092", "ndtms-linker", "linker-0", tmp_path).take()
    # Another id, another group or another cluster is another instance.
    for other in (
        ("broker:9092", "ndtms-linker", "linker-1"),
        ("broker:9092", "ndtms-validator", "linker-0"),
        ("elsewhere:9092", "ndtms-linker", "linker-0"),
    ):
        claim = InstanceClaim(*other, tmp_path)
        claim.take()
        claim.release()
    first.release()
    again = InstanceClaim("broker:9092", "ndtms-linker", "linker-0", tmp_path)
    again.take()  # released (as a process's end releases it): free again
    again.release()


class Offsets:
    """Committed offsets and ends of a group's input: every partition 10 behind."""

    def committed(self, wanted: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 90) for tp in wanted]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return 0, 100


def lag_of(service: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "ndtms_consumer_lag", {"service": service, "topic": "in", "partition": str(partition)}
    )


def test_each_instance_reports_the_lag_of_the_partitions_it_holds_and_forgets_the_rest() -> None:
    held = {("in", 0), ("in", 1)}
    sampler = LagSampler(PlatformSettings(), "lagtest", "g", {"in": 4}, held=lambda: frozenset(held))
    sampler.sample(Offsets())  # type: ignore[arg-type]
    assert [lag_of("lagtest", p) for p in range(4)] == [10, 10, None, None]
    held.clear()
    held.add(("in", 3))  # partitions 0 and 1 moved to another instance, 3 came here
    sampler.sample(Offsets())  # type: ignore[arg-type]
    assert [lag_of("lagtest", p) for p in range(4)] == [None, None, None, 10]


class Flaky:
    def __init__(self, failures: list[int]):
        self.failures = failures
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise KafkaException(KafkaError(self.failures.pop(0)))


def test_a_coordinator_coming_back_after_a_broker_restart_is_waited_for() -> None:
    # Local errors librdkafka does not flag retriable, seen while a restarted broker's group
    # coordinator loads: the stage asks again instead of dying.
    call = Flaky([KafkaError._TIMED_OUT, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._TRANSPORT])
    retrying(call)
    assert call.calls == 4


def test_an_error_that_asking_again_cannot_mend_is_raised_at_once() -> None:
    call = Flaky([KafkaError._FENCED])
    with pytest.raises(KafkaException):
        retrying(call)
    assert call.calls == 1


def test_a_transaction_that_must_be_aborted_is_not_committed_again() -> None:
    """Records timed out while a killed broker's partitions had no leader: committing again
    fails the same way (a rehearsal linker spent 90 s doing that); the caller aborts at once."""

    class Abortable:
        calls = 0

        def __call__(self) -> None:
            self.calls += 1
            raise KafkaException(
                KafkaError(KafkaError._TIMED_OUT, "3 message(s) timed out", txn_requires_abort=True)
            )

    call = Abortable()
    with pytest.raises(KafkaException):
        retrying(call)
    assert call.calls == 1
