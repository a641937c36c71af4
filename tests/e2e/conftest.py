from __future__ import annotations

from collections.abc import Iterator

import pytest

from ndtms.clocks import set_clock_file, system_clock
from ndtms_contract.settings import PlatformSettings
from tests.e2e.pipeline import Ndtms


@pytest.fixture(scope="session")
def ndtms(platform: PlatformSettings) -> Iterator[Ndtms]:
    """The four services running as background processes (`ndtms up`), stopped by `ndtms down`."""
    clock = platform.state_dir / "clock"
    set_clock_file(clock, system_clock())
    command = Ndtms(platform.model_copy(update={"clock_file": clock}))
    command("up")
    yield command
    command("down")
