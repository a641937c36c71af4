"""Which partition a keyed record is on: Kafka's default partitioner (murmur2 of the key).

Every producer of the platform uses librdkafka's `murmur2_random`, which for a key is the Java
client's partitioner; so a person's records are on partition `partition_of(client_key, n)` of
every topic with n partitions. The hash is kafka-python's, not a copy of our own.
"""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_of(key: str, partitions: int) -> int:
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return int(murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
