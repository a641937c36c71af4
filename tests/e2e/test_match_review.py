"""The probable-match review over the journey API and on /ops, on the running platform: the
queue, a candidate's two records side by side (audited), decisions recorded, idempotent and
applied by the linker; and the same work done by clicking through the operations page."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from ndtms_apps.feeds.synthetic import Person, community_episode, prison_release
from ndtms_contract.topics import CONFIRMED, DECISIONS, MATCHING, VALID
from tests.e2e.pipeline import (
    Ndtms,
    birth_dates_in,
    current_by_key,
    records_of,
    replay_linker_from_the_start,
    settle,
    wait_for,
    write_jsonl,
)

pytestmark = pytest.mark.broker
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Two men released from PRISON62, each recorded by the community service with other attributors.
FIRST = Person("K", "V", date(1988, 5, 17), "male", "E09000012")
FIRST_AS_RECORDED = Person("K", "V", date(1988, 5, 18), "male", "E09000012")  # a day out
SECOND = Person("Y", "F", date(1975, 8, 3), "male", "E08000003")
SECOND_AS_RECORDED = Person("Y", "F", date(1975, 3, 8), "male", "E08000003")  # day and month swapped
BY_API = "PRISON62/PH2|CMTY062/CH2"
BY_PAGE = "PRISON62/PH1|CMTY062/CH1"
PATH = "/v1/matches/PRISON62/PH2/CMTY062/CH2"


def operator(ndtms: Ndtms) -> dict[str, str]:
    return {"Authorization": f"Bearer {(ndtms.settings.state_dir / 'operator.key').read_text().strip()}"}


def queue(api: httpx.Client, **params: Any) -> dict[str, dict[str, Any]]:
    answer = api.get("/v1/matches", params=params)
    assert answer.status_code == 200, answer.text
    return {c["key"]: c for c in answer.json()["candidates"]}


def until(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(1)
    return found


def test_the_review_over_http_and_on_the_operations_page(ndtms: Ndtms, tmp_path: Path) -> None:
    release = ndtms.today() - timedelta(days=10)
    feed = [
        prison_release(FIRST, "PRISON62", "PH1", release),
        community_episode(
            FIRST_AS_RECORDED, "CMTY062", "CH1", release + timedelta(days=1), release + timedelta(days=3)
        ),
        prison_release(SECOND, "PRISON62", "PH2", release),
        community_episode(
            SECOND_AS_RECORDED, "CMTY062", "CH2", release + timedelta(days=2), release + timedelta(days=4)
        ),
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "review.jsonl", feed)))
    base = f"http://127.0.0.1:{ndtms.settings.journey_port}"
    with httpx.Client(base_url=base, headers=operator(ndtms), timeout=90) as api:
        waiting = until(
            "both candidates listed", lambda: (q := queue(api, prison="PRISON62")) and len(q) == 2 and q
        )

        # The queue: oldest window first, days left, where each one is; no attributors in it.
        listed = waiting[BY_API]
        assert listed["path"] == PATH and listed["decision"] == "open"
        assert listed["days_left"] == (release + timedelta(days=21) - ndtms.today()).days == 11
        assert listed["differences"] == [{"attribute": "date_of_birth", "kind": "day_month_transposed"}]
        people = (FIRST, FIRST_AS_RECORDED, SECOND, SECOND_AS_RECORDED)
        assert birth_dates_in(json.dumps(waiting), *people) == []
        assert httpx.get(f"{base}/v1/matches").status_code == 401

        # One candidate side by side: attributors, differences marked, the view audited first.
        shown = api.get(PATH)
        assert shown.status_code == 200, shown.text
        comparison = {a["attribute"]: a for a in shown.json()["comparison"]}
        assert comparison["date_of_birth"] == {
            "attribute": "date_of_birth",
            "prison": "1975-08-03",
            "community": "1975-03-08",
            "difference": "day and month swapped",
        }
        assert comparison["initials"]["difference"] is None
        assert shown.json()["prison"]["episode"] == "PRISON62/PH2"
        assert api.get("/v1/matches/PRISON62/PH2/CMTY062/NOPE").status_code == 404

        # Decisions: a body that is not a decision is refused; rejected is recorded (202),
        # the linker republishes the candidate with it, and the same decision again is a no-op.
        assert api.post(f"{PATH}/decision", json={"decision": "maybe"}).status_code == 422
        decided = api.post(f"{PATH}/decision", json={"decision": "rejected"})
        assert decided.status_code == 202, decided.text
        assert decided.json()["outcome"] == "recorded"
        until(
            "the rejection applied",
            lambda: queue(api, decided="true").get(BY_API, {}).get("decision") == "rejected",
        )
        assert BY_API not in queue(api)
        again = api.post(f"{PATH}/decision", json={"decision": "rejected"})
        assert (again.status_code, again.json()["outcome"]) == (200, "already")
        assert again.json()["decided_by"] == decided.json()["decided_by"]

        # Rejected for good: through a journey rebuild and a linker replay of every input from
        # offset 0 with its local state deleted, it is never proposed again.
        ndtms("journeys", "rebuild")
        replay_linker_from_the_start(ndtms, VALID, MATCHING, DECISIONS, CONFIRMED)
        settle(ndtms)
        until("the review answers again", lambda: api.get("/v1/matches").status_code == 200)
        assert queue(api, decided="true")[BY_API]["decision"] == "rejected"
        assert BY_API not in queue(api) and BY_PAGE in queue(api)
    trail = [e for e in json.loads(ndtms("audit", "--json").stdout)["events"] if e["subject"] == BY_API]
    assert [e["action"] for e in trail] == ["match_viewed", "match_decided"]
    assert birth_dates_in(json.dumps(trail), SECOND, SECOND_AS_RECORDED) == []

    # The same work on /ops: the reviewer types the key, shows the first candidate, confirms it.
    assert CHROMIUM, "Debian's chromium is installed by .ci/run"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{base}/ops")
        page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
        page.fill("#review-key-input", operator(ndtms)["Authorization"].removeprefix("Bearer "))
        page.click("#review-key button")
        row = page.locator("#review-queue tr", has_text=BY_PAGE)
        row.wait_for(timeout=30_000)
        assert "one digit apart" not in row.inner_text()  # kinds in the queue, words side by side
        row.get_by_role("button", name="show").click()
        page.wait_for_selector("#review-record tr >> text=1988-05-18", timeout=30_000)
        assert "one digit apart" in page.inner_text("#review-record")
        row.get_by_role("button", name="confirm").click()
        page.wait_for_selector("#review-message >> text=confirmed, recorded", timeout=30_000)
        browser.close()
    link = wait_for(ndtms, "links", "PRISON62/PH1", lambda r: r["value"]["status"] == "engaged")[-1]["value"]
    assert (link["matched_on"], link["community_episode_id"]) == ("confirmed_candidate", "CH1")
    latest = current_by_key(records_of(ndtms, "candidates"))
    assert latest[BY_PAGE]["decision"] == "confirmed" and latest[BY_API]["decision"] == "rejected"
