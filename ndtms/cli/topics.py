"""`ndtms tail TOPIC`: decoded records of a topic, as they arrive or from the beginning."""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from ndtms.cli.command import CommandFailed, settings
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import TopicSpec, resolve
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client, transcoder_for


def _value_json(spec: TopicSpec, codec: AvroTranscoder[Any] | None, value: bytes | None, headers: Any) -> Any:
    if value is None:
        return None
    if codec is None:
        return {
            "bytes_base64": base64.b64encode(value).decode(),
            "headers": {k: (v.decode("utf-8", "replace") if v else None) for k, v in (headers or [])},
        }
    try:
        return codec.decode(value).model_dump(mode="json")
    except UndecodableRecord as exc:
        return {"undecodable": str(exc)}


def tail(
    platform: PlatformSettings, spec: TopicSpec, from_beginning: bool, idle_timeout: float
) -> Iterator[dict[str, Any]]:
    """Yield every record of the topic (all partitions) until nothing new arrives for idle_timeout."""
    codec = transcoder_for(registry_client(platform.registry_url), spec) if spec.value_schema else None
    consumer = Consumer(
        {
            **platform.kafka_client_config(),
            "group.id": f"ndtms-tail-{time.time_ns()}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(spec.name, timeout=10).topics.get(spec.name)
        if metadata is None or metadata.error is not None:
            raise CommandFailed(f"topic {spec.name} does not exist; run `ndtms up` first")
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(spec.name, p, start) for p in metadata.partitions])
        last = time.monotonic()
        while time.monotonic() - last < idle_timeout:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            last = time.monotonic()
            key = message.key()
            yield {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "key": key.decode("utf-8", "replace") if key is not None else None,
                "value": _value_json(spec, codec, message.value(), message.headers()),
            }
    finally:
        consumer.close()


def cmd_tail(args: argparse.Namespace) -> int:
    try:
        spec = resolve(args.topic)
    except KeyError as exc:
        raise CommandFailed(str(exc.args[0])) from exc
    for record in tail(settings(), spec, args.from_beginning, args.idle_timeout):
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            value = json.dumps(record["value"], separators=(",", ":"))
            print(f"{record['partition']}:{record['offset']} {record['key']} {value}", flush=True)
    return 0


def idle_timeout_argument(parser: argparse.ArgumentParser, topic: str) -> None:
    """For commands that read a whole topic: when to decide they have read it all."""
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help=f"stop reading {topic} after this long with nothing new",
    )


def register(sub: Any) -> None:
    p = sub.add_parser("tail", help="print decoded records of a topic")
    p.add_argument("topic", help="links, errors, journeys, valid, raw, dlq, or a full topic name")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--idle-timeout", type=float, default=float("inf"), metavar="SECONDS")
    p.set_defaults(func=cmd_tail)
