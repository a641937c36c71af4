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

from ndtms.synthetic import Person, community_episode, prison_release
from tests.e2e.pipeline import Ndtms, current_by_key, records_of, repeated, settle, stop_service, write_jsonl

pytestmark = pytest.mark.broker

RELEASED = Person("Q", "X", date(1983, 4, 9), "male", "E09000033")
# The same man as the community service recorded him: day and month of birth swapped.
AS_RECORDED = Person("Q", "X", date(1983, 9, 4), "male", "E09000033")
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
    assert (candidate["band"], candidate["decision"], candidate["model_version"]) == (
        "likely",
        "open",
        "match-model-v1",
    )
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

    # The linker killed and started again publishes no candidate twice.
    stop_service(ndtms, "linker")
    ndtms("up")
    settle(ndtms)
    assert repeated(candidates(ndtms)) == []

    # The community episode withdrawn: the candidate goes (a tombstone: the episode is no more).
    withdrawal = {"provider_id": "CMTY061", "episode_id": "CM1", "revision": 2, "deleted": True}
    ndtms("publish", str(write_jsonl(tmp_path / "withdraw.jsonl", [withdrawal])))
    wait_for_candidate(ndtms, key, present=False)
    assert candidates(ndtms)[-1]["value"] is None or any(
        r["key"] == key and r["value"] is None for r in candidates(ndtms)
    )
