"""The ingest API and CSV extracts on the real broker and registry: what arrives, what never does."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from ndtms.access import CredentialStore
from ndtms.audit import AuditTrail
from ndtms.erasing import ErasureLedger
from ndtms_apps.cli.platform_status import end_offsets
from ndtms_client import EpisodePublisher, PublishRejected
from ndtms_client.raw_topic import RawTopicWriter
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.erasures import ErasureRecorded
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import ERASURES, RAW
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.ingest.http import create_app
from services.ingest.ledger import ExtractLedger
from services.ingest.settings import IngestSettings
from tests.builders import community
from tests.unit.test_extracts import HEADER

pytestmark = pytest.mark.broker
NOW = datetime(2024, 6, 1, tzinfo=UTC)


class Ingest:
    def __init__(self, platform: PlatformSettings, tmp_path: Path):
        settings = IngestSettings(**platform.model_dump(), ingest_ledger_url=f"sqlite:///{tmp_path / 'l.db'}")
        producer = self.producer = Producer(platform.producer_config())
        self.codec = AvroTranscoder(registry_client(platform.registry_url), RAW, EpisodeUpdate)
        credentials = CredentialStore(tmp_path / "credentials.json")
        _, key = credentials.issue("vendor", ("CMTY001",), operations=False, now=NOW)
        _, other = credentials.issue("other vendor", ("CMTY002",), operations=False, now=NOW)
        self.auth = {"Authorization": f"Bearer {key}"}
        self.other = {"Authorization": f"Bearer {other}"}
        app = create_app(
            settings,
            RawTopicWriter(producer, self.codec),
            producer,
            credentials,
            ExtractLedger(settings.effective_ledger_url),
            ErasureLedger(platform, AuditTrail(platform, lambda: NOW), lambda: NOW),
            lambda: NOW,
        )
        self.client = TestClient(app)
        self.platform = platform
        self.start = self._ends()

    def _ends(self) -> dict[int, int]:
        consumer = Consumer({**self.platform.kafka_client_config(), "group.id": "ingest-test-ends"})
        try:
            return end_offsets(consumer, RAW.name, RAW.partitions)
        finally:
            consumer.close()

    def arrived(self) -> list[EpisodeUpdate]:
        """Every update written to the raw topic since this fixture started, decoded with the registry."""
        ends = self._ends()
        consumer = Consumer({**self.platform.kafka_client_config(), "group.id": f"ingest-{time.time_ns()}"})
        consumer.assign([TopicPartition(RAW.name, p, self.start[p]) for p in range(RAW.partitions)])
        found: list[EpisodeUpdate] = []
        remaining = sum(ends[p] - self.start[p] for p in range(RAW.partitions))
        deadline = time.monotonic() + 30
        while remaining > 0 and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.5):
                if message.error() is None:
                    found.append(self.codec.decode(message.value()))
                    remaining -= 1
        consumer.close()
        return found


@pytest.fixture
def ingest(platform: PlatformSettings, tmp_path: Path) -> Iterator[Ingest]:
    service = Ingest(platform, tmp_path)
    yield service
    # A producer left open outlives the broker and logs connection failures after the summary.
    service.producer.close()


def episode(n: int, **overrides: Any) -> dict[str, Any]:
    return community(episode_id=f"IN{time.time_ns()}{n}", **overrides)


def test_accepted_records_arrive_once_and_rejected_ones_never(ingest: Ingest) -> None:
    good, also_good = episode(1), episode(2)
    bad = episode(3, referral_date="2024-02-30")
    response = ingest.client.post("/v1/episodes", json=[good, bad, also_good, good], headers=ingest.auth)
    assert response.status_code == 207
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted", "rejected"]
    assert body["results"][1]["problems"][0]["path"] == "referral_date"
    assert "duplicate of index 0" in body["results"][3]["problems"][0]["message"]
    arrived = Counter(u.episode_id for u in ingest.arrived())
    assert arrived == Counter({good["episode_id"]: 1, also_good["episode_id"]: 1})


def test_keys_and_providers(ingest: Ingest) -> None:
    one = episode(1)
    assert ingest.client.post("/v1/episodes", json=one).status_code == 401
    assert (
        ingest.client.post("/v1/episodes", json=one, headers={"X-API-Key": "ndtms_nope"}).status_code == 401
    )
    forbidden = ingest.client.post("/v1/episodes", json=[one, episode(2)], headers=ingest.other)
    assert forbidden.status_code == 403 and "CMTY001" in forbidden.json()["detail"]
    assert (
        ingest.client.post("/v1/extracts?provider=CMTY001", content=b"x", headers=ingest.other).status_code
        == 403
    )
    assert ingest.arrived() == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"provider_id": "CMTY001", "episode_id"', 400, "not valid JSON"),
        (b"\xff\xfe\x00", 400, "not UTF-8"),
        (b"[]", 422, "the batch is empty"),
        # A RecursionError in the JSON decoder was a 500 with a plain-text traceback.
        (b"[" * 1000 + b"]" * 1000, 400, "nests arrays or objects too deeply"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nests arrays or objects too deeply"),
        (b"", 400, "the body is empty"),
        (b'{"provider_id": 7}', 422, "provider_id"),
        (json.dumps({**community(), "setting": "moon"}).encode(), 422, "setting"),
        (json.dumps({**community(), "revision": 0}).encode(), 422, "revision"),
        (b" " * (50 * 1024 * 1024), 413, "over the limit of 5242880 bytes"),
        (json.dumps([community()] * 1001).encode(), 422, "the batch has 1001 records; the limit is 1000"),
    ],
)
def test_bad_bodies_get_a_precise_answer(ingest: Ingest, body: bytes, status: int, says: str) -> None:
    response = ingest.client.post(
        "/v1/episodes", content=body, headers={**ingest.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert_problem(response, status, says)
    assert ingest.arrived() == []


def assert_problem(response: Any, status: int, says: str) -> None:
    """RFC 9457: the same object for every refusal, saying what is wrong."""
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and says in body["detail"], body
    assert body["type"] == "about:blank" and isinstance(body["errors"], list)


def test_refusals_of_every_kind_have_one_shape(ingest: Ingest) -> None:
    client, auth = ingest.client, ingest.auth
    assert_problem(client.post("/v1/episodes", json=episode(1)), 401, "a valid API key is required")
    assert_problem(client.post("/v1/episodes", json=episode(1), headers=ingest.other), 403, "may not publish")
    assert_problem(client.get("/v1/nothing", headers=auth), 404, "Not Found")
    assert_problem(client.delete("/v1/episodes", headers=auth), 405, "DELETE is not allowed on /v1/episodes")
    assert "it answers POST" in client.delete("/v1/episodes", headers=auth).json()["detail"]
    # FastAPI's own answer was a raw list under "detail".
    missing = client.post("/v1/extracts", content=b"AGNCY\n", headers=auth)
    assert_problem(missing, 422, "query.provider: is required")
    assert missing.json()["errors"] == [{"path": "query.provider", "message": "is required"}]
    one = client.post("/v1/episodes", json=episode(1, revision=0), headers=auth)
    assert_problem(one, 422, "revisions start at 1")
    assert one.json()["results"][0]["problems"][0]["path"] == "revision"


def test_a_batch_is_answered_per_record_even_when_every_record_is_rejected(ingest: Ingest) -> None:
    response = ingest.client.post("/v1/episodes", json=[{"revision": 1}, 7], headers=ingest.auth)
    assert response.status_code == 207
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected"]
    assert ingest.arrived() == []


def csv_of(*rows: str) -> bytes:
    return ("\n".join((HEADER, *rows)) + "\n").encode()


def test_extract_resubmitted_unchanged_is_a_no_op_changed_rows_supersede_missing_ones_reported(
    ingest: Ingest,
) -> None:
    stamp = time.time_ns()
    row = f"CMTY001,X{stamp}A,C,A,B,1985-03-02,1,E09000033,Y,2024-03-05,2024-03-06,,,,,,,,"
    other = row.replace(f"X{stamp}A", f"X{stamp}B")
    first = ingest.client.post(
        "/v1/extracts?provider=CMTY001", content=csv_of(row, other), headers=ingest.auth
    )
    assert first.status_code == 200 and first.json()["new"] == 2
    again = ingest.client.post(
        "/v1/extracts?provider=CMTY001", content=csv_of(row, other), headers=ingest.auth
    )
    assert again.json()["unchanged"] == 2 and again.json()["published"] == 0
    changed = row.replace("2024-03-06", "2024-03-07")
    third = ingest.client.post("/v1/extracts?provider=CMTY001", content=csv_of(changed), headers=ingest.auth)
    assert third.json()["changed"] == 1 and third.json()["missing_from_extract"] == [f"X{stamp}B"]
    revisions = sorted((u.episode_id, u.revision) for u in ingest.arrived())
    assert revisions == [(f"X{stamp}A", 1), (f"X{stamp}A", 2), (f"X{stamp}B", 1)]


def test_bad_extracts_get_a_precise_answer(ingest: Ingest) -> None:
    def post(body: bytes) -> Any:
        return ingest.client.post("/v1/extracts?provider=CMTY001", content=body, headers=ingest.auth)

    assert_problem(post(b""), 422, "the file is empty")
    semicolons = HEADER.replace(",", ";").encode() + b"\n"
    assert_problem(post(semicolons), 422, "separated by semicolons; the separator must be a comma")
    assert_problem(post(HEADER.replace(",", "\t").encode() + b"\n"), 422, "separated by tabs")
    assert_problem(post(b"AGNCY,EPISODID,EXTRA\n"), 422, "unknown column(s) EXTRA")
    short = post(csv_of("CMTY001,E1,C"))
    assert short.status_code == 207 and short.json()["rejections"][0]["row"] == 2
    assert ingest.arrived() == []


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)


def _encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20), _containers, max_leaves=20
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=400), JSON_VALUES.map(_encoded)))
def test_random_bodies_never_break_the_api(ingest: Ingest, body: bytes) -> None:
    for path in ("/v1/episodes", "/v1/extracts?provider=CMTY001"):
        response = ingest.client.post(path, content=body, headers=ingest.auth)
        assert response.status_code < 500, response.text
    assert ingest.client.get("/v1/health").status_code == 200


def test_the_client_publishes_over_http_and_straight_to_kafka(
    ingest: Ingest, platform: PlatformSettings
) -> None:
    key = ingest.auth["Authorization"].split()[1]
    over_http = EpisodePublisher.over_http("http://ingest", key, client=cast(httpx.Client, ingest.client))
    first = EpisodeUpdate.model_validate(episode(1))
    [receipt] = over_http.publish(first)
    assert receipt.episode_id == first.episode_id
    twice = EpisodeUpdate.model_validate(episode(3))
    with pytest.raises(PublishRejected) as raised:
        over_http.publish([twice, twice])
    assert raised.value.rejections[0].index == 1 and len(raised.value.accepted) == 1
    with EpisodePublisher.to_kafka(platform) as direct:
        second = EpisodeUpdate.model_validate(episode(2))
        assert [r.episode_id for r in direct.publish([second])] == [second.episode_id]
    arrived = Counter(u.episode_id for u in ingest.arrived())
    assert arrived == Counter({first.episode_id: 1, twice.episode_id: 1, second.episode_id: 1})


def erasures_since(platform: PlatformSettings, start: int) -> list[ErasureRecorded]:
    """The ledger's entries from an offset on, decoded with the registry."""
    codec = AvroTranscoder(registry_client(platform.registry_url), ERASURES, ErasureRecorded)
    consumer = Consumer({**platform.kafka_client_config(), "group.id": f"erasures-{time.time_ns()}"})
    consumer.assign([TopicPartition(ERASURES.name, 0, start)])
    end = end_offsets(consumer, ERASURES.name, 1)[0]
    found: list[ErasureRecorded] = []
    deadline = time.monotonic() + 30
    while start + len(found) < end and time.monotonic() < deadline:
        found += [codec.decode(m.value()) for m in consumer.consume(100, timeout=0.5) if m.error() is None]
    consumer.close()
    return found


def ledger_end(platform: PlatformSettings) -> int:
    consumer = Consumer({**platform.kafka_client_config(), "group.id": "erasures-end"})
    try:
        return end_offsets(consumer, ERASURES.name, 1)[0]
    finally:
        consumer.close()


OBJECTING = {"first_initial": "a", "second_initial": "B", "date_of_birth": "1985-03-02", "sex": "male"}
OBJECTION: dict[str, Any] = {
    "provider_id": "CMTY001",
    "client": OBJECTING,
    "recorded_at": "2024-06-01T10:00:00Z",
}


def test_an_objection_is_recorded_on_the_ledger_under_the_client_key_alone(
    ingest: Ingest, platform: PlatformSettings
) -> None:
    start = ledger_end(platform)
    answer = ingest.client.post("/v1/objections", json=OBJECTION, headers=ingest.auth)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "recorded" and answer.json()["ledger_offset"] >= start
    [erasure] = erasures_since(platform, start)
    expected = client_key(platform.pseudonym_secret(), "A", "B", date(1985, 3, 2), "male")
    assert (erasure.client_key, erasure.erased_by, erasure.origin) == (
        expected,
        "CMTY001",
        "provider_objection",
    )
    assert "1985-03-02" not in erasure.model_dump_json() and "02/03/1985" not in erasure.model_dump_json()


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (OBJECTION, "other", 403, "may not act for provider CMTY001"),
        (OBJECTION, None, 401, "API key"),
        (
            {**OBJECTION, "client": {**OBJECTING, "date_of_birth": "1985-02-30"}},
            "auth",
            422,
            "30 February",
        ),
        ({**OBJECTION, "recorded_at": "2024-06-01"}, "auth", 422, "recorded_at"),
        ({**OBJECTION, "client": {"first_initial": "A"}}, "auth", 422, "second_initial"),
    ],
)
def test_a_bad_objection_is_refused_and_nothing_recorded(
    ingest: Ingest, platform: PlatformSettings, body: Any, headers: str | None, status: int, says: str
) -> None:
    start = ledger_end(platform)
    auth = {"auth": ingest.auth, "other": ingest.other}.get(headers or "", {})
    answer = ingest.client.post("/v1/objections", json=body, headers=auth)
    assert answer.status_code == status and says in answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert ledger_end(platform) == start


def test_consent_withdrawn_in_an_extract_is_the_clients_objection(
    ingest: Ingest, platform: PlatformSettings
) -> None:
    stamp = time.time_ns()
    row = f"CMTY001,W{stamp},C,Q,R,1971-04-05,2,E09000033,Y,2024-03-05,2024-03-06,,,,,,,,"
    first = ingest.client.post("/v1/extracts?provider=CMTY001", content=csv_of(row), headers=ingest.auth)
    assert first.json()["new"] == 1
    start = ledger_end(platform)
    withdrawn = row.replace(",Y,", ",N,")
    second = ingest.client.post(
        "/v1/extracts?provider=CMTY001", content=csv_of(withdrawn), headers=ingest.auth
    )
    assert (second.json()["objections"], second.json()["published"]) == (1, 0)
    [erasure] = erasures_since(platform, start)
    assert erasure.origin == "extract_consent_withdrawn" and erasure.erased_by == "CMTY001"
    assert erasure.client_key == client_key(platform.pseudonym_secret(), "Q", "R", date(1971, 4, 5), "female")
    # Sent again with consent N: not a second objection, and still not published.
    again = ingest.client.post(
        "/v1/extracts?provider=CMTY001", content=csv_of(withdrawn), headers=ingest.auth
    )
    assert (again.json()["objections"], again.json()["unchanged"]) == (0, 1)
    assert [u.revision for u in ingest.arrived() if u.episode_id == f"W{stamp}"] == [1]


def test_an_extract_sent_as_a_form_upload_is_told_how_to_send_it(ingest: Ingest) -> None:
    # What `curl -F file=@extract.csv` sends: the boundary lines were read as unknown columns.
    upload = ingest.client.post(
        "/v1/extracts?provider=CMTY001",
        files={"file": ("extract.csv", csv_of("CMTY001,E1,C"), "text/csv")},
        headers=ingest.auth,
    )
    assert_problem(upload, 415, "sent as a form upload (multipart)")
    assert "curl --data-binary @extract.csv -H 'Content-Type: text/csv'" in upload.json()["detail"]
    assert "unknown column" not in upload.json()["detail"]
    assert ingest.arrived() == []


def refusals(reason: str, status: int) -> float:
    value = REGISTRY.get_sample_value("ndtms_http_refusals_total", {"status": str(status), "reason": reason})
    return value or 0.0


def test_every_refusal_is_logged_with_its_reason_and_counted_never_with_the_key(
    ingest: Ingest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    revoked, revoked_key = store.issue("old vendor", ("CMTY001",), operations=False, now=NOW)
    store.revoke(revoked.id, NOW)
    unknown_key = "ndtms_" + "x" * 40
    before = {
        (r, s): refusals(r, s)
        for r, s in (("missing", 401), ("unknown", 401), ("revoked", 401), ("provider", 403))
    }
    with caplog.at_level(logging.WARNING, logger="ndtms.web.access"):
        for headers, status in (
            ({}, 401),
            ({"Authorization": f"Bearer {unknown_key}"}, 401),
            ({"Authorization": f"Bearer {revoked_key}"}, 401),
            (ingest.other, 403),
        ):
            answer = ingest.client.post("/v1/episodes", json=episode(1), headers=headers)
            assert answer.status_code == status
    # The client is told 401 whatever the reason; the operator can tell them apart.
    for (reason, status), earlier in before.items():
        assert refusals(reason, status) == earlier + 1, reason
    logged = [(r.__dict__["refusal"], r.__dict__["credential_id"]) for r in caplog.records]
    assert [reason for reason, _ in logged] == ["missing", "unknown", "revoked", "provider"]
    assert logged[2][1] == revoked.id
    text = caplog.text + json.dumps([r.__dict__.get("credential_id") for r in caplog.records])
    assert unknown_key not in text and revoked_key not in text
