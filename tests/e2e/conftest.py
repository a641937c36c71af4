from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ndtms.contract.settings import PlatformSettings
from ndtms.localrun.services import service_environment

NDTMS = str(Path(sys.executable).parent / "ndtms")


class Ndtms:
    """Runs the `ndtms` command as a user would, against the test platform."""

    def __init__(self, settings: PlatformSettings):
        self.settings = settings
        self.env = service_environment(settings)

    def __call__(
        self, *args: str, timeout: float = 240, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [NDTMS, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"ndtms {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture(scope="session")
def ndtms(platform: PlatformSettings) -> Iterator[Ndtms]:
    """The four services running as background processes (`ndtms up`), stopped by `ndtms down`."""
    command = Ndtms(platform)
    command("up")
    yield command
    command("down")
