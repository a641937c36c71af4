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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from ndtms.contract.episodes import EpisodeUpdate
from ndtms.contract.pseudonyms import client_key
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CATALOGUE, INTERNAL
from ndtms.localrun.processes import ManagedProcess
from ndtms.scenarios import continuity_feed, final_accepted
from tests.e2e.pipeline import Ndtms, links_by_hand, links_once, settle, write_jsonl

pytestmark = pytest.mark.broker

PORTS = {
    "NDTMS_LOCAL_KAFKA_PORT": "31192",
    "NDTMS_LOCAL_REGISTRY_PORT": "31181",
    "NDTMS_INGEST_PORT": "31700",
    "NDTMS_VALIDATOR_PORT": "31701",
    "NDTMS_JOURNEY_PORT": "31702",
    "NDTMS_LINKER_PORT": "31703",
}


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
        pseudonym_key="rehearsal-key",
        local_kafka_brokers=3,
    )
    command = Ndtms(settings)
    # `ndtms up` starts the cluster and the registry itself: no address of another one.
    outside = ("KAFKA_BOOTSTRAP_SERVERS", "NDTMS_SCHEMA_REGISTRY_URL", "NDTMS_KAFKA_BOOTSTRAP_SERVERS")
    command.env = {k: v for k, v in command.env.items() if k not in outside and not k.endswith("_PORT")}
    command.env |= {**PORTS, "NDTMS_STATE_DIR": str(state), "NDTMS_PSEUDONYM_KEY": "rehearsal-key"}
    try:
        command("up", "--brokers", "3", "--instances", "2", timeout=600)
        yield command
    finally:
        command("down", timeout=300, check=False)


def status(ndtms: Ndtms) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ndtms("status", "--json").stdout)
    return found


def test_every_instance_runs_and_every_topic_has_three_copies_two_in_sync(rehearsal: Ndtms) -> None:
    services = status(rehearsal)["services"]
    for name, count in (("validator", 2), ("linker", 2), ("ingest", 1), ("journey", 1)):
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
    futures = admin.describe_configs([ConfigResource("topic", name) for name in names])
    for resource, future in futures.items():
        assert future.result(30)["min.insync.replicas"].value == "2", resource.name


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
    for name in ("validator-1", "linker-0", "kafka-2"):
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
