"""The treatment measures on the running platform: a published feed gives `ndtms measures --json`
equal to the definitions applied by hand here, before and after a correction and a withdrawal,
from the live journey store (SQLite) and from one rebuilt into PostgreSQL; the gauges follow."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ndtms.localrun.postgres import fresh_database
from ndtms_apps.feeds.synthetic import Person, recorded
from ndtms_apps.pages.dashboard import parse, total
from tests.e2e.pipeline import Ndtms, settle, write_jsonl

pytestmark = pytest.mark.broker
LA1, LA2 = "E06000991", "E06000992"  # made-up codes of the right form, used by no other test


def episode(
    who: Person,
    provider: str,
    episode_id: str,
    referral: date,
    interventions: tuple[tuple[str, date], ...] = (),
    discharge: tuple[date, str] | None = None,
    revision: int = 1,
) -> dict[str, Any]:
    latest = max([referral, *(d for _, d in interventions), *([discharge[0]] if discharge else [])])
    record: dict[str, Any] = {
        "provider_id": provider,
        "episode_id": episode_id,
        "revision": revision,
        "setting": "community",
        "deleted": False,
        "recorded_at": recorded(latest),
        "client": who.client(),
        "referral_date": referral.isoformat(),
        "triage_date": referral.isoformat(),
        "interventions": [
            {"intervention_id": f"{episode_id}-I{n}", "type": kind, "start_date": start.isoformat()}
            for n, (kind, start) in enumerate(interventions)
        ],
    }
    if discharge is not None:
        record["discharge_date"], record["discharge_reason"] = discharge[0].isoformat(), discharge[1]
    return record


def someone(n: int, la: str) -> Person:
    return Person("M", "Z", date(1970, 1, 1) + timedelta(days=97 * n), "female" if n % 2 else "male", la)


def measures(
    ndtms: Ndtms, period: tuple[date, date], by: str, *extra: str
) -> dict[str | None, dict[str, Any]]:
    answer = json.loads(
        ndtms(
            "measures",
            "--from",
            period[0].isoformat(),
            "--to",
            period[1].isoformat(),
            "--by",
            by,
            "--json",
            *extra,
        ).stdout
    )
    assert (answer["from"], answer["to"]) == (period[0].isoformat(), period[1].isoformat())
    return {row["group"]: row for row in answer["rows"]}


def row(scope: str, group: str, **figures: Any) -> dict[str, Any]:
    zero: dict[str, Any] = {
        "in_treatment": 0,
        "new_presentations": 0,
        "waits": {"count": 0, "median_days": None, "within_21_days": 0},
        "waiting_now_over_21_days": 0,
        "retained_12_weeks": {"numerator": 0, "denominator": 0},
        "successful_completions": 0,
        "representations_6_months": 0,
        "representations_window_open": 0,
        "unplanned_exits": 0,
        "early_unplanned_exits": 0,
    }
    return {"scope": scope, "group": group, **zero, **figures}


def waits(count: int, median: float | None, within: int) -> dict[str, Any]:
    return {"count": count, "median_days": median, "within_21_days": within}


def retained(numerator: int, denominator: int) -> dict[str, int]:
    return {"numerator": numerator, "denominator": denominator}


def test_the_measures_are_the_definitions_before_and_after_corrections(
    ndtms: Ndtms, tmp_path: Path, postgres_server: str
) -> None:
    t = ndtms.today()
    period = (t - timedelta(days=364), t)
    a, b, c, d, e, f = (someone(n, la) for n, la in enumerate((LA1, LA1, LA2, LA2, LA1, LA2)))
    completed, dropped_out = "treatment_completed_drug_free", "incomplete_dropped_out"

    def days(n: int) -> date:
        return t - timedelta(days=n)

    feed = [
        # A: waited 21 days, still in treatment.
        episode(a, "MEAS1", "A1", days(200), (("psychosocial", days(179)),)),
        # B: waited 22 days, dropped out on day 83 (early, not retained).
        episode(b, "MEAS1", "B1", days(200), (("pharmacological", days(178)),), (days(95), dropped_out)),
        # C: waited 10 days, completed on day 140, back 130 days later (a new journey, waited 5).
        episode(c, "MEAS2", "C1", days(300), (("psychosocial", days(290)),), (days(150), completed)),
        episode(c, "MEAS2", "C2", days(25), (("psychosocial", days(20)),)),
        # D: referred 60 days ago, nothing yet.
        episode(d, "MEAS2", "D1", days(60)),
        # E: recovery support only, which is not structured treatment: still waiting.
        episode(e, "MEAS2", "E1", days(100), (("recovery_support", days(90)),)),
        # F: completed on day 65 (retained: a completion), 30 days ago: its 6 months are open.
        episode(f, "MEAS1", "F1", days(100), (("psychosocial", days(95)),), (days(30), completed)),
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "measures.jsonl", feed)))
    settle(ndtms)

    by_provider = measures(ndtms, period, "provider")
    assert by_provider["MEAS1"] == row(
        "provider", "MEAS1",
        in_treatment=3, new_presentations=3, waits=waits(3, 21.0, 2), retained_12_weeks=retained(2, 3),
        successful_completions=1, representations_window_open=1, unplanned_exits=1, early_unplanned_exits=1,
    )  # fmt: skip
    assert by_provider["MEAS2"] == row(
        "provider", "MEAS2",
        in_treatment=1, new_presentations=2, waits=waits(2, 7.5, 2), waiting_now_over_21_days=2,
        retained_12_weeks=retained(1, 1), successful_completions=1, representations_6_months=1,
    )  # fmt: skip
    by_la = measures(ndtms, period, "la")
    assert by_la[LA1] == row(
        "la", LA1,
        in_treatment=2, new_presentations=2, waits=waits(2, 21.5, 1), waiting_now_over_21_days=1,
        retained_12_weeks=retained(1, 2), unplanned_exits=1, early_unplanned_exits=1,
    )  # fmt: skip
    assert by_la[LA2] == row(
        "la", LA2,
        in_treatment=2, new_presentations=3, waits=waits(3, 5.0, 3), waiting_now_over_21_days=1,
        retained_12_weeks=retained(2, 2), successful_completions=2, representations_6_months=1,
        representations_window_open=1,
    )  # fmt: skip
    # Published: small counts hidden, percentages from the exact figures.
    published = measures(ndtms, period, "provider", "--published")["MEAS1"]
    assert published["in_treatment"] == "<5" and published["waits"]["within_21_days_percent"] is None

    # B's first intervention corrected to a day earlier: a 21-day wait, and day 84 (retained).
    # F withdrawn: every figure of it goes.
    corrected = episode(
        b, "MEAS1", "B1", days(200), (("pharmacological", days(179)),), (days(95), dropped_out), 2
    )
    ndtms("publish", str(write_jsonl(tmp_path / "corrections.jsonl", [corrected])))
    withdrawn = {"provider_id": "MEAS1", "episode_id": "F1", "revision": 2, "deleted": True}
    ndtms("publish", str(write_jsonl(tmp_path / "withdrawal.jsonl", [withdrawn])))
    settle(ndtms)
    after = row(
        "provider", "MEAS1",
        in_treatment=2, new_presentations=2, waits=waits(2, 21.0, 2), retained_12_weeks=retained(2, 2),
        unplanned_exits=1,
    )  # fmt: skip
    assert measures(ndtms, period, "provider")["MEAS1"] == after

    # The same store rebuilt into PostgreSQL counts the same.
    url = fresh_database(postgres_server, f"measures_{time.time_ns()}")
    ndtms("journeys", "rebuild", "--into", url)
    assert measures(ndtms, period, "provider", "--database", url)["MEAS1"] == after
    assert measures(ndtms, period, "la", "--database", url) == measures(ndtms, period, "la")

    # The gauges: the default period's figures, national and per provider.
    metrics = f"http://127.0.0.1:{ndtms.settings.journey_port}/metrics"
    deadline = time.monotonic() + 60
    while True:
        series = parse(httpx.get(metrics).text)
        shown = {
            name: total(series, f"ndtms_treatment_{name}", scope="provider", group="MEAS1")
            for name in ("in_treatment", "waits_count", "retained_12_weeks_cohort", "unplanned_exits")
        }
        if shown == {
            "in_treatment": 2,
            "waits_count": 2,
            "retained_12_weeks_cohort": 2,
            "unplanned_exits": 1,
        }:
            break
        assert time.monotonic() < deadline, f"the gauges show {shown}"
        time.sleep(1)
