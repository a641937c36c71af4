from __future__ import annotations

from collections.abc import Iterator

import pytest

from ndtms.contract.settings import PlatformSettings
from tests.e2e.pipeline import Ndtms


@pytest.fixture(scope="session")
def ndtms(platform: PlatformSettings) -> Iterator[Ndtms]:
    """The four services running as background processes (`ndtms up`), stopped by `ndtms down`."""
    command = Ndtms(platform)
    command("up")
    yield command
    command("down")
