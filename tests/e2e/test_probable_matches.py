"""Probable matches on the running platform: a release whose engagement was recorded with other
attributors gets a candidate on `ndtms.links.candidates`; a withdrawal takes it away; a linker
killed and restarted publishes nothing twice."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ndtms_apps.feeds.synthetic import Person, community_episode, prison_release
from tests.e2e.pipeline import (
    Ndtms,
    birth_dates_in,
    current_by_key,
    records_of,
    repeated,
    settle,
    stop_service,
    wait_for,
    write_jsonl,
)

pytestmark = pytest.mark.broker

RELEASED = Person("Q", "X", date(1983, 4, 9), "male", "E09000033")
# The same man as the community service recorded him: day and month of birth swapped.
AS_RECORDED = Person("Q", "X", date(1983, 9, 4), "male", "E09000033")
# Another man, whose community service wrote his initials the other way round.
SECOND = Person("Z", "W", date(1979, 2, 11), "male", "E08000025")
SECOND_AS_RECORDED = Person("W", "Z", date(1979, 2, 11), "male", "E08000025")
SOMEONE_ELSE = Person("B", "Z", date(1961, 11, 30), "female", "E09000033")


def candidates(ndtms: Ndtms) -> list[dict[str, Any]]:
    return records_of(ndtms, "candidates")


def wait_for_candidate(ndtms: Ndtms, key: str, present: bool, timeout: float = 60) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        latest = current_by_key(candidates(ndtms))
        if (key in latest) is present:
            return latest.get(key)
        assert time.monotonic() < deadline, f"candidate {key} {'never came' if present else 'never went'}"
        time.sleep(1)


def test_a_release_engaged_under_other_attributors_gets_a_candidate_until_the_episode_goes(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    today = ndtms.today()
    release = today - timedelta(days=12)
    records = [
        prison_release(RELEASED, "PRISON61", "PM1", release),
        community_episode(
            AS_RECORDED, "CMTY061", "CM1", release + timedelta(days=2), release + timedelta(days=5)
        ),
        # An unrelated person in the same window: not a candidate.
        community_episode(
            SOMEONE_ELSE, "CMTY061", "CM2", release + timedelta(days=3), release + timedelta(days=4)
        ),
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "pm.jsonl", records)))
    key = "PRISON61/PM1|CMTY061/CM1"
    candidate = wait_for_candidate(ndtms, key, present=True)
    assert candidate is not None
    # Likely, unless another test's made-up people left a second candidate for this release or
    # this episode in the window (then every one of them is possible, as the bands say).
    rivals = sorted(
        k
        for k in current_by_key(candidates(ndtms))
        if k.startswith("PRISON61/PM1|") or k.endswith("|CMTY061/CM1")
    )
    band = "likely" if rivals == [key] else "possible"
    assert (candidate["band"], candidate["decision"], candidate["model_version"]) == (
        band,
        "open",
        "match-model-v1",
    ), rivals
    assert candidate["differences"] == [{"attribute": "date_of_birth", "kind": "day_month_transposed"}]
    assert (candidate["prison_exit_date"], candidate["window_end_date"]) == (
        release.isoformat(),
        (release + timedelta(days=21)).isoformat(),
    )
    assert candidate["structured_start_date"] == (release + timedelta(days=5)).isoformat()
    text = json.dumps(candidates(ndtms))
    for attributor in ("1983-04-09", "1983-09-04"):
        assert attributor not in text
    assert "client_key" not in text
    assert not any(k.startswith("PRISON61/PM1|CMTY061/CM2") for k in current_by_key(candidates(ndtms)))
    # The exact link still says what the 21-day rule says by client key: not engaged yet.
    links = current_by_key(records_of(ndtms, "links"))
    assert links["PRISON61/PM1"]["status"] in ("pending", "not_engaged")

    # The review: listed with the days left, shown side by side (audited), confirmed.
    listed = json.loads(ndtms("matches", "list", "--json").stdout)["candidates"]
    mine = [c for c in listed if c["key"] == key]
    assert mine and mine[0]["days_left"] == (release + timedelta(days=21) - ndtms.today()).days
    ndtms.env["NDTMS_OPERATOR"] = "reviewer-1"
    try:
        shown = ndtms("matches", "show", key).stdout
        # Decided while the linker is down (a SIGKILL between a decision and its effect): the
        # decision is on its topic, and the effect follows when the linker is back.
        stop_service(ndtms, "linker")
        decided = ndtms("matches", "confirm", key, "--timeout", "2", check=False)
        ndtms("up")
        link = wait_for(ndtms, "links", "PRISON61/PM1", lambda r: r["value"]["status"] == "engaged")[-1][
            "value"
        ]
        again = ndtms("matches", "confirm", key)  # idempotent
    finally:
        ndtms.env.pop("NDTMS_OPERATOR")
    assert "1983-04-09" in shown and "1983-09-04" in shown and "day and month swapped" in shown
    assert decided.returncode == 1 and "the decision is recorded" in decided.stdout
    assert "already confirmed" in again.stdout
    assert (link["matched_on"], link["community_provider_id"], link["community_episode_id"]) == (
        "confirmed_candidate",
        "CMTY061",
        "CM1",
    )
    assert link["days_to_engagement"] == 5
    confirmed = current_by_key(candidates(ndtms))[key]
    assert confirmed["decision"] == "confirmed" and confirmed["decided_by"].startswith("reviewer-1 with ")
    trail = [e for e in json.loads(ndtms("audit", "--json").stdout)["events"] if e["subject"] == key]
    assert [e["action"] for e in trail] == ["match_viewed", "match_decided"]
    assert birth_dates_in(json.dumps(trail), RELEASED, AS_RECORDED) == []

    # A second release, its look-alike rejected: never proposed again, even after a correction
    # of the community episode and a restart of the linker.
    other = "PRISON61/PM2|CMTY061/CM3"
    earlier = today - timedelta(days=40)  # its window closed: not engaged by its own key
    second = [
        prison_release(SECOND, "PRISON61", "PM2", earlier),
        community_episode(
            SECOND_AS_RECORDED, "CMTY061", "CM3", earlier + timedelta(days=3), earlier + timedelta(days=5)
        ),
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "pm2.jsonl", second)))
    wait_for_candidate(ndtms, other, present=True)
    assert "rejected." in ndtms("matches", "reject", other).stdout
    corrected = community_episode(
        SECOND_AS_RECORDED,
        "CMTY061",
        "CM3",
        earlier + timedelta(days=3),
        earlier + timedelta(days=6),
        revision=2,
    )
    ndtms("publish", str(write_jsonl(tmp_path / "pm3.jsonl", [corrected])))
    stop_service(ndtms, "linker")
    ndtms("up")
    settle(ndtms)
    latest = current_by_key(candidates(ndtms))
    assert latest[other]["decision"] == "rejected" and latest[key]["decision"] == "confirmed"
    assert repeated(candidates(ndtms)) == []  # the linker killed and started again sent nothing twice
    assert other not in {
        c["key"] for c in json.loads(ndtms("matches", "list", "--json").stdout)["candidates"]
    }

    # The community episode withdrawn: the candidate goes (a tombstone: the episode is no more).
    withdrawal = {"provider_id": "CMTY061", "episode_id": "CM1", "revision": 2, "deleted": True}
    ndtms("publish", str(write_jsonl(tmp_path / "withdraw.jsonl", [withdrawal])))
    wait_for_candidate(ndtms, key, present=False)
    # ...and the confirmed outcome reverts to what the release's own client key says.
    reverted = wait_for(ndtms, "links", "PRISON61/PM1", lambda r: r["value"]["status"] != "engaged")[-1]
    assert reverted["value"]["matched_on"] == "client_key"
    assert candidates(ndtms)[-1]["value"] is None or any(
        r["key"] == key and r["value"] is None for r in candidates(ndtms)
    )
