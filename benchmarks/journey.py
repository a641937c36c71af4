"""Accepted updates per second applied to the journey store, on SQLite and on PostgreSQL.

    python -m benchmarks.journey [--updates N]

Starts its own broker, registry (ports 27092/27081) and PostgreSQL server (port 27432), loads
N accepted episodes onto `ndtms.episodes.valid`, then measures on the same records:
  - reference: a confluent-kafka consumer reading and Avro-decoding every record, no store;
  - the journey processor (batches of 500, state + offsets + outbox in one transaction, then
    publishing), from start until the offsets it stored reach the topic's end: SQLite, then
    PostgreSQL (each a fresh database, fsync on).
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy.orm import Session

from benchmarks.linker import load_valid
from benchmarks.running import benchmark_settings, parser_for
from ndtms.contract.episodes import AcceptedEpisode
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import VALID
from ndtms.contract.transcoding import AvroTranscoder, registry_client
from ndtms.localrun.platform import platform_running
from ndtms.localrun.postgres import postgres_running
from ndtms.status import end_offsets
from services.journey import store
from services.journey.service import build_processor
from services.journey.settings import JourneySettings


def decode_only(settings: PlatformSettings, count: int) -> float:
    codec = AvroTranscoder(registry_client(settings.registry_url), VALID, AcceptedEpisode)
    consumer = Consumer({**settings.kafka_client_config(), "group.id": "bench-decode"})
    consumer.assign([TopicPartition(VALID.name, p, 0) for p in range(VALID.partitions)])
    seen = 0
    started = time.perf_counter()
    while seen < count:
        for message in consumer.consume(500, timeout=1):
            if message.error() is None:
                codec.decode(message.value())
                seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def journey_store(settings: PlatformSettings, database_url: str, name: str) -> float:
    journey_settings = JourneySettings(
        **settings.model_dump(), database_url=database_url, journey_group_id=f"bench-journey-{name}"
    )
    processor = build_processor(journey_settings, lambda: datetime.now(UTC))
    probe = Consumer({**settings.kafka_client_config(), "group.id": "bench-probe"})
    end = sum(end_offsets(probe, VALID.name, VALID.partitions).values())
    probe.close()
    started = time.perf_counter()
    worker = threading.Thread(target=processor.run, daemon=True)
    worker.start()
    while True:
        with Session(processor.engine) as session:
            if sum(store.stored_offsets(session, VALID.name).values()) >= end:
                break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    processor.stopping.set()
    worker.join(60)
    processor.engine.dispose()
    return elapsed


def main() -> None:
    parser = parser_for(__doc__)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        base = benchmark_settings(state)
        with platform_running(base) as settings, postgres_running(27432) as postgres_url:
            load_valid(settings, args.updates)
            reference = decode_only(settings, args.updates)
            sqlite = journey_store(settings, f"sqlite:///{Path(state) / 'bench.db'}", "sqlite")
            postgres = journey_store(settings, postgres_url, "postgres")
    print(f"updates: {args.updates}")
    print(f"reference, consume + Avro decode only: {args.updates / reference:,.0f} updates/s")
    print(f"journey store on SQLite (WAL, synchronous=FULL): {args.updates / sqlite:,.0f} updates/s")
    print(f"journey store on PostgreSQL 15 (local, fsync on): {args.updates / postgres:,.0f} updates/s")


if __name__ == "__main__":
    main()
