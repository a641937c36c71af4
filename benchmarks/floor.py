"""The dataflow's own floor, beside the real pipeline, in one run on one broker.

    python -m benchmarks.floor [--updates N]

Starts its own broker and registry (ports 27092/27081), writes one synthetic feed (5 % invalid)
and runs, one after the other on that broker:
  - the real pipeline: `ndtms publish FILE.jsonl`, then the validator, then the linker and the
    journey service (as `ndtms up` runs them), until each has committed everything on its inputs;
  - the floor: the same `ndtms publish` of the same lines, then three pass-through hops
    (`benchmarks.floor_hop`) shaped like the stages, with the same client configuration, batch
    size, commit interval and transactions, and the same share of output records per input as
    the real run produced (counted on its topics), but no rules, state lookups or database.
It prints each run's updates per second from the start of the publish until every hop or stage
has read everything, the ratio of the two, and CPU per 1,000 updates for every process.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from benchmarks import floor_hop
from benchmarks.pipeline import processes_cpu, publish, write_feed
from benchmarks.running import benchmark_settings, cpu_seconds, drained_in_order, parser_for
from ndtms.localrun.kafka import LocalCluster
from ndtms.localrun.platform import platform_running
from ndtms.localrun.processes import ManagedProcess
from ndtms.localrun.registry import LocalRegistry
from ndtms.localrun.services import SERVICES, service_environment, start_all, stop_all
from ndtms_apps.cli.platform_status import end_offsets
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CANDIDATES, INTERNAL, JOURNEYS, LINKS, MATCHING, RAW, VALID
from ndtms_contract.transcoding import registry_client, transcoder_for

LINKER_STATE = [s.name for s in INTERNAL if s.name.startswith("ndtms-linker-") and s.name.endswith("-state")]


def partitions(settings: PlatformSettings, topic: str) -> int:
    metadata = AdminClient(settings.kafka_client_config()).list_topics(topic, timeout=10)
    return len(metadata.topics[topic].partitions)


def ends(settings: PlatformSettings, topics: Sequence[str]) -> dict[str, dict[int, int]]:
    probe = Consumer({**settings.kafka_client_config(), "group.id": "floor-probe"})
    try:
        return {t: end_offsets(probe, t, partitions(settings, t)) for t in topics}
    finally:
        probe.close()


def records(settings: PlatformSettings, topic: str) -> tuple[int, bytes | None]:
    """How many records a topic holds (read committed), and the last value seen."""
    consumer = Consumer(
        {**settings.kafka_client_config(), "group.id": "floor-count", "enable.partition.eof": True}
    )
    count, last, done = 0, None, set[int]()
    try:
        total = partitions(settings, topic)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(total)])
        while len(done) < total:
            for message in consumer.consume(1000, timeout=1):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done.add(message.partition() or 0)
                    continue
                count += 1
                last = message.value() if message.value() is not None else last
    finally:
        consumer.close()
    return count, last


def platform_cpu(settings: PlatformSettings) -> dict[str, float]:
    """CPU seconds the broker(s) and the registry have used so far."""
    found = {}
    for node in LocalCluster(settings).nodes:
        pid = node.process.pid()
        if pid is not None:
            found[node.process.name] = cpu_seconds(pid)
    pid = LocalRegistry(settings).process.pid()
    if pid is not None:
        found["registry"] = cpu_seconds(pid)
    return found


def published(settings: PlatformSettings, feed: Path) -> float:
    """`ndtms publish` of the feed; the CPU seconds its process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    publish(settings, feed)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def real_run(settings: PlatformSettings, feed: Path, n: int) -> dict[str, Any]:
    start_all(settings)
    try:
        before = {**processes_cpu(settings), **platform_cpu(settings)}
        began = time.perf_counter()
        publisher = published(settings, feed)
        spec = {s.name: s for s in SERVICES}
        drained_in_order(
            settings,
            [
                [(spec["validator"].group_id or "", spec["validator"].input_topics)],
                [(spec[name].group_id or "", spec[name].input_topics) for name in ("linker", "journey")],
            ],
        )
        seconds = time.perf_counter() - began
        after = {**processes_cpu(settings), **platform_cpu(settings)}
    finally:
        stop_all(settings)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after} | {"ndtms publish": publisher}
    return {"seconds": seconds, "cpu": cpu}


def shares_of(settings: PlatformSettings) -> dict[str, Any]:
    """What the real linker and journey wrote per input record, and a record of each kind."""
    registry = registry_client(settings.registry_url)
    valid, _ = records(settings, VALID.name)
    matching, _ = records(settings, MATCHING.name)
    links, link = records(settings, LINKS.name)
    candidates, candidate = records(settings, CANDIDATES.name)
    _, person = records(settings, JOURNEYS.name)
    state = sum(records(settings, topic)[0] for topic in LINKER_STATE)

    def template(topic: Any, value: bytes | None) -> Any:
        return (
            None if value is None else transcoder_for(registry, topic).decode(value).model_dump(mode="json")
        )

    return {
        "links": links / valid,
        "candidates": candidates / matching if matching else 0.0,
        "state": state / valid,
        "link_template": template(LINKS, link),
        "candidate_template": template(CANDIDATES, candidate),
        "journey_template": template(JOURNEYS, person),
    }


def floor_run(settings: PlatformSettings, feed: Path, shares: dict[str, Any], state: Path) -> dict[str, Any]:
    admin = AdminClient(settings.kafka_client_config())
    shaped = {
        floor_hop.FLOOR_VALID: partitions(settings, VALID.name),
        floor_hop.FLOOR_MATCHING: partitions(settings, MATCHING.name),
        floor_hop.FLOOR_LINKS: partitions(settings, LINKS.name),
        floor_hop.FLOOR_CANDIDATES: partitions(settings, CANDIDATES.name),
        floor_hop.FLOOR_JOURNEYS: partitions(settings, JOURNEYS.name),
        floor_hop.FLOOR_STATE: partitions(settings, RAW.name),
    }
    for topic, count in shaped.items():
        admin.create_topics([NewTopic(topic, num_partitions=count, replication_factor=1)])[topic].result()
    # The floor's validator starts where the raw topic ends now: it reads only its own publish.
    start = Consumer({**settings.kafka_client_config(), "group.id": floor_hop.GROUPS["validator"]})
    raw_ends = ends(settings, [RAW.name])[RAW.name]
    start.commit(offsets=[TopicPartition(RAW.name, p, o) for p, o in raw_ends.items()], asynchronous=False)
    start.close()
    env = service_environment(settings)
    hops = {name: ManagedProcess(f"floor-{name}", state / "run", state / "logs") for name in floor_hop.GROUPS}
    pids = {
        name: process.start([sys.executable, "-m", "benchmarks.floor_hop", name, json.dumps(shares)], env=env)
        for name, process in hops.items()
    }
    try:
        time.sleep(5)  # joined their groups
        before = {name: cpu_seconds(pid) for name, pid in pids.items()} | platform_cpu(settings)
        began = time.perf_counter()
        publisher = published(settings, feed)
        drained_in_order(
            settings,
            [
                [(floor_hop.GROUPS["validator"], floor_hop.INPUTS["validator"])],
                [(floor_hop.GROUPS[name], floor_hop.INPUTS[name]) for name in ("linker", "journey")],
            ],
        )
        seconds = time.perf_counter() - began
        now = {name: cpu_seconds(pid) for name, pid in pids.items()} | platform_cpu(settings)
        cpu = {name: now[name] - before[name] for name in now} | {"ndtms publish": publisher}
    finally:
        for process in hops.values():
            process.stop(timeout=30)
    return {"seconds": seconds, "cpu": cpu}


def main() -> None:
    parser = parser_for(__doc__)
    parser.set_defaults(updates=60_000)
    args = parser.parse_args()
    n = args.updates
    with tempfile.TemporaryDirectory(prefix="ndtms-bench-floor-") as folder:
        state = Path(folder)
        with platform_running(benchmark_settings(folder)) as settings:
            feed = state / "feed.jsonl"
            write_feed(feed, n, seed=23)
            real = real_run(settings, feed, n)
            shares = shares_of(settings)
            floor = floor_run(settings, feed, shares, state)
    rate, floor_rate = n / real["seconds"], n / floor["seconds"]
    print(f"floor and pipeline over the same {n:,} updates (5 % invalid), one broker, one instance each:")
    print(f"  floor (pass-through hops):  {floor_rate:8,.0f} updates/s")
    print(f"  pipeline (the services):    {rate:8,.0f} updates/s = {rate / floor_rate:.1%} of the floor")
    print(
        f"  shares the floor copied from the real run: links {shares['links']:.3f}, candidates "
        f"{shares['candidates']:.3f} per matching record, linker state {shares['state']:.3f} per valid record"
    )
    for label, cpu in (("floor", floor["cpu"]), ("pipeline", real["cpu"])):
        print(
            f"  CPU ms per 1,000 updates, {label}: {1_000_000 * sum(cpu.values()) / n:,.0f} in all; "
            + ", ".join(f"{name} {1_000_000 * seconds / n:,.0f}" for name, seconds in sorted(cpu.items()))
        )


if __name__ == "__main__":
    main()
