"""What the benchmarks share: a service process run until its work is done, and waiting for it."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer

from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CATALOGUE, INTERNAL
from ndtms.localrun.services import SERVICES, ServiceSpec, health, process_of, service_environment
from ndtms.status import end_offsets, group_lag

BENCHMARK_PSEUDONYM_KEY = "benchmark-key"
PARTITIONS = {spec.name: spec.partitions for spec in (*CATALOGUE, *INTERNAL)}


@contextmanager
def service_running(name: str, settings: PlatformSettings) -> Iterator[ServiceSpec]:
    """One service as its own process, ready when entered, stopped (by PID) on exit."""
    spec = next(s for s in SERVICES if s.name == name)
    process = process_of(spec, settings)
    process.start([sys.executable, "-m", spec.module], env=service_environment(settings))
    try:
        while health(spec, settings) != "ready":
            if process.pid() is None:
                raise SystemExit(f"{name} exited:\n{process.log_tail()}")
            time.sleep(0.05)
        yield spec
    finally:
        process.stop()


def drained(settings: PlatformSettings, names: tuple[str, ...], timeout: float = 900) -> None:
    """Wait until these services' consumer groups have committed everything now on their inputs."""
    probe = Consumer({**settings.kafka_client_config(), "group.id": "bench-probe"})
    specs = [s for s in SERVICES if s.name in names]
    ends = {s.name: {t: end_offsets(probe, t, PARTITIONS[t]) for t in s.input_topics} for s in specs}
    probe.close()
    deadline = time.monotonic() + timeout
    while any(group_lag(settings, s.group_id or "", ends[s.name]) > 0 for s in specs):
        if time.monotonic() > deadline:
            raise SystemExit(f"services {names} did not catch up within {timeout:.0f}s")
        time.sleep(0.1)


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
