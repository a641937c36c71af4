"""`GET /v1/reports/continuity`: published figures by default, exact ones for operations keys,
and each refusal saying what is wrong."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest.mock import Mock

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from ndtms.access import CredentialStore
from ndtms_apps.cli.reports import as_csv, as_text
from ndtms_contract.links import TransferLink
from services.journey.continuity import ContinuityReportDocument, ContinuityReports
from services.journey.http import create_app
from tests.builders import transfer_link as link
from tests.unit.test_continuity_report import BIRMINGHAM, WESTMINSTER

TODAY = date(2025, 6, 30)
NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)


class Links:
    """What the service reads of ndtms.links, as plain data."""

    def __init__(self, links: list[TransferLink], caught_up: bool = True):
        self.links = links
        self.version = 0
        self.caught_up = threading.Event()
        if caught_up:
            self.caught_up.set()

    def versioned(self) -> tuple[int, dict[str, TransferLink]]:
        return self.version, {link.transfer_id: link for link in self.links}


def feed() -> list[TransferLink]:
    """P1 sends 12 to Westminster (7 engaged) and 3 to Birmingham; P2 sends 6 to Westminster."""
    exit_day = date(2025, 1, 6)
    made = [link(n, exit_day, prison="P1", engaged_day=4 if n < 7 else None) for n in range(12)]
    made += [link(100 + n, exit_day, prison="P1", la=BIRMINGHAM, engaged_day=2) for n in range(3)]
    made += [link(200 + n, exit_day, prison="P2", triaged_day=1) for n in range(6)]
    return made


Api = tuple[TestClient, dict[str, str], dict[str, str], "Links"]


@pytest.fixture
def api(tmp_path: Path) -> Api:
    credentials = CredentialStore(tmp_path / "credentials.json")
    _, operator = credentials.issue("ops", (), operations=True, now=NOW)
    _, vendor = credentials.issue("vendor", ("CMTY001",), operations=False, now=NOW)
    links = Links(feed())
    reports = ContinuityReports(links, 0, lambda: TODAY)
    trail = Mock(side_effect=AssertionError("aggregates are not audited"))
    app = create_app(lambda: True, create_engine("sqlite://"), credentials, trail, continuity=reports)
    ops = {"Authorization": f"Bearer {operator}"}
    return TestClient(app), ops, {"Authorization": f"Bearer {vendor}"}, links


def test_published_by_default_with_no_key(
    api: Api,
) -> None:
    client, _, _, _ = api
    answer = client.get("/v1/reports/continuity")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["figures"] == "published" and "<5" in document["disclosure"]
    assert document["period"] == {"from": "2024-07-01", "to": "2025-06-30"} and document["quarter"] is None
    flows = [
        (f["prison"], f["la"], f["transfers"], f["engaged"], f["rate_percent"]) for f in document["flows"]
    ]
    # 12 rounds to 10 and 7 to 5, the rate from the exact counts; 3 is <5 and its rate withheld.
    assert flows == [
        ("P1", WESTMINSTER, 10, 5, 58.3),
        ("P2", WESTMINSTER, 5, "<5", 0.0),
        ("P1", BIRMINGHAM, "<5", "<5", None),
    ]
    assert document["national"]["transfers"] == 20 and document["national"]["decided"] == 20  # 21 exact
    assert [r["region"] for r in document["regions"]] == ["London", "West Midlands"]
    assert document["prisons"] == ["P1", "P2"] and document["flows_total"] == 3
    assert [a["la_name"] for a in document["areas"]] == ["Birmingham", "Westminster"]
    # Sent without going through the document's model: checked to be what it says here.
    ContinuityReportDocument.model_validate(document)


def test_the_largest_pathways_only(api: Api) -> None:
    client, ops, _, _ = api
    for headers in ({}, ops):
        exact = "true" if headers else "false"
        document = client.get(
            "/v1/reports/continuity", params={"limit": "1", "exact": exact}, headers=headers
        ).json()
        assert [(f["prison"], f["la"]) for f in document["flows"]] == [("P1", WESTMINSTER)]
        assert document["flows_total"] == 3
        ContinuityReportDocument.model_validate(document)
    assert client.get("/v1/reports/continuity", params={"limit": "0"}).status_code == 422


def test_exact_figures_need_an_operations_key(
    api: Api,
) -> None:
    client, ops, vendor, _ = api
    assert client.get("/v1/reports/continuity", params={"exact": "true"}).status_code == 401
    refused = client.get("/v1/reports/continuity", params={"exact": "true"}, headers=vendor)
    assert refused.status_code == 403 and "operations role" in refused.json()["detail"]
    answer = client.get("/v1/reports/continuity", params={"exact": "true", "prison": "P1"}, headers=ops)
    document = answer.json()
    assert document["figures"] == "exact" and "not for publication" in document["disclosure"]
    assert [(f["la"], f["transfers"], f["rate_percent"]) for f in document["flows"]] == [
        (WESTMINSTER, 12, 58.3),
        (BIRMINGHAM, 3, 100.0),
    ]
    assert document["total"]["transfers"] == 15 and document["national"]["transfers"] == 21


def test_a_past_quarter_and_an_area_s_referring_prisons(
    api: Api,
) -> None:
    client, ops, _, _ = api
    document = client.get(
        "/v1/reports/continuity",
        params={"quarter": "2025Q1", "la": WESTMINSTER, "exact": "true"},
        headers=ops,
    ).json()
    assert (
        document["period"] == {"from": "2025-01-01", "to": "2025-03-31"} and document["quarter"] == "2025Q1"
    )
    assert document["judged_on"] == "2025-03-31" and document["la_name"] == "Westminster"
    assert [(f["prison"], f["transfers"]) for f in document["flows"]] == [("P1", 12), ("P2", 6)]
    assert [p["quarter"] for p in document["trend"]][-2:] == ["2024Q4", "2025Q1"]
    assert document["trend"][-1]["own"]["transfers"] == 18 and not document["trend"][-1]["partial"]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"quarter": "2025Q3"}, 404, "has not begun"),
        ({"today": "2025-07-01"}, 404, "after today"),
        ({"quarter": "2025Q5"}, 422, "quarter"),
        ({"la": "E11000001"}, 422, "la"),
        ({"prison": "P 1"}, 422, "prison"),
        ({"today": "01/06/2025"}, 422, "YYYY-MM-DD"),
    ],
)
def test_refusals_say_what_is_wrong(
    api: Api,
    params: dict[str, str],
    status: int,
    words: str,
) -> None:
    client, _, _, _ = api
    answer = client.get("/v1/reports/continuity", params=params)
    assert answer.status_code == status, answer.text
    assert words in answer.text


def test_not_ready_until_the_links_are_read_and_kept_until_they_change(
    api: Api,
) -> None:
    client, _, _, links = api
    links.caught_up.clear()
    waiting = client.get("/v1/reports/continuity")
    assert waiting.status_code == 503 and "still reading ndtms.links" in waiting.json()["detail"]
    links.caught_up.set()
    before = client.get("/v1/reports/continuity").json()["national"]["transfers"]
    links.links.append(link(999, date(2025, 2, 1), prison="P3", la=None))
    assert client.get("/v1/reports/continuity").json()["national"]["transfers"] == before  # same version
    links.version += 1
    document = client.get("/v1/reports/continuity", params={"prison": "P3"}).json()
    assert [(f["la"], f["la_name"], f["region"]) for f in document["flows"]] == [
        (None, "No destination recorded", "No destination recorded")
    ]


def test_the_command_s_csv_and_table_show_the_same_figures(
    api: Api,
) -> None:
    client, _, _, _ = api
    document = client.get("/v1/reports/continuity", params={"prison": "P1"}).json()
    lines = as_csv(document).splitlines()
    assert lines[0].startswith("row,prison_or_region,la,la_name,transfers,decided")
    assert lines[1] == f"flow,P1,{WESTMINSTER},Westminster,10,10,5,<5,5,<5,<5,58.3,58.3"
    assert lines[-1].startswith("national,England,,,20,20,")
    text = "\n".join(as_text(document, wide=True))
    assert "prison P1" in text and "published figures" in text and "58.3" in text
    assert (date(2025, 1, 6) + timedelta(days=0)).isoformat() not in text  # no release dates shown
