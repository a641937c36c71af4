"""Accepted updates per second applied to the journey store, on SQLite and on PostgreSQL.

    python -m benchmarks.journey [--updates N]

Starts its own broker, registry (ports 27092/27081) and PostgreSQL server (port 27432), loads
N accepted episodes onto `ndtms.episodes.valid`, then measures on the same records:
  - reference: the consume->decode->encode->produce hop of `benchmarks.validator`, no store;
  - the journey processor (batches of 2,000, state + offsets + outbox in one transaction, then
    publishing), from start until the offsets it stored reach the topic's end: SQLite, then
    PostgreSQL (each a fresh database, fsync on);
  - the journey service as one process and as two partition-owned processes on one PostgreSQL
    store (each a fresh database and group), from ready until the stored offsets reach the end.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer
from sqlalchemy.orm import Session

from benchmarks.linker import load_valid
from benchmarks.running import benchmark_settings, instances_running, parser_for
from benchmarks.validator import passthrough, per_thousand
from ndtms.databases import engine_for
from ndtms.localrun.platform import platform_running
from ndtms.localrun.postgres import fresh_database, postgres_running
from ndtms_apps.cli.platform_status import end_offsets
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import VALID
from services.journey import store
from services.journey.service import build_processor
from services.journey.settings import JourneySettings


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


def journey_processes(settings: PlatformSettings, database_url: str, count: int) -> tuple[float, list[float]]:
    """`count` journey service processes sharing one store and one group: seconds from ready
    until the offsets stored reach the topic's end, and each process's CPU."""
    engine = engine_for(database_url)
    store.migrate(engine)
    probe = Consumer({**settings.kafka_client_config(), "group.id": "bench-probe"})
    end = sum(end_offsets(probe, VALID.name, VALID.partitions).values())
    probe.close()
    extra = {
        "NDTMS_DATABASE_URL": database_url,
        "NDTMS_CREDENTIALS_URL": database_url,
        "NDTMS_JOURNEY_GROUP_ID": f"bench-journey-{count}-processes",
    }
    with instances_running("journey", settings, count, extra) as running:
        started = time.perf_counter()
        while True:
            with Session(engine) as session:
                if sum(store.stored_offsets(session, VALID.name).values()) >= end:
                    break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = running.cpu_seconds()
    engine.dispose()
    return elapsed, cpu


def main() -> None:
    parser = parser_for(__doc__)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        base = benchmark_settings(state)
        with platform_running(base) as settings, postgres_running(27432) as postgres_url:
            load_valid(settings, args.updates)
            reference = passthrough(settings, args.updates, VALID.name)
            sqlite = journey_store(settings, f"sqlite:///{Path(state) / 'bench.db'}", "sqlite")
            postgres = journey_store(settings, postgres_url, "postgres")
            processes = {
                count: journey_processes(settings, fresh_database(postgres_url, f"bench_{count}"), count)
                for count in (1, 2)
            }
    print(f"updates: {args.updates}")
    hop, n = args.updates / reference, args.updates
    print(f"reference, confluent-kafka consume->decode->encode->produce hop: {hop:,.0f} updates/s")
    for name, seconds in (("SQLite (WAL, synchronous=FULL)", sqlite), ("PostgreSQL 15 (fsync on)", postgres)):
        print(f"journey store on {name}: {n / seconds:,.0f} updates/s, {n / seconds / hop:.1%} of the hop")
    for count, (seconds, cpu) in processes.items():
        print(
            f"journey service, {count} process(es) on one PostgreSQL store: {n / seconds:,.0f} updates/s, "
            f"{n / seconds / hop:.1%} of the hop; CPU {per_thousand(cpu, n)}"
        )


if __name__ == "__main__":
    main()
