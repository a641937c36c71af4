"""Where the platform under test is: a real ingest service, its broker and its schema registry.

The platform's own suite (tests/integration/test_client_distribution.py) installs this
distribution alone in a fresh environment, starts an ingest service and runs these tests with:
  NDTMS_CLIENT_TEST_INGEST_URL   the ingest service, e.g. http://127.0.0.1:18700
  NDTMS_CLIENT_TEST_API_KEY      a key bound to provider CMTY001
  KAFKA_BOOTSTRAP_SERVERS, NDTMS_SCHEMA_REGISTRY_URL   as the platform's settings read them
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from ndtms_contract.settings import PlatformSettings


@dataclass(frozen=True)
class Platform:
    ingest_url: str
    api_key: str
    settings: PlatformSettings


@pytest.fixture(scope="session")
def platform() -> Platform:
    missing = [
        n for n in ("NDTMS_CLIENT_TEST_INGEST_URL", "NDTMS_CLIENT_TEST_API_KEY") if n not in os.environ
    ]
    if missing:
        pytest.fail(f"these tests need a running platform: set {', '.join(missing)} (see conftest.py)")
    return Platform(
        os.environ["NDTMS_CLIENT_TEST_INGEST_URL"],
        os.environ["NDTMS_CLIENT_TEST_API_KEY"],
        PlatformSettings(),
    )
