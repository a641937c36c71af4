"""`ndtms kafka` and `ndtms registry`: idempotent start and stop of their own processes only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NDTMS = str(Path(sys.executable).parent / "ndtms")
pytestmark = pytest.mark.broker


def run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([NDTMS, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    command = f"ndtms {' '.join(args)}"
    assert result.returncode == 0, f"{command} exited {result.returncode}: {result.stderr[-3000:]}"
    return result.stdout


# Ports below 32768, out of the ephemeral range that outgoing connections take theirs from.
@pytest.mark.parametrize(
    ("component", "port_setting", "port"),
    [("kafka", "NDTMS_LOCAL_KAFKA_PORT", "31092"), ("registry", "NDTMS_LOCAL_REGISTRY_PORT", "31081")],
)
def test_start_is_idempotent_and_stop_stops_only_its_own_process(
    tmp_path: Path, component: str, port_setting: str, port: str
) -> None:
    env = {**os.environ, "NDTMS_STATE_DIR": str(tmp_path), port_setting: port}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    try:
        assert "started the local" in run(env, component, "start")
        record = (tmp_path / "run" / f"{component}.json").read_text()
        # A second start (a second `make demo`) says it found it running, not that it started it.
        again = run(env, component, "start")
        assert "is already running, ready at" in again and "started" not in again
        assert (
            tmp_path / "run" / f"{component}.json"
        ).read_text() == record  # same process, not a second one
        assert (tmp_path / "logs" / f"{component}.log").exists()
        assert "stopped" in run(env, component, "stop")
        assert "was not running" in run(env, component, "stop")
    finally:
        subprocess.run([NDTMS, component, "stop"], env=env, capture_output=True, timeout=120, check=False)
