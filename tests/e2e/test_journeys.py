"""The journey service as operations staff use it: `ndtms journeys`, `ndtms credentials`, rebuild."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from ndtms_apps.feeds.scenarios import continuity_feed
from ndtms_apps.feeds.synthetic import community_episode, prison_release
from ndtms_contract.pseudonyms import client_key
from services.journey.settings import JourneySettings
from tests.e2e.pipeline import Ndtms, journey_documents, settle, someone, wait_for, write_jsonl

pytestmark = pytest.mark.broker


def _key_of(ndtms: Ndtms, seed: int) -> str:
    who = someone(seed)
    secret = ndtms.settings.pseudonym_key.get_secret_value().encode()
    return client_key(secret, who.first_initial, who.second_initial, who.date_of_birth, who.sex)


def test_journeys_show_prints_the_timeline(ndtms: Ndtms, tmp_path: Path) -> None:
    who = someone(41)
    released = date(2024, 5, 1)
    first = community_episode(who, "CMTY001", "JS-1", date(2023, 9, 1), date(2023, 9, 5))
    first |= {
        "discharge_date": "2023-12-01",
        "discharge_reason": "incomplete_dropped_out",
        "recorded_at": "2023-12-02T12:00:00Z",
    }
    feed = [
        first,
        prison_release(who, "PRISON01", "JS-P", released),
        community_episode(who, "CMTY002", "JS-2", released + timedelta(days=3), released + timedelta(days=4)),
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "journey.jsonl", feed)))
    key = _key_of(ndtms, 41)
    wait_for(ndtms, "journeys", key, lambda r: r["value"] is not None and len(r["value"]["journeys"]) == 2)
    shown = ndtms("journeys", "show", key).stdout
    lines = shown.splitlines()
    assert lines[0].startswith(f"Client {key}: 2 journey(s), 1 custody period(s)")
    assert [line.split()[1] for line in lines[1:] if not line.startswith(" ")] == [
        "journey",
        "custody",
        "journey",
    ]
    assert who.date_of_birth.isoformat() not in shown
    as_json = json.loads(ndtms("journeys", "show", key, "--json").stdout)
    assert as_json["client_key"] == key and len(as_json["custody_periods"]) == 1
    missing = ndtms("journeys", "show", "0" * 32, check=False)
    assert missing.returncode == 2 and "no journeys for client key" in missing.stderr


def test_operators_issue_and_revoke_keys_for_the_query_api(ndtms: Ndtms) -> None:
    url = f"http://127.0.0.1:{ndtms.settings.journey_port}/v1/journeys?status=open"
    issued = json.loads(ndtms("credentials", "issue", "--name", "analyst", "--operations", "--json").stdout)
    vendor = json.loads(
        ndtms("credentials", "issue", "--name", "vendor", "--provider", "CMTY001", "--json").stdout
    )
    assert httpx.get(url, headers={"Authorization": f"Bearer {issued['key']}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {vendor['key']}"}).status_code == 403
    assert httpx.get(url).status_code == 401
    listed = ndtms("credentials", "list", "--json").stdout
    assert issued["key"] not in listed and issued["id"] in listed
    ndtms("credentials", "revoke", issued["id"])
    assert httpx.get(url, headers={"Authorization": f"Bearer {issued['key']}"}).status_code == 401


def test_rebuild_from_the_valid_topic_equals_live_processing(ndtms: Ndtms, tmp_path: Path) -> None:
    for n, submission in enumerate(continuity_feed(ndtms.today(), people=80, seed=17, label="RB")):
        ndtms("publish", str(write_jsonl(tmp_path / f"rebuild-{n}.jsonl", [r.data for r in submission])))
    settle(ndtms)
    live_url = JourneySettings(**ndtms.settings.model_dump()).effective_database_url
    rebuilt_url = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    summary = json.loads(ndtms("journeys", "rebuild", "--into", rebuilt_url, "--json").stdout)
    live, rebuilt = journey_documents(live_url), journey_documents(rebuilt_url)
    assert summary["people"] == len(rebuilt) and len(live) > 10
    assert rebuilt == live
