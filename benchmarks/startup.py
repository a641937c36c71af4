"""How long a person waits: `ndtms` commands starting, and `ndtms up` cold and warm.

    python -m benchmarks.startup [--repeat N]

Everything as a user runs it, each a new process, in its own state folder and on the
benchmarks' ports (27092, 27081, 27700-27703), in the same run:
  - reference: `python -c pass` (the interpreter alone), median of N;
  - `ndtms --help` and each command's `--help`, median of N;
  - a command that only talks HTTP: `ndtms measures --json` against the running journey service;
  - `ndtms up` cold (new state: the broker formats its log, topics are created, schemas
    registered, services start with nothing to restore) and warm (after `ndtms down`, the same
    state), each split by the moment each step's line appeared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ndtms_apps.cli.catalogue import COMMANDS

NDTMS = str(Path(sys.executable).parent / "ndtms")
STEPS = (("Kafka:", "broker"), ("Schema registry:", "registry"), ("Operator key", "topics and schemas"))


def environment(state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NDTMS_STATE_DIR": str(state),
        "NDTMS_LOCAL_KAFKA_PORT": "27092",
        "NDTMS_LOCAL_REGISTRY_PORT": "27081",
        "NDTMS_INGEST_PORT": "27700",
        "NDTMS_VALIDATOR_PORT": "27701",
        "NDTMS_JOURNEY_PORT": "27702",
        "NDTMS_LINKER_PORT": "27703",
        "NDTMS_PSEUDONYM_KEY": "benchmark-key",
    }


def seconds(command: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def service_answer(env: dict[str, str], repeat: int) -> float:
    """The journey service's time for the request `ndtms measures` makes, asked by a running client."""
    key = (Path(env["NDTMS_STATE_DIR"]) / "operator.key").read_text().strip()
    url = f"http://127.0.0.1:{env['NDTMS_JOURNEY_PORT']}/v1/measures"
    times = []
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        client.get(url).raise_for_status()  # connection made, nothing first-time left
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def up(env: dict[str, str]) -> dict[str, float]:
    """`ndtms up`, with the time each step's line appeared (seconds from the start)."""
    started = time.perf_counter()
    process = subprocess.Popen([NDTMS, "up"], env=env, stdout=subprocess.PIPE, text=True)
    marks: dict[str, float] = {}
    assert process.stdout is not None
    for line in process.stdout:
        for prefix, step in (*STEPS, ("Services:", "services")):
            if line.startswith(prefix):
                marks[step] = time.perf_counter() - started
    if process.wait() != 0:
        raise SystemExit("ndtms up failed; see its logs under the state folder")
    marks["total"] = time.perf_counter() - started
    return marks


def phases(marks: dict[str, float]) -> str:
    previous, parts = 0.0, []
    for step in ("broker", "registry", "topics and schemas", "services"):
        parts.append(f"{step} {marks[step] - previous:.1f}")
        previous = marks[step]
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ndtms-bench-startup-") as folder:
        env = environment(Path(folder))
        bare = seconds([sys.executable, "-c", "pass"], env, args.repeat)
        print(f"reference: python -c pass                  {bare * 1000:6.0f} ms")
        top = seconds([NDTMS, "--help"], env, args.repeat)
        print(f"ndtms --help                                 {top * 1000:6.0f} ms")
        helps = {name: seconds([NDTMS, name, "--help"], env, args.repeat) for name in COMMANDS}
        slowest = max(helps, key=lambda name: helps[name])
        median = statistics.median(helps.values())
        print(
            f"ndtms COMMAND --help, {len(helps)} commands: median {median * 1000:.0f} ms, "
            f"slowest {slowest} {helps[slowest] * 1000:.0f} ms"
        )
        try:
            cold = up(env)
            http = seconds([NDTMS, "measures", "--json"], env, args.repeat)
            answer = service_answer(env, args.repeat)
            print(
                f"ndtms measures --json (HTTP only)            {http * 1000:6.0f} ms, of which the journey "
                f"service's answer {answer * 1000:.0f} ms (the same request from a running client): "
                f"start-up {(http - answer) * 1000:.0f} ms"
            )
            subprocess.run([NDTMS, "down"], env=env, check=True, capture_output=True)
            warm = up(env)
        finally:
            subprocess.run([NDTMS, "down"], env=env, check=False, capture_output=True)
        print(f"ndtms up, cold: {cold['total']:.1f} s ({phases(cold)})")
        print(f"ndtms up, warm: {warm['total']:.1f} s ({phases(warm)})")


if __name__ == "__main__":
    main()
