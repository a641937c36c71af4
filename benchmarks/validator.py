"""Validated updates per second for one and for two validator processes, beside a raw
consume-produce pass-through measured on the same broker.

    python -m benchmarks.validator [--updates N] [--instances 1 2]

Starts its own broker and registry (ports 27092/27081, state in a temporary folder), loads N
updates onto `ndtms.episodes.raw`, then measures, on the same records:
  - reference: one confluent-kafka consumer reading raw, decoding each value with fastavro,
    encoding it again and producing it to a scratch topic (no rules, no state): the ceiling for
    a Python stream hop;
  - validator: the real service, one process or two in one group (each instance id, port and
    state folder its own, as the rehearsal runs them), from ready until the group's lag is zero,
    with the CPU each process used. Each instance count gets a fresh broker and feed.
"""

from __future__ import annotations

import io
import tempfile
import time

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from benchmarks.feeds import updates
from benchmarks.running import benchmark_settings, drained, instances_running, parser_for
from ndtms.localrun.platform import platform_running
from ndtms_client.raw_topic import RawTopicWriter
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CATALOGUE, RAW
from ndtms_contract.transcoding import AvroTranscoder, registry_client, schema_json


def load(settings: PlatformSettings, count: int) -> None:
    codec = AvroTranscoder(registry_client(settings.registry_url), RAW, EpisodeUpdate)
    writer = RawTopicWriter(Producer(settings.producer_config()), codec)
    feed = updates(count)
    for start in range(0, len(feed), 5000):
        failed = [d for d in writer.write(feed[start : start + 5000]) if not d.ok]
        if failed:
            raise SystemExit(f"loading failed: {failed[0].error}")


def passthrough(settings: PlatformSettings, count: int, source: str = RAW.name) -> float:
    """The reference hop: consume, fastavro-decode, encode, produce each record, nothing else."""
    spec = next(t for t in CATALOGUE if t.name == source)
    schema = fastavro.parse_schema(schema_json(spec.value_schema or ""))
    target = f"bench.hop.{source}"
    admin = AdminClient(settings.kafka_client_config())
    admin.create_topics([NewTopic(target, num_partitions=spec.partitions, replication_factor=1)])[
        target
    ].result()
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"bench-hop-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = Producer(settings.producer_config())
    consumer.assign([TopicPartition(source, p, 0) for p in range(spec.partitions)])
    seen = 0
    started = time.perf_counter()
    while seen < count:
        for message in consumer.consume(1000, timeout=1):
            value = message.value()
            if message.error() is None and value is not None:
                body = io.BytesIO(value)
                body.seek(5)
                record = fastavro.schemaless_reader(body, schema, None)
                out = io.BytesIO()
                out.write(value[:5])
                fastavro.schemaless_writer(out, schema, record)
                while True:
                    try:
                        producer.produce(target, key=message.key(), value=out.getvalue())
                        break
                    except BufferError:
                        producer.poll(0.05)
                seen += 1
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def validator(settings: PlatformSettings, instances: int = 1) -> tuple[float, list[float]]:
    """Seconds until the validator's group has drained the raw topic, and each instance's CPU."""
    with instances_running("validator", settings, instances) as running:
        started = time.perf_counter()
        drained(settings, ("validator",))
        return time.perf_counter() - started, running.cpu_seconds()


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2], help="instances to try")
    args = parser.parse_args()
    print(f"updates: {args.updates}")
    for count in args.instances:
        # A fresh broker for each count: the group and its state start from nothing every time.
        with tempfile.TemporaryDirectory() as state:
            base = benchmark_settings(state)
            with platform_running(base) as settings:
                load(settings, args.updates)
                reference = passthrough(settings, args.updates)
                validated, cpu = validator(settings, count)
        reference_rate, validator_rate = args.updates / reference, args.updates / validated
        print(f"{count} instance(s):")
        print(
            "  reference, confluent-kafka consume->decode->encode->produce hop: "
            f"{reference_rate:,.0f} updates/s"
        )
        print(f"  validator, decode + rules + forward + report: {validator_rate:,.0f} updates/s")
        print(f"  validator / reference: {validator_rate / reference_rate:.1%}")
        print(f"  CPU per instance: {per_thousand(cpu, args.updates)}")


def per_thousand(cpu: list[float], updates: int) -> str:
    return ", ".join(f"{1000 * seconds / updates * 1000:,.0f} ms per 1,000 updates" for seconds in cpu)


if __name__ == "__main__":
    main()
