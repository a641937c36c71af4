"""Outside judges of the HTTP APIs, against the running services: schemathesis and the bind address.

schemathesis runs as a user would run it (`st run`, every check, every phase) over the checked-in
documents, a few hundred examples an operation with a fixed seed; any failure fails the test
with schemathesis's own report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import psutil
import pytest

from ndtms.localrun.services import SERVICES, process_of
from ndtms_apps.feeds.synthetic import Person, community_episode, prison_release
from tests.e2e.pipeline import Ndtms, write_jsonl

pytestmark = pytest.mark.broker

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCHEMATHESIS = str(Path(sys.executable).parent / "st")
# A made-up man released from prison, and the community service's record of him a day out.
RELEASED = Person("V", "J", date(1981, 7, 14), "male", "E09000020")
AS_RECORDED = Person("V", "J", date(1981, 7, 15), "male", "E09000020")


def schemathesis(document: str, port: int, key: str | None, examples: int = 300) -> None:
    command = [
        SCHEMATHESIS,
        "run",
        str(DOCS / document),
        "--url",
        f"http://127.0.0.1:{port}",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        "20261127",
        "--no-color",
    ]
    if key is not None:
        command += ["--header", f"Authorization: Bearer {key}"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout, run.stdout[-3000:]


def test_ingest_api_is_what_its_document_says(ndtms: Ndtms) -> None:
    # The documented examples publish for P0001; fuzzing shrinks provider codes towards "0".
    issued = json.loads(
        ndtms(
            "credentials",
            "issue",
            "--name",
            "schemathesis",
            "--provider",
            "P0001",
            "--provider",
            "0",
            "--json",
        ).stdout
    )
    schemathesis("ingest-openapi.json", ndtms.settings.ingest_port, issued["key"])


def test_journey_api_is_what_its_document_says(ndtms: Ndtms, tmp_path: Path) -> None:
    operator = (ndtms.settings.state_dir / "operator.key").read_text().strip()
    # The document's example candidate exists, so the review's operations reach past 404.
    release = ndtms.today() - timedelta(days=5)
    feed = [
        prison_release(RELEASED, "PRISON01", "P-1001", release),
        community_episode(
            AS_RECORDED, "CMTY001", "EP-1001", release + timedelta(days=1), release + timedelta(days=2)
        ),
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "example-candidate.jsonl", feed)))
    url = f"http://127.0.0.1:{ndtms.settings.journey_port}/v1/matches/PRISON01/P-1001/CMTY001/EP-1001"
    deadline = time.monotonic() + 90
    while httpx.get(url, headers={"Authorization": f"Bearer {operator}"}).status_code != 200:
        assert time.monotonic() < deadline, "the example candidate was never proposed"
        time.sleep(1)
    schemathesis("journey-openapi.json", ndtms.settings.journey_port, operator)


@pytest.mark.parametrize("stage", ["validator", "linker"])
def test_stage_pages_are_what_their_document_says(ndtms: Ndtms, stage: str) -> None:
    schemathesis("stage-openapi.json", getattr(ndtms.settings, f"{stage}_port"), None, examples=50)


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_every_service_listens_only_where_the_setting_says(ndtms: Ndtms, service: str) -> None:
    spec = next(s for s in SERVICES if s.name == service)
    pid = process_of(spec, ndtms.settings).pid()
    assert pid is not None, f"{service} is not running"
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {(ndtms.settings.service_host, spec.port(ndtms.settings))}
