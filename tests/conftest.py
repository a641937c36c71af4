from __future__ import annotations

from collections.abc import Iterator

import pytest

from ndtms.contract.settings import PlatformSettings
from tests.platform import running_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformSettings]:
    """A real Kafka broker and schema registry for the whole test session."""
    with running_platform(tmp_path_factory.mktemp("ndtms-state")) as settings:
        yield settings
