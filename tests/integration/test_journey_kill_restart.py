"""SIGKILL the journey service in the middle of a replay, restart it: nothing lost, nothing doubled.

Runs the real service process on the real broker, against SQLite and a real PostgreSQL server.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy.orm import Session

from ndtms.databases import engine_for
from ndtms.localrun.postgres import fresh_database
from ndtms.localrun.processes import ManagedProcess
from ndtms.localrun.services import PROJECT_ROOT, service_environment
from ndtms_apps.cli.platform_status import end_offsets
from ndtms_contract.episodes import AcceptedEpisode
from ndtms_contract.journeys import ClientJourneys
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import JOURNEYS, VALID
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.journey import ownership, store
from services.journey.journeys import custody_periods_of, journeys_of
from services.journey.records import span_of
from tests.builders import accepted, community

pytestmark = pytest.mark.broker
PARTS = ("journeys", "custody_periods")


def person_records(rng: random.Random, client_key: str, n: int) -> list[AcceptedEpisode]:
    """One made-up person's community episodes: new, corrected, withdrawn, in shuffled order."""
    records = []
    start = date(2023, 1, 1) + timedelta(days=rng.randrange(300))
    for k in range(rng.randint(1, 3)):
        referral = start + timedelta(days=rng.choice((0, 10, 22, 40)))
        discharge = referral + timedelta(days=rng.randrange(5, 60)) if rng.random() < 0.7 else None
        data: dict[str, Any] = community(
            episode_id=f"KR{n:05d}E{k}",
            referral_date=referral.isoformat(),
            triage_date=(referral + timedelta(days=1)).isoformat(),
            interventions=[],
            recorded_at="2025-01-01T00:00:00Z",
        )
        if discharge is not None:
            data |= {"discharge_date": discharge.isoformat(), "discharge_reason": "incomplete_dropped_out"}
        records.append(accepted(data, client_key))
        roll = rng.random()
        if roll < 0.2:
            moved = referral + timedelta(days=rng.choice((-5, 3, 25)))
            corrected = data | {"revision": 2, "referral_date": moved.isoformat()}
            corrected["triage_date"] = (moved + timedelta(days=1)).isoformat()
            records.append(accepted(corrected, client_key))
        elif roll < 0.3:
            withdrawn = {"provider_id": data["provider_id"], "episode_id": data["episode_id"], "revision": 2}
            records.append(accepted(withdrawn | {"deleted": True}, client_key))
        start = discharge or referral
    rng.shuffle(records)
    return records


def expected_record(records: list[AcceptedEpisode]) -> dict[str, Any] | None:
    """The journey rule applied by hand to the person's final revisions."""
    final: dict[str, AcceptedEpisode] = {}
    for record in records:
        if record.episode_key not in final or record.revision > final[record.episode_key].revision:
            final[record.episode_key] = record
    spans = [s for s in (span_of(r) for r in final.values()) if s is not None]
    if not spans:
        return None
    return {
        "journeys": [j.model_dump(mode="json") for j in journeys_of(spans)],
        "custody_periods": [c.model_dump(mode="json") for c in custody_periods_of(spans)],
    }


@pytest.fixture
def service(
    platform: PlatformSettings, database_url: str, tmp_path: Path
) -> Iterator[tuple[ManagedProcess, list[str], dict[str, str]]]:
    env = service_environment(platform)
    env |= {
        "NDTMS_DATABASE_URL": database_url,
        "NDTMS_JOURNEY_GROUP_ID": f"journey-kill-{time.time_ns()}",
        "NDTMS_JOURNEY_PORT": "28712",
        "NDTMS_JOURNEY_BATCH_SIZE": "50",
        "NDTMS_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
    }
    process = ManagedProcess("journey-kill", tmp_path / "run", tmp_path / "logs")
    argv = [sys.executable, "-m", "services.journey"]
    yield process, argv, env
    process.stop()


def _stored_total(engine: Any) -> int:
    with Session(engine) as session:
        return sum(store.stored_offsets(session, VALID.name).values())


def publish_people(
    platform: PlatformSettings, seed: int, first: int, count: int = 600
) -> tuple[dict[str, list[AcceptedEpisode]], dict[int, int], int]:
    """`count` made-up people's records on ndtms.episodes.valid: the people, where
    ndtms.journeys ended before them, and the total end offset of ndtms.episodes.valid after them."""
    reader = Consumer({**platform.kafka_client_config(), "group.id": "kill-start"})
    published_from = end_offsets(reader, JOURNEYS.name, JOURNEYS.partitions)
    reader.close()
    rng = random.Random(seed)
    people = {f"{first + n:032x}": person_records(rng, f"{first + n:032x}", n) for n in range(count)}
    codec = AvroTranscoder(registry_client(platform.registry_url), VALID, AcceptedEpisode)
    producer = Producer(platform.producer_config())
    for records in people.values():
        for record in records:
            producer.produce(VALID.name, key=record.client_key.encode(), value=codec.encode(record))
    producer.flush(30)
    probe = Consumer({**platform.kafka_client_config(), "group.id": "kill-probe"})
    end = sum(end_offsets(probe, VALID.name, VALID.partitions).values())
    probe.close()
    return people, published_from, end


def test_killed_mid_replay_and_restarted_nothing_is_lost_or_doubled(
    platform: PlatformSettings, database_url: str, service: tuple[ManagedProcess, list[str], dict[str, str]]
) -> None:
    process, argv, env = service
    # What this run publishes only: the other parametrisation published the same people.
    people, published_from, end = publish_people(platform, seed=61, first=7_000_000)

    engine = engine_for(database_url)
    store.migrate(engine)  # so progress can be read before the service's own start-up migrates
    killed_at: list[int] = []
    for _ in range(2):
        pid = process.start(argv, env=env, cwd=PROJECT_ROOT)
        deadline = time.monotonic() + 120
        before = _stored_total(engine) if killed_at else 0
        while _stored_total(engine) <= before:
            assert time.monotonic() < deadline, f"no progress; log:\n{process.log_tail()}"
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        killed_at.append(_stored_total(engine))
        assert killed_at[-1] < end, "the service had finished before it was killed"
        time.sleep(0.5)
    process.start(argv, env=env, cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 180
    while _stored_total(engine) < end:
        assert time.monotonic() < deadline, f"never caught up; log:\n{process.log_tail()}"
        time.sleep(0.2)
    time.sleep(2)  # the outbox drains after the commit
    _assert_final(platform, engine, people, published_from)
    assert killed_at[0] > 0


def _assert_final(
    platform: PlatformSettings,
    engine: Any,
    people: dict[str, list[AcceptedEpisode]],
    published_from: dict[int, int],
) -> None:
    """The store and ndtms.journeys hold the rule applied by hand, each change published once."""
    with Session(engine) as session:
        assert store.every_pending_publication(session) == []
        for client_key, records in people.items():
            document = session.get(store.PersonRow, client_key)
            want = expected_record(records)
            got = (
                None
                if document is None
                else {k: document.document[k] for k in ("journeys", "custody_periods")}
            )
            assert got == want, client_key

    written = _published(platform, set(people), published_from)
    # Exactly once: the outbox rows a kill left behind after publishing them were not sent again,
    # so no record repeats the one before it for the same person (the store publishes only a
    # change). A person emptied twice (a tombstone, a document, a tombstone) is not a repeat:
    # counting every equal pair flagged that whenever batches fell between the withdrawals.
    twice = repeats(written)
    assert not twice, f"published more than once: {[(k, v is None) for k, v in twice[:5]]}"
    published = _latest_journeys(platform, written)
    for client_key, records in people.items():
        want = expected_record(records)
        got = published.get(client_key)
        assert (None if got is None else {k: got[k] for k in PARTS}) == want


def test_two_instances_on_one_postgres_store_one_killed_mid_replay(
    platform: PlatformSettings, postgres_server: str, tmp_path: Path
) -> None:
    """Partition-owned instances: each applies and publishes only the partitions it owns; a
    SIGKILLed one's partitions move to the other, which fences its publisher and carries on."""
    database_url = fresh_database(postgres_server, f"test_{time.time_ns()}")
    # Half the feed before they start, half just before the kill: the pair is mid-replay when
    # one dies however fast it reads (all of it up front, they had sometimes finished).
    people, published_from, _ = publish_people(platform, seed=67, first=8_000_000, count=300)
    engine = engine_for(database_url)
    store.migrate(engine)

    group = f"journey-pair-{time.time_ns()}"
    argv = [sys.executable, "-m", "services.journey"]
    processes = {}
    for name, port in (("journey-a", 28712), ("journey-b", 28714)):
        env = service_environment(platform) | {
            "NDTMS_DATABASE_URL": database_url,
            "NDTMS_JOURNEY_GROUP_ID": group,
            "NDTMS_JOURNEY_PORT": str(port),
            "NDTMS_JOURNEY_BATCH_SIZE": "50",
            "NDTMS_STREAM_INSTANCE_ID": name,
            "NDTMS_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
        }
        process = ManagedProcess(name, tmp_path / "run", tmp_path / "logs")
        processes[name] = (process, env)
    try:
        for process, env in processes.values():
            process.start(argv, env=env, cwd=PROJECT_ROOT)
        deadline = time.monotonic() + 120
        while len({o for o, _ in _owners(engine).values()}) < 2 or _stored_total(engine) == 0:
            assert time.monotonic() < deadline, f"the pair never shared the work; {_owners(engine)}"
            time.sleep(0.05)
        second_half, _, end = publish_people(platform, seed=68, first=8_000_300, count=300)
        people |= second_half
        killed, env = processes["journey-a"]
        pid = killed.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert _stored_total(engine) < end, "the pair had finished before one was killed"
        time.sleep(1)
        killed.start(argv, env=env, cwd=PROJECT_ROOT)
        deadline = time.monotonic() + 240
        while _stored_total(engine) < end:
            logs = {n: p.log_tail() for n, (p, _) in processes.items()}
            assert time.monotonic() < deadline, f"never caught up; logs:\n{logs}"
            time.sleep(0.2)
        time.sleep(3)  # the outboxes drain after the commits
        _assert_final(platform, engine, people, published_from)
        owners = _owners(engine)
        assert {owner for owner, _ in owners.values()} <= {"journey-a", "journey-b"}
        assert all(epoch >= 1 for _, epoch in owners.values())
    finally:
        for process, _ in processes.values():
            process.stop()


def _owners(engine: Any) -> dict[int, tuple[str | None, int]]:
    with Session(engine) as session:
        return ownership.owners(session)


def repeats(written: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    """Records equal to the one before them for the same key."""
    last: dict[str, bytes | None] = {}
    found = []
    for key, value in written:
        if key in last and last[key] == value:
            found.append((key, value))
        last[key] = value
    return found


def test_a_repeat_is_a_record_equal_to_the_one_before_it_for_its_key() -> None:
    tombstone, document = None, b"journeys"
    emptied_twice = [("k", document), ("k", tombstone), ("k", document), ("k", tombstone)]
    assert repeats(emptied_twice) == []
    assert repeats([("k", document), ("j", tombstone), ("k", document)]) == [("k", document)]


def _published(
    platform: PlatformSettings, keys: set[str], start: dict[int, int]
) -> list[tuple[str, bytes | None]]:
    """Every record of these people on ndtms.journeys from `start`, in order, read committed."""
    consumer = Consumer(
        {
            **platform.kafka_client_config(),
            "group.id": f"kill-read-{time.time_ns()}",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    ends = end_offsets(consumer, JOURNEYS.name, JOURNEYS.partitions)
    consumer.assign([TopicPartition(JOURNEYS.name, p, start[p]) for p in range(JOURNEYS.partitions)])
    found: list[tuple[str, bytes | None]] = []
    done: set[int] = {p for p, e in ends.items() if e <= start[p]}
    deadline = time.monotonic() + 60
    while len(done) < JOURNEYS.partitions:
        assert time.monotonic() < deadline, "could not read ndtms.journeys to its end"
        for message in consumer.consume(1000, timeout=0.5):
            if message.error() is not None:
                done.add(message.partition() or 0)  # end of partition
                continue
            key = (message.key() or b"").decode()
            if key in keys:
                found.append((key, message.value()))
    consumer.close()
    return found


def _latest_journeys(platform: PlatformSettings, records: list[tuple[str, bytes | None]]) -> dict[str, Any]:
    codec = AvroTranscoder(registry_client(platform.registry_url), JOURNEYS, ClientJourneys)
    latest: dict[str, Any] = {}
    for key, value in records:
        latest[key] = None if value is None else codec.decode(value).model_dump(mode="json")
    return {k: v for k, v in latest.items() if v is not None}
