"""Reading a group's committed offsets while a stage's transaction holds newer ones."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ndtms.metrics import offsets_reader
from ndtms_apps.cli.platform_status import group_position
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import RAW

pytestmark = pytest.mark.broker


def test_lag_is_read_at_once_while_a_transaction_holds_offsets(platform: PlatformSettings) -> None:
    group = f"test-pending-offsets-{time.time_ns()}"
    member = Consumer({**offsets_reader(platform, group), "isolation.level": "read_committed"})
    producer = Producer({**platform.producer_config(), "transactional.id": f"{group}-producer"})
    producer.init_transactions(30)
    producer.begin_transaction()
    try:
        committed = [TopicPartition(RAW.name, 0, 1)]
        producer.send_offsets_to_transaction(committed, member.consumer_group_metadata(), 30)
        # Offsets pending in an open transaction: a read-committed reader would wait for them
        # to become stable (until its timeout); lag must be readable meanwhile.
        started = time.monotonic()
        done, lag = group_position(platform, group, {RAW.name: {0: 5}})
        assert time.monotonic() - started < 5
        assert (done, lag) == (0, 5)  # nothing committed yet: the pending offset does not count
        producer.commit_transaction(30)
        assert group_position(platform, group, {RAW.name: {0: 5}}) == (1, 4)
    finally:
        member.close()
