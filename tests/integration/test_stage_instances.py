"""Stage instances on a real broker: one live process per instance id."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ndtms.localrun.services import service_environment
from ndtms_apps.cli.platform_status import end_offsets, group_lag
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import RAW
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from tests.builders import community

pytestmark = pytest.mark.broker


def validator(
    settings: PlatformSettings, app: str, instance: str, port: int, state: Path, log: Path | None = None
) -> subprocess.Popen[str]:
    """A validator process, logging to `log`, or to a pipe the caller reads (`communicate`): a
    pipe nobody reads blocks the process once it fills."""
    env = {
        **service_environment(settings),
        "NDTMS_VALIDATOR_APP_ID": app,
        "NDTMS_VALIDATOR_PORT": str(port),
        "NDTMS_STREAM_INSTANCE_ID": instance,
        "NDTMS_STATE_DIR": str(state),
    }
    state.mkdir(parents=True, exist_ok=True)
    stderr = log.open("w") if log is not None else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "services.validator"], env=env, stderr=stderr, text=True)


def ready(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the validator on {port} was not ready in {timeout:.0f} s")


def test_a_second_process_with_the_same_instance_id_exits_and_the_first_carries_on(
    platform: PlatformSettings, tmp_path: Path
) -> None:
    app = f"test-dup-{uuid.uuid4().hex[:8]}"
    # A group of its own (not the suite's validator's), so its state changelogs too.
    admin = AdminClient(platform.kafka_client_config())
    changelogs = [
        NewTopic(f"{app}-{store}-state", RAW.partitions, 1, config={"cleanup.policy": "compact"})
        for store in ("heads", "erasures")
    ]
    for future in admin.create_topics(changelogs).values():
        future.result(30)
    first = validator(platform, app, "dup-0", 28721, tmp_path / "a", log=tmp_path / "first.log")
    second: subprocess.Popen[str] | None = None
    try:
        ready(28721)
        # Another state folder and port, the same id: as a copied manifest or a stray start would.
        second = validator(platform, app, "dup-0", 28722, tmp_path / "b")
        _, said = second.communicate(timeout=120)
        assert second.returncode != 0
        assert f"instance id 'dup-0' of {app} is already in use by process {first.pid}" in said
        assert first.poll() is None, "the first instance was harmed"
        # The first keeps its partitions and commits: a new update is consumed and committed.
        codec = AvroTranscoder(registry_client(platform.registry_url), RAW, EpisodeUpdate)
        producer = Producer(platform.producer_config())
        update = EpisodeUpdate.model_validate(community(episode_id=f"DUP-{uuid.uuid4().hex[:6]}"))
        producer.produce(RAW.name, key=b"k", value=codec.encode(update))
        producer.flush(30)
        probe = Consumer({**platform.kafka_client_config(), "group.id": "test-dup-probe"})
        ends = {RAW.name: end_offsets(probe, RAW.name, RAW.partitions)}
        probe.close()
        deadline = time.monotonic() + 120
        while group_lag(platform, app, ends) > 0:
            assert time.monotonic() < deadline, "the first instance stopped committing"
            assert first.poll() is None, "the first instance died"
            time.sleep(0.5)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(60)
