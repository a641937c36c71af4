"""The linker's throughput alone, and the pipeline's latency at a steady offered load.

    python -m benchmarks.linker [--updates N] [--rate R] [--seconds S] [--commit-seconds C ...]

Starts its own broker and registry (ports 27092/27081, state in a temporary folder) and measures:
  1. linker alone: N accepted episodes pre-loaded on `ndtms.episodes.valid`; the linker process
     from ready until its consumer group's lag is zero; then (`--instances`, default 2) the same
     with that many instances on a fresh broker, with each one's CPU and which holds the
     national probable-match search.
     Reference: the consume->decode->encode->produce hop of `benchmarks.validator` over the same
     records.
  2. latency, once per stage commit interval (`--commit-seconds`, default 0.1 and 0.5): prison
     releases published first (pending links) and every service left to settle; then, at R
     updates/s for S seconds, a community update engaging each one. Latency is from the
     producer's acknowledged send to the engaged link record being read (committed) from
     `ndtms.links`. Reference: the same producer and consumer round trip through a scratch
     topic, no services in between.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from benchmarks.feeds import updates
from benchmarks.running import (
    BENCHMARK_PSEUDONYM_KEY,
    benchmark_settings,
    drained,
    holds_the_search,
    instances_running,
    parser_for,
)
from benchmarks.validator import passthrough, per_thousand
from ndtms.localrun.platform import platform_running
from ndtms.localrun.services import Instance, start_all, stop_all
from ndtms.offsets import end_offset
from ndtms_apps.feeds.synthetic import community_episode, person, prison_release
from ndtms_client.raw_topic import RawTopicWriter
from ndtms_contract.episodes import AcceptedEpisode, EpisodeUpdate
from ndtms_contract.links import TransferLink
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import LINKS, RAW, VALID
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.validator.acceptance import accepted_form

SECRET = BENCHMARK_PSEUDONYM_KEY.encode()


def _today() -> date:
    return datetime.now(UTC).date()


def load_valid(settings: PlatformSettings, count: int, seed: int = 7) -> None:
    codec = AvroTranscoder(registry_client(settings.registry_url), VALID, AcceptedEpisode)
    producer = Producer(settings.producer_config())
    now = datetime.now(UTC)
    for update in updates(count, seed=seed, invalid_share=0, first_release=_today() - timedelta(days=330)):
        assert update.client is not None
        c = update.client
        key = client_key(SECRET, c.first_initial, c.second_initial, c.date_of_birth, c.sex)
        value = codec.encode(accepted_form(update, key, (), now))
        while True:
            try:
                producer.produce(VALID.name, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def linker_alone(settings: PlatformSettings, instances: int = 1) -> tuple[float, list[float], list[bool]]:
    """Seconds until the group has drained its inputs; each instance's CPU, and whether it holds
    the national probable-match search."""
    with instances_running("linker", settings, instances) as running:
        started = time.perf_counter()
        drained(settings, ("linker",))
        elapsed = time.perf_counter() - started
        cpu = running.cpu_seconds()
        group = [Instance(running.spec, i, instances) for i in range(instances)]
        search = [holds_the_search(httpx.get(f"{i.url(settings)}/metrics", timeout=10).text) for i in group]
        return elapsed, cpu, search


class LinkWatcher:
    """Reads ndtms.links from its end and notes when each transfer's engaged record arrives."""

    def __init__(self, settings: PlatformSettings, topic: str = LINKS.name, engaged_only: bool = True):
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = Consumer(
            # Fetches return within 50 ms, as the stages' do: the wait is not the pipeline's.
            {
                **settings.kafka_client_config(),
                "group.id": f"bench-watch-{time.time_ns()}",
                "fetch.wait.max.ms": 50,
            }
        )
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = []
        for p in partitions:
            high = end_offset(self._consumer, TopicPartition(topic, p), patience=30)
            tps.append(TopicPartition(topic, p, high))
        self._consumer.assign(tps)
        self._codec = (
            AvroTranscoder(registry_client(settings.registry_url), LINKS, TransferLink)
            if engaged_only
            else None
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # a dead watcher must say why, not just see nothing
            print(f"link watcher stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
            raise

    def _watch(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(500, timeout=0.1):
                arrived = time.perf_counter()
                if message.error() is not None or message.value() is None:
                    continue
                key = (message.key() or b"").decode()
                if self._codec is not None and self._codec.decode(message.value()).status.value != "engaged":
                    continue
                self.seen.setdefault(key, arrived)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def _pace(items: int, rate: float, send: Callable[[int], None]) -> None:
    started = time.perf_counter()
    for n in range(items):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(n)


def latency(
    settings: PlatformSettings, rate: float, seconds: float, run: int = 0
) -> tuple[list[float], list[float]]:
    """(pipeline latencies, reference round-trip latencies), seconds."""
    codec = AvroTranscoder(registry_client(settings.registry_url), RAW, EpisodeUpdate)
    producer = Producer({**settings.producer_config(), "linger.ms": 0})
    writer = RawTopicWriter(producer, codec)
    rng = random.Random(5 + run)  # other people and episodes each run: a resent revision changes nothing
    today = _today()
    items = int(rate * seconds)
    released = today - timedelta(days=3)
    people = [person(rng) for _ in range(items)]
    releases = [
        EpisodeUpdate.model_validate(prison_release(who, "PRISON01", f"LAT{run}-{n:06d}", released))
        for n, who in enumerate(people)
    ]
    writer.write(releases)
    # A steady load on a settled platform: the journey service, started on the records loaded
    # for the linker's state, would otherwise still be catching up on them (tens of seconds of
    # both cores) while the paced updates are timed.
    drained(settings, ("validator", "linker", "journey"))

    watcher = LinkWatcher(settings)
    sent: dict[str, float] = {}

    def send(n: int) -> None:
        update = EpisodeUpdate.model_validate(
            community_episode(people[n], "CMTY001", f"LATC{run}-{n:06d}", today - timedelta(days=2), today)
        )
        [delivery] = writer.write([update])
        if delivery.ok:
            sent[f"PRISON01/LAT{run}-{n:06d}"] = time.perf_counter()

    _pace(items, rate, send)
    drained(settings, ("validator", "linker"))
    time.sleep(2)
    watcher.close()
    pipeline = [watcher.seen[k] - t for k, t in sent.items() if k in watcher.seen]
    if len(pipeline) < len(sent):
        print(f"warning: {len(sent) - len(pipeline)} engaged links not seen", file=sys.stderr)

    admin = AdminClient(settings.kafka_client_config())
    if "bench.roundtrip" not in admin.list_topics(timeout=10).topics:
        topic = NewTopic("bench.roundtrip", num_partitions=6, replication_factor=1)
        admin.create_topics([topic])["bench.roundtrip"].result()
    echo = LinkWatcher(settings, topic="bench.roundtrip", engaged_only=False)
    echo_sent: dict[str, float] = {}

    def send_echo(n: int) -> None:
        key = f"echo-{n}"
        producer.produce("bench.roundtrip", key=key.encode(), value=b"x" * 400)
        producer.flush(10)
        echo_sent[key] = time.perf_counter()

    _pace(items, rate, send_echo)
    time.sleep(2)
    echo.close()
    reference = [echo.seen[k] - t for k, t in echo_sent.items() if k in echo.seen]
    return pipeline, reference


def _percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49] * 1000:,.0f} ms, p99 {cuts[98] * 1000:,.0f} ms ({len(samples)} samples)"


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rate", type=float, default=500.0, help="community updates per second offered")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--commit-seconds", type=float, nargs="+", default=[0.1, 0.5], help="stage commit intervals to try"
    )
    parser.add_argument("--instances", type=int, default=2, help="also run the linker alone with this many")
    args = parser.parse_args()
    latencies: dict[float, tuple[list[float], list[float]]] = {}
    if args.instances > 1:
        with tempfile.TemporaryDirectory() as state, platform_running(benchmark_settings(state)) as settings:
            load_valid(settings, args.updates)
            several_reference = passthrough(settings, args.updates, VALID.name)
            several, several_cpu, search = linker_alone(settings, args.instances)
    with tempfile.TemporaryDirectory() as state:
        base = benchmark_settings(state)
        with platform_running(base) as settings:
            load_valid(settings, args.updates)
            reference = passthrough(settings, args.updates, VALID.name)
            alone, cpu, _ = linker_alone(settings)
            for run, commit in enumerate(args.commit_seconds):
                tuned = settings.model_copy(update={"stream_commit_seconds": commit})
                start_all(tuned)
                try:
                    latencies[commit] = latency(tuned, args.rate, args.seconds, run)
                finally:
                    stop_all(tuned)
    rates = {"reference": args.updates / reference, "linker alone": args.updates / alone}
    print(f"updates: {args.updates}")
    print(f"reference, confluent-kafka consume->decode->encode->produce hop: {rates['reference']:,.0f}/s")
    print(f"linker alone, one process (decode, state, outcomes, publish): {rates['linker alone']:,.0f}/s")
    print(f"linker / reference: {rates['linker alone'] / rates['reference']:.1%}")
    print(f"  CPU: {per_thousand(cpu, args.updates)}")
    if args.instances > 1:
        hop, rate = args.updates / several_reference, args.updates / several
        print(
            f"{args.instances} linker instances, on a fresh broker: {rate:,.0f}/s beside a hop of "
            f"{hop:,.0f}/s"
        )
        print(f"  {args.instances} instances / reference: {rate / hop:.1%}")
        for n, (seconds, holds) in enumerate(zip(several_cpu, search, strict=True)):
            role = " (holds the national search)" if holds else ""
            print(f"  instance {n}: {per_thousand([seconds], args.updates)}{role}")
    for commit, (pipeline, roundtrip) in latencies.items():
        print(f"latency at {args.rate:g} updates/s for {args.seconds:g} s, commit every {commit:g} s:")
        print(f"  publish -> validator -> linker -> engaged link (read committed): {_percentiles(pipeline)}")
        print(f"  reference, produce -> consume round trip on the same broker: {_percentiles(roundtrip)}")


if __name__ == "__main__":
    main()
