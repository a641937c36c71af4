"""A minimal downstream consumer of `ndtms.links`: the current outcome of every prison release.

    python examples/consume_links.py --bootstrap HOST:9092 --registry URL [--group NAME]

Copy it: confluent-kafka with the schema registry's Avro deserializer, a consumer group that
commits only after a record is handled, tombstones handled (a release that stopped being a
transfer). The topic is compacted: read from the beginning to get the current state.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, cast

from confluent_kafka import DeserializingConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer


def consume(bootstrap: str, registry: str, group: str, idle_seconds: float) -> dict[str, dict[str, Any]]:
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # Only what the linker committed: an aborted transaction's records stay invisible.
            "isolation.level": "read_committed",
            "key.deserializer": StringDeserializer("utf_8"),
            "value.deserializer": AvroDeserializer(SchemaRegistryClient({"url": registry})),
        }
    )
    current: dict[str, dict[str, Any]] = {}
    last = [float("inf")]  # the idle clock starts once the group has given us partitions

    def assigned(_consumer: Any, _partitions: Any) -> None:
        last[0] = time.monotonic()

    consumer.subscribe(["ndtms.links"], on_assign=assigned)
    joined_by = time.monotonic() + 60
    try:
        while last[0] == float("inf") or time.monotonic() - last[0] < idle_seconds:
            if last[0] == float("inf") and time.monotonic() > joined_by:
                raise SystemExit("no partitions assigned within 60 s: is the broker reachable?")
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            last[0] = time.monotonic()
            # The deserializers made these a str and a dict (None for a tombstone).
            key = cast(str, message.key())
            value = cast(dict[str, Any] | None, message.value())
            if value is None:
                current.pop(key, None)  # tombstone: no longer a transfer
            else:
                current[key] = value
                print(json.dumps({"transfer_id": key, "status": value["status"]}), flush=True)
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    return current


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--registry", default="http://127.0.0.1:18081/apis/ccompat/v7")
    parser.add_argument("--group", default="downstream-links-example")
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0, help="stop after this long with nothing new"
    )
    args = parser.parse_args()
    current = consume(args.bootstrap, args.registry, args.group, args.idle_seconds)
    print(json.dumps({"transfers": len(current)}))


if __name__ == "__main__":
    main()
