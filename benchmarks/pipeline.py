"""The whole pipeline on this machine: `ndtms publish FILE.jsonl` to settled outputs, beside raw Kafka.

    python -m benchmarks.pipeline [--updates N]

Starts its own broker and registry (ports 27092/27081, state in a temporary folder) and the four
services, writes synthetic updates (5 % invalid) as JSONL files, and measures:
  - reference: the N lines produced as they are by one confluent-kafka producer to a scratch
    topic, plus one consume->produce hop of them to another (the raw client's floor for one
    publish and one stream stage);
  - `ndtms publish` of one line first: on a fresh platform it registers the schema (once for
    the platform's life, so timed apart);
  - `ndtms publish FILE.jsonl` alone (no service running), `--alone` lines: lines per second
    from the command's start until every line is acknowledged;
  - catch-up: the services started on those waiting updates, until all have consumed them;
  - end to end: N updates from the start of `ndtms publish` until the validator, linker and
    journey have consumed everything on their inputs (outputs committed).
Each shape (`--shapes`, default `1x1 3x2`) runs all of it on a fresh cluster: one broker and
one instance of every service, then the rehearsal of production (3 brokers, every topic with 3
copies and min ISR 2, two instances of every service, the shared stores on PostgreSQL).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from benchmarks.feeds import updates
from benchmarks.running import benchmark_settings, cpu_seconds, drained, holds_the_search, parser_for
from ndtms.localrun.platform import platform_running
from ndtms.localrun.postgres import LocalPostgres
from ndtms.localrun.services import instances, service_environment, start_all, stop_all
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topic_layout import replication_for

NDTMS = str(Path(sys.executable).parent / "ndtms")


def write_feed(path: Path, count: int, seed: int) -> list[bytes]:
    first_release = datetime.now(UTC).date() - timedelta(days=330)
    lines = [
        json.dumps(u.model_dump(mode="json", exclude_none=True)).encode()
        for u in updates(count, seed=seed, first_release=first_release)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def raw_reference(settings: PlatformSettings, lines: list[bytes], replication: int = 1) -> float:
    admin = AdminClient(settings.kafka_client_config())
    for topic in ("bench.lines", "bench.lines.hop"):
        admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=replication)])[
            topic
        ].result()
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


def publish(settings: PlatformSettings, path: Path) -> float:
    """Seconds `ndtms publish FILE.jsonl` takes (every good line acknowledged by the broker)."""
    started = time.perf_counter()
    result = subprocess.run(
        [NDTMS, "publish", str(path), "--json"],
        env=service_environment(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):  # 1: some lines rejected, as the feed intends
        raise SystemExit(f"ndtms publish failed:\n{result.stderr}")
    return time.perf_counter() - started


def run_shape(state: str, brokers: int, count: int, n: int, alone_lines: int) -> dict[str, float]:
    """One run on a fresh cluster of `brokers` nodes with `count` instances of every service."""
    base = benchmark_settings(state).model_copy(
        update={
            "local_kafka_brokers": brokers,
            "local_service_instances": count,
            "local_postgres_port": 27433,
        }
    )
    postgres = LocalPostgres(base.state_dir, base.local_postgres_port) if count > 1 else None
    with platform_running(base) as settings:
        if postgres is not None:
            postgres.start()  # the stores the instances share
        try:
            first, feed = Path(state) / "alone.jsonl", Path(state) / "feed.jsonl"
            write_feed(first, alone_lines, seed=29)
            lines = write_feed(feed, n, seed=23)
            reference = raw_reference(settings, lines, replication_for(brokers).factor)
            # The first publish on a fresh platform registers the schema and opens the raw
            # topic's producer state, once for the platform's life: timed apart, not per file.
            warm = Path(state) / "warm.jsonl"
            write_feed(warm, 1, seed=31)
            once = publish(settings, warm)
            alone = publish(settings, first)
            start_all(settings)
            try:
                began = time.perf_counter()
                drained(settings, ("validator", "linker", "journey"), timeout=3600)
                backlog = time.perf_counter() - began
                began = time.perf_counter()
                published = publish(settings, feed)
                drained(settings, ("validator", "linker", "journey"), timeout=3600)
                settled = time.perf_counter() - began
                cpu = processes_cpu(settings)
            finally:
                stop_all(settings)
        finally:
            if postgres is not None:
                postgres.discard()  # its folder may sit outside the benchmark's state
    return {
        "reference": reference,
        "once": once,
        "alone": alone,
        "backlog": backlog,
        "published": published,
        "settled": settled,
        **{f"cpu {name}": seconds for name, seconds in cpu.items()},
    }


def processes_cpu(settings: PlatformSettings) -> dict[str, float]:
    """CPU seconds each service instance has used, the linker holding the national search marked."""
    found = {}
    for instance in instances(settings):
        pid = instance.process(settings).pid()
        if pid is None:
            continue
        name = instance.name
        if instance.spec.name == "linker":
            metrics = httpx.get(f"{instance.url(settings)}/metrics", timeout=10).text
            name += " (national search)" if holds_the_search(metrics) else ""
        found[name] = cpu_seconds(pid)
    return found


def main() -> None:
    parser = parser_for(__doc__)
    parser.set_defaults(updates=150_000)
    parser.add_argument("--alone", type=int, default=50_000, help="lines published with no service running")
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["1x1", "3x2"],
        help="BROKERSxINSTANCES to run, each on a fresh cluster (3x2: the rehearsal of production)",
    )
    args = parser.parse_args()
    n, m = args.updates, args.alone
    for shape in args.shapes:
        brokers, count = (int(part) for part in shape.split("x"))
        with tempfile.TemporaryDirectory() as state:
            run = run_shape(state, brokers, count, n, m)
        print(f"{brokers} broker(s), {count} instance(s) of every service:")
        reference, settled = run["reference"], run["settled"]
        rows = [
            f"reference, raw produce of {n:,} lines + one consume->produce hop: "
            f"{n / reference:,.0f} updates/s",
            f"ndtms publish of one line on the fresh platform (registers the schema): {run['once']:.2f} s",
            f"ndtms publish FILE.jsonl alone, {m:,} lines (shape checks, Avro, acks): "
            f"{m / run['alone']:,.0f} lines/s (command start included)",
            f"catch-up, validator + linker + journey on those {m + 1:,} waiting updates: "
            f"{(m + 1) / run['backlog']:,.0f}/s",
            f"end to end, {n:,} updates (5 % invalid), ndtms publish -> validator -> linker + journey "
            f"settled: {n / settled:,.0f} updates/s, {reference / settled:.1%} of the reference "
            f"(publish took {run['published']:.0f} s)",
        ]
        for row in rows:
            print(f"  {row}")
        cpu = {k.removeprefix("cpu "): v for k, v in run.items() if k.startswith("cpu ")}
        print(
            "  CPU per process over the whole run, ms per 1,000 updates published: "
            + ", ".join(f"{name} {1_000_000 * seconds / (n + m):,.0f}" for name, seconds in cpu.items())
        )


if __name__ == "__main__":
    main()
