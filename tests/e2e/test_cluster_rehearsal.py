"""The rehearsal of production: `ndtms up --brokers 3 --instances 2`, then kills mid-feed.

Its own state folder and ports (Kafka nodes 31192/31194/31196, registry 31181, services 31700
and up): nothing of the rest of the suite's platform is shared. A trimmed feed, not trimmed
faults: an instance of the validator and of the linker and a broker node are SIGKILLed
mid-feed, `ndtms up` brings them back, and the links equal the 21-day rule applied by hand.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from sqlalchemy.orm import Session

from ndtms.databases import engine_for
from ndtms.localrun.postgres import LocalPostgres
from ndtms.localrun.processes import ManagedProcess
from ndtms_apps.feeds.scenarios import continuity_feed, final_accepted
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.periods import year_to
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CATALOGUE, INTERNAL
from services.journey.measures import Breakdown, MeasureRow
from services.journey.measuring import measure_rows
from services.journey.settings import JourneySettings
from tests.e2e.pipeline import (
    Ndtms,
    assert_each_revision_forwarded_once,
    current_by_key,
    journey_documents,
    links_by_hand,
    links_once,
    records_to_end,
    repeated,
    settle,
    write_jsonl,
)
from tests.unit.test_extracts import HEADER

pytestmark = pytest.mark.broker

PORTS = {
    "NDTMS_LOCAL_KAFKA_PORT": "31192",
    "NDTMS_LOCAL_REGISTRY_PORT": "31181",
    "NDTMS_INGEST_PORT": "31700",
    "NDTMS_VALIDATOR_PORT": "31701",
    "NDTMS_JOURNEY_PORT": "31702",
    "NDTMS_LINKER_PORT": "31703",
    "NDTMS_LOCAL_POSTGRES_PORT": "31432",
}
# Not the catalogue's six, and odd: the two instances of each service own unequal shares, and
# every changelog, the erasure sweep and the journey's partition of a person must follow it.
PARTITIONS = 5


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ndtms]:
    state = tmp_path_factory.mktemp("rehearsal")
    settings = PlatformSettings(
        state_dir=state,
        local_kafka_port=31192,
        local_registry_port=31181,
        ingest_port=31700,
        validator_port=31701,
        journey_port=31702,
        linker_port=31703,
        local_postgres_port=31432,
        pseudonym_key="rehearsal-key",
        local_kafka_brokers=3,
        topic_partitions=PARTITIONS,
    )
    command = Ndtms(settings)
    # `ndtms up` starts the cluster and the registry itself: no address of another one.
    outside = ("KAFKA_BOOTSTRAP_SERVERS", "NDTMS_SCHEMA_REGISTRY_URL", "NDTMS_KAFKA_BOOTSTRAP_SERVERS")
    command.env = {k: v for k, v in command.env.items() if k not in outside and not k.endswith("_PORT")}
    command.env |= {**PORTS, "NDTMS_STATE_DIR": str(state), "NDTMS_PSEUDONYM_KEY": "rehearsal-key"}
    command.env["NDTMS_TOPIC_PARTITIONS"] = str(PARTITIONS)
    try:
        command("up", "--brokers", "3", "--instances", "2", timeout=600)
        yield command
    finally:
        command("down", timeout=300, check=False)
        # The shared stores' server may live outside the state folder (see LocalPostgres).
        LocalPostgres(state, 31432).discard()


def status(ndtms: Ndtms) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ndtms("status", "--json").stdout)
    return found


def test_every_instance_runs_and_every_topic_has_three_copies_two_in_sync(rehearsal: Ndtms) -> None:
    services = status(rehearsal)["services"]
    for name, count in (("validator", 2), ("linker", 2), ("ingest", 2), ("journey", 2)):
        listed = services[name]["instances"]
        assert len(listed) == count and all(i["up"] for i in listed), listed
        assert len({i["pid"] for i in listed}) == count
        assert len({i["url"] for i in listed}) == count
    admin = AdminClient({"bootstrap.servers": rehearsal.settings.bootstrap_servers})
    metadata = admin.list_topics(timeout=30)
    assert len(metadata.brokers) == 3
    names = [spec.name for spec in (*CATALOGUE, *INTERNAL)]
    for name in names:
        assert {len(p.replicas) for p in metadata.topics[name].partitions.values()} == {3}, name
    for spec in (*CATALOGUE, *INTERNAL):
        wanted = PARTITIONS if spec.partitions > 1 else 1
        assert len(metadata.topics[spec.name].partitions) == wanted, spec.name
    futures = admin.describe_configs([ConfigResource("topic", name) for name in names])
    for resource, future in futures.items():
        assert future.result(30)["min.insync.replicas"].value == "2", resource.name


def measures_of(database_url: str, today: date) -> list[MeasureRow]:
    engine = engine_for(database_url)
    with Session(engine) as session:
        rows = measure_rows(session, year_to(today), Breakdown.PROVIDER)
    engine.dispose()
    return rows


def key_of(data: dict[str, Any]) -> str | None:
    """The client key a record names (under the rehearsal's pseudonym key)."""
    c = EpisodeUpdate.model_validate(data).client
    if c is None:
        return None
    return client_key(b"rehearsal-key", c.first_initial, c.second_initial, c.date_of_birth, c.sex)


def kill(process: ManagedProcess) -> None:
    pid = process.pid()
    assert pid is not None, f"{process.name} is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while process.pid() is not None:
        assert time.monotonic() < deadline, f"{process.name} outlived SIGKILL"
        time.sleep(0.1)


def test_instances_and_a_broker_killed_mid_feed_change_no_outcome_and_an_erasure_holds(
    rehearsal: Ndtms, tmp_path: Path
) -> None:
    submissions = continuity_feed(rehearsal.today(), people=120, seed=2525, label="C")
    feed = [record for submission in submissions for record in submission]
    state = rehearsal.settings.state_dir.resolve()

    def process(name: str) -> ManagedProcess:
        return ManagedProcess(name, state / "run", state / "logs")

    def publish(n: int) -> None:
        path = write_jsonl(tmp_path / f"c-{n}.jsonl", [r.data for r in submissions[n]])
        assert json.loads(rehearsal("publish", str(path), "--json").stdout)["rejected"] == 0

    publish(0)
    # Someone objects: erased everywhere, by every instance, and for good.
    erased = key_of(next(r.data for r in submissions[0] if r.data.get("client")))
    assert erased is not None
    erasing = rehearsal("erase", "--client-key", erased, "--timeout", "120", "--json", timeout=300)
    assert json.loads(erasing.stdout)["complete"], erasing.stdout
    publish(1)
    for name in ("validator-1", "linker-0", "journey-1", "kafka-2"):
        kill(process(name))
    publish(2)  # two of three brokers, one instance of each stage
    rehearsal("up", timeout=600)  # starts only what is missing
    assert all(i["up"] for s in status(rehearsal)["services"].values() for i in s["instances"])
    publish(3)
    settle(rehearsal, timeout=300)
    time.sleep(2)

    accepted = {key: data for key, data in final_accepted(feed).items() if key_of(data) != erased}
    expected, _ = links_by_hand(rehearsal, accepted)
    links = links_once(rehearsal, {r.episode_key for r in feed})  # nothing written twice
    assert len(expected) > 40
    assert links == expected
    assert not any(link["client_key"] == erased for link in links.values())

    # The journeys two partition-owned instances wrote (one killed mid-feed) are what one
    # instance replaying the same records makes, and each change went out once.
    live_url = JourneySettings(**rehearsal.settings.model_dump()).effective_database_url
    assert live_url.startswith("postgresql"), live_url
    single_url = f"sqlite:///{tmp_path / 'single.db'}"
    rehearsal("journeys", "rebuild", "--into", single_url, "--json", timeout=600)
    live, single = journey_documents(live_url), journey_documents(single_url)
    assert len(live) > 40 and erased not in live
    assert live == single
    published = [r for r in records_to_end(rehearsal, "journeys") if r["key"] != erased]
    assert repeated(published, ignore=("updated_at",)) == []
    assert {k: v for k, v in current_by_key(published).items() if v is not None}.keys() == live.keys()
    # The treatment measures the shared store gives are the single instance's.
    assert measures_of(live_url, rehearsal.today()) == measures_of(single_url, rehearsal.today())

    # Every accepted revision forwarded once by the two validators (one killed), the feed's
    # final accepted revisions in force, and each revision's quality report written once.
    # (The erased person's later revisions are dropped and their reports cleared: not compared.)
    theirs = frozenset(r.episode_key for r in feed if key_of(r.data) == erased)
    assert_each_revision_forwarded_once(rehearsal, feed, "validator-1 killed mid-feed", theirs)
    ours = {r.episode_key for r in feed} - theirs
    reports = [r for r in records_to_end(rehearsal, "errors") if r["key"] in ours]
    # A later report of a revision (the cross-episode checks) says something new; a repeat is a
    # report equal to the one before it for the episode. The feed resends some revisions, and a
    # resent rejected revision is reported again by design (the provider sent it again): only a
    # repeat of a revision sent once is one the stream wrote twice.
    sent = Counter((r.episode_key, r.data["revision"]) for r in feed)
    twice = [
        r for r in repeated(reports, ignore=("checked_at",)) if sent[(r["key"], r["value"]["revision"])] < 2
    ]
    assert reports and twice == []


def test_extracts_through_both_ingest_instances_share_one_ledger(rehearsal: Ndtms) -> None:
    """Behind a load balancer any instance may get a provider's next extract: a changed row gets
    the next revision whichever instance numbered the last, two extracts at once get one each,
    and a consent withdrawn through one instance after it was given through the other erases."""
    issued = json.loads(
        rehearsal(
            "credentials", "issue", "--name", "rehearsal vendor", "--provider", "CMTY077", "--json"
        ).stdout
    )
    auth = {"Authorization": f"Bearer {issued['key']}", "Content-Type": "text/csv"}
    ingest = [f"http://127.0.0.1:{31700 + 100 * i}/v1/extracts?provider=CMTY077" for i in range(2)]
    row = "CMTY077,REH-1,C,Q,R,1971-04-05,2,E09000033,Y,2024-03-05,2024-03-06,,,,,,,,"

    def send(instance: int, *rows: str) -> dict[str, Any]:
        body = ("\n".join((HEADER, *rows)) + "\n").encode()
        answer = httpx.post(ingest[instance], content=body, headers=auth, timeout=60)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    assert send(0, row)["new"] == 1
    assert send(1, row.replace("2024-03-06", "2024-03-07"))["changed"] == 1
    with ThreadPoolExecutor(2) as pool:
        at_once = list(pool.map(lambda i: send(i, row.replace("2024-03-06", f"2024-03-1{i}")), range(2)))
    assert [a["changed"] for a in at_once] == [1, 1]
    revisions = sorted(
        r["value"]["revision"] for r in records_to_end(rehearsal, "raw") if r["key"] == "CMTY077/REH-1"
    )
    assert revisions == [1, 2, 3, 4]

    withdrawn = send(0, row.replace(",Y,", ",N,"))
    assert (withdrawn["objections"], withdrawn["published"]) == (1, 0)
    erasures = [r["value"] for r in records_to_end(rehearsal, "erasures")]
    assert any(e["origin"] == "extract_consent_withdrawn" and e["erased_by"] == "CMTY077" for e in erasures)
