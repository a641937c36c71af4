"""Driving the running pipeline as a user would: the `ndtms` command and what it prints."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import string
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ndtms.clocks import clock_from, set_clock_file, today_in_england
from ndtms.databases import engine_for
from ndtms.localrun.services import PROJECT_ROOT, SERVICES, process_of, service_environment
from ndtms_apps.cli.platform_status import collect, end_offsets
from ndtms_apps.feeds.scenarios import final_accepted
from ndtms_apps.feeds.synthetic import Person
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import VALID, TopicSpec, resolve
from services.journey import store
from services.linker.exit_dates import exit_date_doubts
from services.linker.matching import outcomes
from services.linker.people import facts_of
from services.linker.settings import LinkerSettings
from services.validator.acceptance import accepted_form

NDTMS = str(Path(sys.executable).parent / "ndtms")


class Ndtms:
    """Runs the `ndtms` command as a user would, against the test platform."""

    def __init__(self, settings: PlatformSettings):
        self.settings = settings
        self.env = service_environment(settings)
        # Sweep often, so a window closed by moving the clock shows within seconds.
        self.env["NDTMS_LINKER_SWEEP_SECONDS"] = "1"
        # And let the operations page sample often enough to draw within a test.
        self.env["NDTMS_OPS_SAMPLE_SECONDS"] = "2"
        # And recompute the treatment-measure gauges as often.
        self.env["NDTMS_MEASURES_REFRESH_SECONDS"] = "2"

    def now(self) -> datetime:
        """The services' time: the clock file when the platform has one, else the system clock."""
        return clock_from(self.settings.clock_file)()

    def today(self) -> date:
        return today_in_england(self.now)

    def move_clock(self, by: timedelta) -> None:
        assert self.settings.clock_file is not None, "the test platform runs on a file clock"
        set_clock_file(self.settings.clock_file, self.now() + by)

    def __call__(
        self, *args: str, timeout: float = 240, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [NDTMS, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"ndtms {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result


def someone(seed: int) -> Person:
    rng = random.Random(seed)
    return Person(
        rng.choice(string.ascii_uppercase),
        rng.choice(string.ascii_uppercase),
        date(1970, 1, 1) + timedelta(days=rng.randrange(9000)),
        "female",
        "E09000033",
    )


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def records_of(ndtms: Ndtms, topic: str, idle: float = 3) -> list[dict[str, Any]]:
    result = ndtms("tail", topic, "--from-beginning", "--json", "--idle-timeout", str(idle))
    return [json.loads(line) for line in result.stdout.splitlines()]


def records_to_end(ndtms: Ndtms, topic: str) -> list[dict[str, Any]]:
    """Every record on the topic when called, and no waiting for a quiet spell."""
    result = ndtms("tail", topic, "--to-end", "--json")
    return [json.loads(line) for line in result.stdout.splitlines()]


def raw_records(ndtms: Ndtms, topic: str, committed: bool = True) -> list[tuple[bytes, bytes | None]]:
    """Every (key, value) of a topic as bytes, to its end (internal topics too); with
    `committed=False` aborted transactions' records as well."""
    consumer = Consumer(
        {
            **ndtms.settings.kafka_client_config(),
            "group.id": f"raw-read-{time.time_ns()}",
            "enable.partition.eof": True,
            "isolation.level": "read_committed" if committed else "read_uncommitted",
        }
    )
    found: list[tuple[bytes, bytes | None]] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        seen, ended = time.monotonic(), set[int]()
        while len(ended) < len(partitions) and time.monotonic() - seen < 10:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                ended.add(message.partition() or 0)
                continue
            seen = time.monotonic()
            found.append((message.key() or b"", message.value()))
    finally:
        consumer.close()
    return found


def wait_for(
    ndtms: Ndtms, topic: str, key: str, done: Callable[[dict[str, Any]], bool], timeout: float = 90
) -> list[dict[str, Any]]:
    """The records of `key` once the latest one satisfies `done` (the services are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in records_to_end(ndtms, topic) if r["key"] == key]
        if found and done(found[-1]):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{topic} never showed the expected record for {key}; last seen: {found[-1:]}"
            )
        time.sleep(1)


def settle(ndtms: Ndtms, timeout: float = 90) -> None:
    """Wait until every service has consumed everything on its input topics."""
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(ndtms("status", "--json").stdout)
        lags = {name: s["lag"] for name, s in status["services"].items()}
        if not any(lags.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"services still behind after {timeout:.0f}s: {lags}")
        time.sleep(1)


def current_by_key(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A compacted topic's state: the latest value per key, tombstones removing it."""
    latest: dict[str, Any] = {}
    for record in records:
        if record["value"] is None:
            latest.pop(record["key"], None)
        else:
            latest[record["key"]] = record["value"]
    return latest


def repeated(records: list[dict[str, Any]], ignore: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Records equal to the previous record of the same key (the `ignore` fields aside).

    Every stage publishes a key only when what it says changes, so a repeat is a record sent
    twice: what a crash or a redelivery would cause if the stream were not exactly-once.
    """
    last: dict[str, Any] = {}
    found = []
    for record in records:
        value = record["value"]
        plain = None if value is None else {k: v for k, v in value.items() if k not in ignore}
        if record["key"] in last and last[record["key"]] == plain:
            found.append(record)
        last[record["key"]] = plain
    return found


def kill_mid_replay(ndtms: Ndtms, service: str, output: str, timeout: float = 120) -> int:
    """Start a stopped service and SIGKILL it once it has written to `output`; its lag then."""
    spec = next(s for s in SERVICES if s.name == service)
    probe = Consumer({**ndtms.settings.kafka_client_config(), "group.id": "test-probe"})
    spec_of_output = resolve(output)
    try:
        before = sum(end_offsets(probe, spec_of_output.name, spec_of_output.partitions).values())
        # Small batches, so that the replay is still going when the first outputs show.
        env = ndtms.env | {"NDTMS_STREAM_BATCH_SIZE": "10"}
        pid = process_of(spec, ndtms.settings).start(
            [sys.executable, "-m", spec.module], env=env, cwd=PROJECT_ROOT
        )
        deadline = time.monotonic() + timeout
        while sum(end_offsets(probe, spec_of_output.name, spec_of_output.partitions).values()) == before:
            assert time.monotonic() < deadline, f"{service} wrote nothing to {output} in {timeout:.0f}s"
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    finally:
        probe.close()
    lag: int = collect(ndtms.settings)["services"][service]["lag"]
    assert lag > 0, f"{service} had finished before it was killed: not a kill mid-replay"
    return lag


def stop_service(ndtms: Ndtms, service: str) -> None:
    """SIGKILL a running service: its restart is then a replay of whatever arrived meanwhile."""
    spec = next(s for s in SERVICES if s.name == service)
    pid = process_of(spec, ndtms.settings).pid()
    assert pid is not None, f"{service} is not running"
    os.kill(pid, signal.SIGKILL)


def replay_linker_from_the_start(ndtms: Ndtms, *inputs: TopicSpec) -> None:
    """Stop the linker, delete its local state, move its group to offset 0 of these inputs
    (default `ndtms.episodes.valid`), and start it again."""
    stop_service(ndtms, "linker")
    group = LinkerSettings(**ndtms.settings.model_dump()).linker_app_id
    shutil.rmtree(ndtms.settings.state_dir / group, ignore_errors=True)
    admin = AdminClient(ndtms.settings.kafka_client_config())
    start = [TopicPartition(spec.name, p, 0) for spec in inputs or (VALID,) for p in range(spec.partitions)]
    deadline = time.monotonic() + 60
    while True:  # the killed static member holds the group until its session times out
        try:
            admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, start)])[group].result()
            break
        except KafkaException:
            assert time.monotonic() < deadline, "the linker's group never let its offsets be reset"
            time.sleep(1)
    ndtms("up")


def links_by_hand(ndtms: Ndtms, accepted: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], set[str]]:
    """The rule applied by hand to each person's final accepted episodes: outcomes and exit-date doubts."""
    secret = ndtms.settings.pseudonym_key.get_secret_value().encode()
    people: dict[str, list[Any]] = defaultdict(list)
    for data in accepted.values():
        update = EpisodeUpdate.model_validate(data)
        assert update.client is not None
        c = update.client
        key = client_key(secret, c.first_initial, c.second_initial, c.date_of_birth, c.sex)
        episode = facts_of(accepted_form(update, key, (), ndtms.now()))
        assert episode is not None
        people[key].append(episode)
    today = ndtms.today()
    expected: dict[str, Any] = {}
    doubted: set[str] = set()
    for key, facts in people.items():
        for transfer_id, outcome in outcomes(key, facts, today, grace_days=0).items():
            expected[transfer_id] = {
                **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in outcome.__dict__.items()},
                "status": outcome.status.value,
            }
        doubted |= set(exit_date_doubts(facts))
    return expected, doubted


def links_once(ndtms: Ndtms, transfers: set[str]) -> dict[str, Any]:
    """These transfers' current links (without `decided_at`), once it is checked that the
    stream is exactly-once: no link record on the topic (read committed) repeats the one before."""
    published = [r for r in records_of(ndtms, "links") if r["key"] in transfers]
    assert repeated(published, ignore=("decided_at",)) == []
    return {
        key: {k: v for k, v in value.items() if k != "decided_at"}
        for key, value in current_by_key(published).items()
    }


def birth_dates_in(text: str, *people: Person) -> list[str]:
    """Each of these people's dates of birth that `text` shows, in any form it could take
    (a bare year would also match a timestamp's digits, as `…571983Z` once did)."""
    found = []
    for who in people:
        born = who.date_of_birth
        for form in (born.isoformat(), born.strftime("%d/%m/%Y"), born.strftime("%Y%m%d")):
            if form in text:
                found.append(form)
    return found


def journey_documents(database_url: str) -> dict[str, object]:
    """Each person's journeys document in a journey store (without when it was computed)."""
    engine = engine_for(database_url)
    with Session(engine) as session:
        rows = session.scalars(select(store.PersonRow)).all()
        result: dict[str, object] = {
            r.client_key: {k: v for k, v in r.document.items() if k != "updated_at"} for r in rows
        }
    engine.dispose()
    return result


def assert_each_revision_forwarded_once(
    ndtms: Ndtms, feed: list[Any], context: str, erased: frozenset[str] = frozenset()
) -> None:
    """Every accepted revision of the feed is on ndtms.episodes.valid once (read committed), and
    the revisions in force are the feed's final accepted ones (`erased`: episodes of people
    erased on the way, whose later revisions the validator drops)."""
    ours = {r.episode_key for r in feed} - erased
    forwarded = [r["value"] for r in records_of(ndtms, "valid") if episode_of(r["value"]) in ours]
    identities = [(v["client_key"], episode_of(v), v["revision"], v["deleted"]) for v in forwarded]
    twice = sorted({i for i in identities if identities.count(i) > 1})
    assert not twice, f"{context}; forwarded more than once: {twice[:5]}"

    in_force: dict[str, dict[str, Any]] = {}
    for value in forwarded:
        held = in_force.get(episode_of(value))
        # A changed attributor forwards a withdrawal and the new filing at the same revision.
        if held is None or (value["revision"], not value["deleted"]) > (
            held["revision"],
            not held["deleted"],
        ):
            in_force[episode_of(value)] = value
    accepted = {key: v["revision"] for key, v in in_force.items() if not v["deleted"]}
    wanted = {key: data["revision"] for key, data in final_accepted(feed).items() if key not in erased}
    assert accepted == wanted


def episode_of(value: dict[str, Any]) -> str:
    return f"{value['provider_id']}/{value['episode_id']}"


def on_day(exit_date: date, contacts: list[tuple[date, date | None]], day: date) -> str:
    """The 21-day rule applied by hand to the dates, as the release stood on `day` (no grace)."""
    end = exit_date + timedelta(days=21)
    starts = [s for _, s in contacts if s is not None and exit_date <= s <= min(end, day)]
    triages = [t for t, _ in contacts if exit_date <= t <= min(end, day)]
    decided = day > end
    if starts:
        return "engaged" if decided else "engaged_window_open"
    if triages:
        return "triaged" if decided else "triaged_window_open"
    return "not_engaged" if decided else "pending"
