"""The `ndtms-client` distribution, installed alone in a fresh environment, runs its own tests
against a real ingest service on the real broker and registry."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import venv
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from ndtms.access import CredentialStore
from ndtms.localrun.processes import ManagedProcess
from ndtms.localrun.services import PROJECT_ROOT, service_environment
from ndtms_contract import __version__
from ndtms_contract.settings import PlatformSettings

pytestmark = pytest.mark.broker
CLIENT = PROJECT_ROOT / "clients" / "python"
PORT = 28741


def test_the_contracts_version_is_the_asyncapi_documents() -> None:
    # The client distribution takes its version from `ndtms_contract.__version__`.
    asyncapi = yaml.safe_load((PROJECT_ROOT / "docs" / "asyncapi.yaml").read_text())
    assert __version__ == asyncapi["info"]["version"]


@pytest.fixture(scope="module")
def client_environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with only `pip install ./clients/python` (and pytest) in it."""
    where = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{CLIENT}[test]"],
        check=True,
        cwd=where,
    )
    return python


def test_the_client_installs_without_the_platforms_server_side(client_environment: Path) -> None:
    found = subprocess.run(
        [
            client_environment,
            "-c",
            "import importlib.util as u, ndtms_client; "
            "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'uvicorn', 'rocksdict', 'ndtms', 'services') "
            "if u.find_spec(m)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=client_environment.parent,
    )
    assert found.stdout.strip() == "[]"


def test_the_clients_own_tests_pass_against_a_real_ingest_service(
    client_environment: Path, platform: PlatformSettings, tmp_path: Path
) -> None:
    credentials = CredentialStore(tmp_path / "credentials.json")
    _, key = credentials.issue("client tests", ("CMTY001",), operations=False, now=datetime.now(UTC))
    env = service_environment(platform) | {
        "NDTMS_STATE_DIR": str(tmp_path / "state"),
        "NDTMS_INGEST_PORT": str(PORT),
        "NDTMS_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
    }
    ingest = ManagedProcess("client-test-ingest", tmp_path / "run", tmp_path / "logs")
    ingest.start([sys.executable, "-m", "services.ingest"], env=env, cwd=PROJECT_ROOT)
    try:
        url = f"http://127.0.0.1:{PORT}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, ingest.log_tail()
            time.sleep(0.2)
        run = subprocess.run(
            [client_environment, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            env=env | {"NDTMS_CLIENT_TEST_INGEST_URL": url, "NDTMS_CLIENT_TEST_API_KEY": key},
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        # Every test of the suite ran: none skipped, none left out.
        assert re.search(r"^5 passed in ", run.stdout, re.M), run.stdout
    finally:
        ingest.stop()
