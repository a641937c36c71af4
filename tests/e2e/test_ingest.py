"""A vendor's first steps as the README tells them: a key, an HTTP update, a CSV extract."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.builders import community
from tests.e2e.pipeline import Ndtms, wait_for
from tests.unit.test_extracts import HEADER

pytestmark = pytest.mark.broker

PRISON_ROW = (
    "PRISON09,CSV-P1,S,Q,R,1979-05-06,2,E08000025,Y,2023-10-01,2023-10-02,,"
    "2024-02-01,83,2023-10-01,2024-02-01,1,E08000025,1"
)
COMMUNITY_ROW = "CMTY011,CSV-C1,C,Q,R,06/05/1979,2,E08000025,Y,2024-02-03,2024-02-05,2024-02-09,,,,,,,"


def test_vendor_key_then_http_update(ndtms: Ndtms) -> None:
    issued = json.loads(
        ndtms("credentials", "issue", "--name", "Vendor A", "--provider", "CMTY001", "--json").stdout
    )
    url = f"http://127.0.0.1:{ndtms.settings.ingest_port}/v1/episodes"
    update = community(episode_id="HTTP-FIRST")
    response = httpx.post(url, json=update, headers={"Authorization": f"Bearer {issued['key']}"}, timeout=30)
    assert response.status_code == 200 and response.json()["results"][0]["status"] == "accepted"
    assert httpx.post(url, json=update, timeout=30).status_code == 401
    wait_for(ndtms, "raw", "CMTY001/HTTP-FIRST", lambda r: r["value"]["revision"] == 1)


def test_csv_extracts_from_the_command_line_become_links(ndtms: Ndtms, tmp_path: Path) -> None:
    prison = tmp_path / "prison.csv"
    prison.write_text(f"{HEADER}\n{PRISON_ROW}\n")
    first = json.loads(ndtms("publish", str(prison), "--provider", "PRISON09", "--json").stdout)
    assert (first["new"], first["rejected"]) == (1, 0)
    again = json.loads(ndtms("publish", str(prison), "--provider", "PRISON09", "--json").stdout)
    assert (again["unchanged"], again["published"]) == (1, 0)
    seen = tmp_path / "community.csv"
    seen.write_text(f"{HEADER}\n{COMMUNITY_ROW}\nCMTY011,CSV-C2,C\n")
    published = ndtms("publish", str(seen), "--provider", "CMTY011", check=False)
    assert published.returncode == 1
    assert "row 3: the row has 3 fields; the header has 19" in published.stdout
    link = wait_for(ndtms, "links", "PRISON09/CSV-P1", lambda r: r["value"]["status"] == "engaged")
    assert link[-1]["value"]["days_to_engagement"] == 8
    missing = ndtms("publish", str(tmp_path / "nope.csv"), "--provider", "P", check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    nothing = ndtms("publish", str(empty), check=False)
    assert nothing.returncode == 2 and "the file is empty" in nothing.stderr
    no_provider = ndtms("publish", str(prison), check=False)
    assert no_provider.returncode == 2 and "--provider" in no_provider.stderr
