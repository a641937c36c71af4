"""The journey store on SQLite and on a real PostgreSQL server: migrations, read model, query API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ndtms.access import CredentialStore
from ndtms.audit import AuditUnavailable
from ndtms.databases import engine_for
from ndtms_contract.audit import AuditAction, AuditEvent
from ndtms_contract.episodes import AcceptedEpisode
from services.journey import store
from services.journey.http import create_app
from services.journey.records import client_journeys, span_of
from tests.builders import accepted, community, secure

NOW = datetime(2024, 6, 1, tzinfo=UTC)
ALICE, BOB = "a" * 32, "b" * 32


def test_migrations_build_exactly_the_schema_the_code_maps(database_url: str) -> None:
    engine = engine_for(database_url)
    store.migrate(engine)
    store.migrate(engine)  # a second start finds nothing to do
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), store.Base.metadata)
    assert differences == []


def _save(session: Session, client_key: str, *records: AcceptedEpisode) -> None:
    spans = [s for s in (span_of(r) for r in records) if s is not None]
    store.save_person(session, client_key, client_journeys(client_key, spans, NOW))


class Trail:
    """The audit port, recorded: what the service asked to put on the trail, or a trail that is down."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.down = False

    def __call__(self, actor: str, action: AuditAction, subject: str, detail: str = "") -> AuditEvent:
        if self.down:
            raise AuditUnavailable("the audit trail could not be written: broker down")
        event = AuditEvent(at=NOW, actor=actor, action=action, subject=subject, detail=detail)
        self.events.append(event)
        return event


@pytest.fixture
def trail() -> Trail:
    return Trail()


@pytest.fixture
def api(database_url: str, tmp_path: Path, trail: Trail) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    engine = engine_for(database_url)
    store.migrate(engine)
    with Session(engine) as session, session.begin():
        _save(session, ALICE, accepted(community(), ALICE), accepted(secure(), ALICE))
        closed = community(
            provider_id="CMTY002",
            episode_id="CE9",
            discharge_date="2024-03-20",
            discharge_reason="incomplete_dropped_out",
        )
        _save(session, BOB, accepted(closed, BOB))
        # The episode row the lookup by provider and episode id finds the person by.
        session.add(store.EpisodeRow(client_key=BOB, provider_id="CMTY002", episode_id="CE9", revision=1))
    credentials = CredentialStore(tmp_path / "credentials.json")
    _, operator = credentials.issue("ops", (), operations=True, now=NOW)
    _, vendor = credentials.issue("vendor", ("CMTY001",), operations=False, now=NOW)
    client = TestClient(create_app(lambda: True, engine, credentials, trail))
    return client, {"Authorization": f"Bearer {operator}"}, {"X-API-Key": vendor}


def test_every_view_of_a_person_is_on_the_audit_trail_first(
    api: tuple[TestClient, dict[str, str], dict[str, str]], trail: Trail
) -> None:
    client, operator, _ = api
    assert client.get(f"/v1/clients/{ALICE}/journeys", headers=operator).status_code == 200
    assert client.get("/v1/providers/CMTY002/episodes/CE9/journeys", headers=operator).status_code == 200
    assert client.get("/v1/journeys?status=open", headers=operator).status_code == 200
    assert (
        client.get(f"/v1/clients/{'c' * 32}/journeys", headers=operator).status_code == 404
    )  # nothing shown
    assert [(e.action, e.subject, e.detail) for e in trail.events] == [
        (AuditAction.PERSON_VIEWED, ALICE, "by client key"),
        (AuditAction.PERSON_VIEWED, BOB, "by episode CMTY002/CE9"),
        (AuditAction.JOURNEYS_LISTED, "journeys", "status=open"),
    ]
    assert all(e.actor.startswith("ops (") for e in trail.events)
    trail.down = True
    refused = client.get(f"/v1/clients/{ALICE}/journeys", headers=operator)
    assert refused.status_code == 503 and "journeys" not in refused.json()
    assert "a person is shown only once the view is recorded" in refused.json()["detail"]


def test_one_clients_journeys_and_custody(api: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, operator, _ = api
    body = client.get(f"/v1/clients/{ALICE}/journeys", headers=operator).json()
    assert [j["status"] for j in body["journeys"]] == ["open"]
    assert [p["provider_id"] for p in body["custody_periods"]] == ["PRISON01"]
    assert "date_of_birth" not in str(body) and "first_initial" not in str(body)
    assert client.get(f"/v1/clients/{'c' * 32}/journeys", headers=operator).status_code == 404
    bad = client.get("/v1/clients/not-a-key/journeys", headers=operator)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["path"] == "path.client_key"
    missing = client.get(f"/v1/clients/{'c' * 32}/journeys", headers=operator).json()
    assert missing["status"] == 404 and missing["detail"] == f"no journeys for client key {'c' * 32}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [ALICE, BOB]),
        ("?status=open", [ALICE]),
        ("?status=closed", [BOB]),
        ("?provider=CMTY002", [BOB]),
        ("?provider=CMTY001&status=closed", []),
        ("?started_from=2024-03-09", []),
        ("?started_from=2024-03-08&started_to=2024-03-08", [ALICE, BOB]),
    ],
)
def test_listing_filters(
    api: tuple[TestClient, dict[str, str], dict[str, str]], query: str, expected: list[str]
) -> None:
    client, operator, _ = api
    body = client.get(f"/v1/journeys{query}", headers=operator).json()
    assert sorted(item["client_key"] for item in body["items"]) == expected and body["total"] == len(expected)


def test_listing_pages(api: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, operator, _ = api
    first = client.get("/v1/journeys?page_size=1", headers=operator).json()
    second = client.get(f"/v1/journeys?page_size=1&page={first['next_page']}", headers=operator).json()
    assert first["total"] == 2 and second["next_page"] is None
    assert {first["items"][0]["client_key"], second["items"][0]["client_key"]} == {ALICE, BOB}
    assert client.get("/v1/journeys?page=0", headers=operator).status_code == 422
    assert client.get("/v1/journeys?page_size=501", headers=operator).status_code == 422
    assert client.get("/v1/journeys?status=lost", headers=operator).status_code == 422


@pytest.mark.parametrize(
    ("query", "says"),
    [
        # Was a 500: OverflowError converting the offset to an SQLite INTEGER.
        (
            "page=200000000000000000",
            "query.page: got '200000000000000000'; expected a number at most 1000000",
        ),
        # Was accepted as 1970-01-01: a Unix timestamp is not a date.
        ("started_to=0", "query.started_to: '0' is not a date: write it as YYYY-MM-DD"),
        ("started_from=2024-02-30", "query.started_from: there is no 30 February 2024"),
        ("started_from=2024-03-01T00:00:00", "write it as YYYY-MM-DD"),
        ("provider=a%20b", "query.provider: got 'a b'; use 1 to 40 letters"),
    ],
)
def test_bad_queries_are_refused_with_a_problem(
    api: tuple[TestClient, dict[str, str], dict[str, str]], query: str, says: str
) -> None:
    client, operator, _ = api
    response = client.get(f"/v1/journeys?{query}", headers=operator)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"], response.json()


def test_only_operations_keys_may_query(
    api: tuple[TestClient, dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    client, operator, vendor = api
    assert client.get("/v1/journeys").status_code == 401
    assert client.get("/v1/journeys", headers={"Authorization": "Bearer ndtms_wrong"}).status_code == 401
    assert client.get("/v1/journeys", headers=vendor).status_code == 403
    assert client.get("/v1/health").status_code == 200
    store_file = CredentialStore(tmp_path / "credentials.json")
    [ops] = [c for c in store_file.all() if c.operations]
    store_file.revoke(ops.id, NOW)
    assert client.get("/v1/journeys", headers=operator).status_code == 401
