"""The whole pipeline on this machine: `ndtms publish FILE.jsonl` to settled outputs, beside raw Kafka.

    python -m benchmarks.pipeline [--updates N]

Starts its own broker and registry (ports 27092/27081, state in a temporary folder) and the four
services, writes N synthetic updates (5 % invalid) as a JSONL file, and measures:
  - reference: the same lines produced as they are by one confluent-kafka producer to a scratch
    topic, plus one consume->produce hop of them to another (the raw client's floor for one
    publish and one stream stage);
  - `ndtms publish FILE.jsonl` alone: lines per second until every line is acknowledged;
  - end to end: from the start of `ndtms publish` until the validator, linker and journey
    have consumed everything on their inputs (outputs committed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from benchmarks.feeds import updates
from benchmarks.running import benchmark_settings, drained, parser_for
from ndtms.contract.settings import PlatformSettings
from ndtms.localrun.platform import platform_running
from ndtms.localrun.services import service_environment, start_all, stop_all

NDTMS = str(Path(sys.executable).parent / "ndtms")


def write_feed(path: Path, count: int) -> list[bytes]:
    first_release = datetime.now(UTC).date() - timedelta(days=330)
    lines = [
        json.dumps(u.model_dump(mode="json", exclude_none=True)).encode()
        for u in updates(count, seed=23, first_release=first_release)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def raw_reference(settings: PlatformSettings, lines: list[bytes]) -> float:
    admin = AdminClient(settings.kafka_client_config())
    for topic in ("bench.lines", "bench.lines.hop"):
        admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result()
    started = time.perf_counter()
    producer = Producer(settings.producer_config())
    for n, line in enumerate(lines):
        while True:
            try:
                producer.produce("bench.lines", key=str(n).encode(), value=line)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    consumer = Consumer({**settings.kafka_client_config(), "group.id": "bench-lines"})
    consumer.assign([TopicPartition("bench.lines", p, 0) for p in range(6)])
    seen = 0
    while seen < len(lines):
        for message in consumer.consume(1000, timeout=1):
            if message.error() is None:
                while True:
                    try:
                        producer.produce("bench.lines.hop", key=message.key(), value=message.value())
                        break
                    except BufferError:
                        producer.poll(0.05)
                seen += 1
    producer.flush(120)
    consumer.close()
    return time.perf_counter() - started


def publish_and_settle(settings: PlatformSettings, path: Path) -> tuple[float, float]:
    """(seconds for `ndtms publish` to finish, seconds until every stage has consumed it all)."""
    started = time.perf_counter()
    result = subprocess.run(
        [NDTMS, "publish", str(path), "--json"],
        env=service_environment(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    published = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"ndtms publish failed:\n{result.stderr}")
    drained(settings, ("validator", "linker", "journey"), timeout=3600)
    return published, time.perf_counter() - started


def main() -> None:
    parser = parser_for(__doc__)
    parser.set_defaults(updates=150_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        base = benchmark_settings(state)
        with platform_running(base) as settings:
            feed = Path(state) / "feed.jsonl"
            lines = write_feed(feed, args.updates)
            reference = raw_reference(settings, lines)
            start_all(settings)
            try:
                published, settled = publish_and_settle(settings, feed)
            finally:
                stop_all(settings)
    n = args.updates
    print(f"updates: {n:,} (5 % invalid), one JSONL file")
    print(f"reference, raw produce of the lines + one consume->produce hop: {n / reference:,.0f} updates/s")
    print(f"ndtms publish FILE.jsonl (shape checks, Avro, acknowledged): {n / published:,.0f} lines/s")
    print(f"end to end, ndtms publish -> validator -> linker + journey settled: {n / settled:,.0f} updates/s")
    print(f"end to end / reference: {reference / settled:.1%}")


if __name__ == "__main__":
    main()
