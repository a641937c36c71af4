"""The linker holding many people: memory and disk per person, and recovery after SIGKILL.

    python -m benchmarks.recovery [--people N]

Starts its own broker and registry (ports 27092/27081, state in a temporary folder), loads two
accepted episodes (a prison release and a community episode) for each of N people onto
`ndtms.episodes.valid`, runs the linker until its lag is zero, then measures:
  - resident memory of the linker process and the size of its local state store, per person;
  - SIGKILL, 1,000 more updates, restart: seconds from the restart until its lag is zero again
    (local store kept: the changelog is read from the local checkpoint on);
  - SIGKILL, local store deleted, restart: seconds until lag zero (the whole store restored
    from its changelog topic).
Reference: the seconds the same process takes from start to ready with no state at all.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.linker import load_valid
from benchmarks.running import benchmark_settings, drained, parser_for
from ndtms.localrun.platform import platform_running
from ndtms.localrun.services import SERVICES, health, process_of, service_environment
from ndtms_contract.settings import PlatformSettings

LINKER = next(s for s in SERVICES if s.name == "linker")


def start(settings: PlatformSettings) -> tuple[int, float]:
    """Start the linker; (pid, seconds until it reports ready)."""
    process = process_of(LINKER, settings)
    started = time.perf_counter()
    pid = process.start([sys.executable, "-m", LINKER.module], env=service_environment(settings))
    while health(LINKER, settings) != "ready":
        if process.pid() is None:
            raise SystemExit(f"the linker exited:\n{process.log_tail()}")
        time.sleep(0.05)
    return pid, time.perf_counter() - started


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def recover(settings: PlatformSettings, count: int, seed: int, wipe: Path | None) -> float:
    """SIGKILL the running linker, add updates, restart; seconds from restart to lag zero."""
    pid = process_of(LINKER, settings).pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    if wipe is not None:
        shutil.rmtree(wipe)
    load_valid(settings, count, seed)
    started = time.perf_counter()
    start(settings)
    drained(settings, ("linker",))
    return time.perf_counter() - started


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--people", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        base = benchmark_settings(state).model_copy(update={"stream_instance_id": "bench"})
        with platform_running(base) as settings:
            pid, cold_ready = start(settings)
            baseline = resident_bytes(pid)
            load_valid(settings, 2 * args.people, seed=31)
            began = time.perf_counter()
            drained(settings, ("linker",), timeout=3600)
            loading = time.perf_counter() - began
            resident = resident_bytes(pid) - baseline
            store = folder_bytes(settings.state_dir / "ndtms-linker")
            kept = recover(settings, 1000, seed=32, wipe=None)
            restored = recover(settings, 1000, seed=33, wipe=settings.state_dir / "ndtms-linker")
            process_of(LINKER, settings).stop()
    rate = 2 * args.people / loading
    print(f"people: {args.people:,} (two accepted episodes each); linker alone: {rate:,.0f}/s")
    print(f"linker memory growth: {resident / args.people:,.0f} bytes/person (resident set)")
    print(f"linker local store (RocksDB): {store / args.people:,.0f} bytes/person on disk")
    print(f"reference, start to ready with no state: {cold_ready:.1f} s")
    print(f"SIGKILL, 1,000 updates, restart with the local store: lag 0 after {kept:.1f} s")
    print(f"SIGKILL, local store deleted, restart from the changelog: lag 0 after {restored:.1f} s")


if __name__ == "__main__":
    main()
