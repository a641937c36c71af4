"""The treatment measures counted in SQL equal the definitions applied in Python, on SQLite and
on a real PostgreSQL server, over random stores and periods; corrections, withdrawals and
erasures change them; a store older than the measures says so instead of answering wrong."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest.mock import Mock

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from ndtms.access import CredentialStore
from ndtms.databases import engine_for
from ndtms_apps.feeds.synthetic import treatment_histories
from ndtms_contract.episodes import Setting
from ndtms_contract.periods import Period
from services.journey import measuring, store
from services.journey.disclosure import published_json, row_json
from services.journey.http import create_app
from services.journey.journeys import EpisodeSpan, InterventionSpan
from services.journey.measures import Breakdown, facts_of, measures

FIRST_DAY = date(2024, 1, 1)
NOW = datetime(2025, 6, 30, 9, tzinfo=UTC)


def test_sql_counts_what_the_definitions_say(database_url: str) -> None:
    engine = engine_for(database_url)
    store.migrate(engine)
    rng = random.Random(2026)
    people = treatment_histories(rng, 400, FIRST_DAY, 700)
    with Session(engine) as session, session.begin():
        measuring.save_facts(session, people)
    facts = [facts_of(key, spans) for key, spans in people.items()]
    periods = [Period(date(2024, 7, 1), date(2025, 6, 30)), Period(date(2025, 3, 1), date(2025, 3, 1))]
    periods += [
        Period(start, start + timedelta(days=rng.randrange(400)))
        for start in (FIRST_DAY + timedelta(days=rng.randrange(900)) for _ in range(4))
    ]
    with Session(engine) as session:
        for period in periods:
            for breakdown in (None, Breakdown.PROVIDER, Breakdown.LA):
                expected = measures(facts, period, breakdown)
                assert measuring.measure_rows(session, period, breakdown) == expected, (period, breakdown)
    national = measures(facts, periods[0])[0]
    # The random store exercises every measure, so the equality above means something.
    assert national.in_treatment and national.waits.count and national.waiting_now_over_21_days
    assert national.retained_12_weeks.denominator and national.successful_completions
    assert national.representations_6_months and national.unplanned_exits and national.early_unplanned_exits


def test_corrections_withdrawals_and_erasures_change_the_counts(database_url: str) -> None:
    engine = engine_for(database_url)
    store.migrate(engine)
    key = "c" * 32
    period = Period(date(2025, 1, 1), date(2025, 12, 31))
    waited_30 = EpisodeSpan(
        "P1",
        "E1",
        Setting.COMMUNITY,
        date(2025, 2, 1),
        local_authority="E1",
        structured=(InterventionSpan(date(2025, 3, 3)),),
    )
    waited_10 = EpisodeSpan(
        "P1",
        "E1",
        Setting.COMMUNITY,
        date(2025, 2, 1),
        local_authority="E1",
        structured=(InterventionSpan(date(2025, 2, 11)),),
    )

    def national() -> tuple[int, int, int]:
        with Session(engine) as session:
            row = measuring.measure_rows(session, period, None)[0]
        return row.in_treatment, row.waits.count, row.waits.within_21_days

    with Session(engine) as session, session.begin():
        measuring.save_facts(session, {key: [waited_30]})
    assert national() == (1, 1, 0)
    with Session(engine) as session, session.begin():
        measuring.save_facts(session, {key: [waited_10]})  # corrected
    assert national() == (1, 1, 1)
    with Session(engine) as session, session.begin():
        measuring.save_facts(session, {key: []})  # withdrawn
    assert national() == (0, 0, 0)
    with Session(engine) as session, session.begin():
        measuring.save_facts(session, {key: [waited_10]})
        store.erase(session, key, 0, datetime(2025, 6, 1, tzinfo=UTC))
    assert national() == (0, 0, 0)


def test_a_store_older_than_the_measures_asks_for_a_rebuild(database_url: str) -> None:
    engine = engine_for(database_url)
    config = Config()
    config.set_main_option("script_location", str(store.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(
            text(
                "INSERT INTO episodes (client_key, provider_id, episode_id, revision, deleted)"
                " VALUES ('d', 'P', 'E', 1, false)"
            )
        )
    store.migrate(engine)
    period = Period(date(2025, 1, 1), date(2025, 12, 31))
    with (
        Session(engine) as session,
        pytest.raises(measuring.MeasuresIncomplete, match="ndtms journeys rebuild"),
    ):
        measuring.measure_rows(session, period, None)
    with Session(engine) as session, session.begin():
        measuring.mark_complete(session)  # what a rebuild does once it has replayed everything
    with Session(engine) as session:
        assert measuring.measure_rows(session, period, None)


def test_the_measures_over_http(database_url: str, tmp_path: Path) -> None:
    engine = engine_for(database_url)
    store.migrate(engine)
    people = treatment_histories(random.Random(7), 60, FIRST_DAY, 700)
    with Session(engine) as session, session.begin():
        measuring.save_facts(session, people)
    credentials = CredentialStore(tmp_path / "credentials.json")
    _, operator = credentials.issue("ops", (), operations=True, now=NOW)
    _, vendor = credentials.issue("vendor", ("CMTY001",), operations=False, now=NOW)
    trail = Mock(side_effect=AssertionError("aggregates are not audited"))
    client = TestClient(create_app(lambda: True, engine, credentials, trail, today=lambda: date(2025, 6, 30)))
    ops = {"Authorization": f"Bearer {operator}"}

    answer = client.get("/v1/measures", params={"by": "provider"}, headers=ops)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert (document["from"], document["to"]) == ("2024-07-01", "2025-06-30")  # 12 months to today
    facts = [facts_of(key, spans) for key, spans in people.items()]
    expected = measures(facts, Period(date(2024, 7, 1), date(2025, 6, 30)), Breakdown.PROVIDER)
    assert document["rows"] == [row_json(row) for row in expected]
    assert [r["group"] for r in document["rows"]] == [None, "CMTY001", "CMTY002", "CMTY003", "CMTY004"]

    published = client.get(
        "/v1/measures", params={"from": "2024-07-01", "published": "true"}, headers=ops
    ).json()
    assert published["rows"] == [published_json(expected[0])]

    assert client.get("/v1/measures").status_code == 401
    assert client.get("/v1/measures", headers={"X-API-Key": vendor}).status_code == 403
    inverted = client.get("/v1/measures", params={"from": "2025-07-01", "to": "2025-06-30"}, headers=ops)
    assert inverted.status_code == 404 and "no such period" in inverted.json()["detail"]
    for bad in (
        {"to": "30/06/2025"},
        {"by": "prison"},
        {"to": "1066-10-14"},
    ):
        refused = client.get("/v1/measures", params=bad, headers=ops)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"
