"""What the benchmarks share: a service process run until its work is done, and waiting for it."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer

from ndtms.localrun.services import SERVICES, Instance, ServiceSpec, health_of
from ndtms_apps.cli.platform_status import end_offsets, group_lag
from ndtms_contract.settings import PlatformSettings

BENCHMARK_PSEUDONYM_KEY = "benchmark-key"


@contextmanager
def service_running(name: str, settings: PlatformSettings) -> Iterator[ServiceSpec]:
    """One service as its own process, ready when entered, stopped (by PID) on exit."""
    with instances_running(name, settings, 1) as running:
        yield running.spec


@dataclass
class Running:
    spec: ServiceSpec
    pids: list[int]

    def cpu_seconds(self) -> list[float]:
        """CPU (user + system) each instance has used so far, from /proc."""
        return [cpu_seconds(pid) for pid in self.pids]


@contextmanager
def instances_running(
    name: str, settings: PlatformSettings, count: int, extra: Mapping[str, str] | None = None
) -> Iterator[Running]:
    """`count` instances of a service as the rehearsal runs them (own ports, state folders and
    instance ids; one instance is the service as `ndtms up` runs it), ready when entered,
    stopped by PID on exit. `extra`: environment over theirs (a store's address, a group id)."""
    spec = next(s for s in SERVICES if s.name == name)
    group = [Instance(spec, index, count) for index in range(count)]
    processes = [instance.process(settings) for instance in group]
    try:
        pids = [
            process.start(
                [sys.executable, "-m", spec.module], env={**instance.environment(settings), **(extra or {})}
            )
            for instance, process in zip(group, processes, strict=True)
        ]
        for instance, process in zip(group, processes, strict=True):
            while health_of(instance.url(settings), spec) != "ready":
                if process.pid() is None:
                    raise SystemExit(f"{instance.name} exited:\n{process.log_tail()}")
                time.sleep(0.05)
        yield Running(spec, pids)
    finally:
        for process in processes:
            process.stop()


def timed(work: Callable[[], object], repeat: int = 3) -> float:
    """The median seconds of `repeat` runs."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


Step = Sequence[tuple[str, Sequence[str]]]  # (consumer group, its input topics), run together


def drained(settings: PlatformSettings, names: tuple[str, ...], timeout: float = 900) -> None:
    """Wait until these services' consumer groups have committed everything on their inputs:
    the validator first, then the stages that read what it writes."""
    specs = [s for s in SERVICES if s.name in names]
    upstream = [(s.group_id or "", s.input_topics) for s in specs if s.name == "validator"]
    downstream = [(s.group_id or "", s.input_topics) for s in specs if s.name != "validator"]
    drained_in_order(settings, [step for step in (upstream, downstream) if step], timeout)


def drained_in_order(settings: PlatformSettings, steps: Sequence[Step], timeout: float = 3600) -> None:
    """Each step's groups have committed everything on their inputs as those end once the step
    before is done: a downstream stage is never judged on an input still being written."""
    probe = Consumer({**settings.kafka_client_config(), "group.id": "bench-probe"})
    deadline = time.monotonic() + timeout
    try:
        for step in steps:
            wanted = [
                (group, {t: end_offsets(probe, t, partitions_of(probe, t)) for t in inputs})
                for group, inputs in step
            ]
            while any(group_lag(settings, group, ends) > 0 for group, ends in wanted):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{[g for g, _ in step]} did not catch up within {timeout:.0f}s")
                time.sleep(0.1)
    finally:
        probe.close()


def partitions_of(client: Consumer, topic: str) -> int:
    """The topic's partitions as they are on the cluster."""
    return len(client.list_topics(topic, timeout=10).topics[topic].partitions)


def parser_for(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=20_000)
    return parser


def benchmark_settings(state: str) -> PlatformSettings:
    """Every benchmark's own broker, registry and service ports, clear of `ndtms up` and the tests."""
    return PlatformSettings(
        state_dir=Path(state),
        local_kafka_port=27092,
        local_registry_port=27081,
        ingest_port=27700,
        validator_port=27701,
        journey_port=27702,
        linker_port=27703,
        pseudonym_key=BENCHMARK_PSEUDONYM_KEY,
    )


def holds_the_search(metrics: str) -> bool:
    """Whether a linker instance's /metrics show it holding the national probable-match search:
    it reports lag only for the partitions it holds, and the search's input has one."""
    return any(
        line.startswith("ndtms_consumer_lag{") and 'topic="ndtms.matching.episodes"' in line
        for line in metrics.splitlines()
    )
