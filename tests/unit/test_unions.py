"""Named union branches: the same bytes as fastavro's own choice, for every topic's records."""

from __future__ import annotations

import copy
import io
import random
from datetime import UTC, date, datetime
from typing import Any

import fastavro
import pytest
from pydantic import BaseModel

from ndtms_apps.feeds.synthetic import community_episode, person, prison_release
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.findings import Finding, Severity, ValidationReport
from ndtms_contract.topics import ERRORS, JOURNEYS, LINKS, RAW, VALID, TopicSpec
from ndtms_contract.transcoding import schema_json
from ndtms_contract.unions import union_hints
from services.journey.records import client_journeys, span_of
from services.validator.acceptance import decide
from tests.unit.test_trusted import _links

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _updates() -> list[EpisodeUpdate]:
    rng = random.Random(11)
    records: list[dict[str, Any]] = []
    for n in range(20):
        who = person(rng)
        release = date(2024, 1, 1 + n)
        records.append(prison_release(who, "PRISON01", f"R{n}", release))
        records.append(community_episode(who, "CMTY001", f"C{n}", release, release if n % 2 else None))
    records.append({"provider_id": "CMTY001", "episode_id": "C1", "revision": 2, "deleted": True})
    return [EpisodeUpdate.model_validate(r) for r in records]


def _cases() -> list[tuple[TopicSpec, BaseModel]]:
    updates = _updates()
    accepted = [a for u in updates for a in decide(None, u, b"test-key", NOW).forward]
    spans = [s for a in accepted if (s := span_of(a)) is not None]
    journeys = client_journeys("k" * 32, spans, NOW)
    assert journeys is not None
    report = ValidationReport(
        provider_id="CMTY001",
        episode_id="C1",
        revision=1,
        findings=(Finding(rule="DAT001", severity=Severity.ERROR, field="triage_date", message="m"),),
        checked_at=NOW,
    )
    return [
        *[(RAW, u) for u in updates],
        *[(VALID, a) for a in accepted],
        *[(LINKS, link) for link in _links()],
        (JOURNEYS, journeys),
        (ERRORS, report),
    ]


def _write(schema: Any, data: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, data)
    return buffer.getvalue()


@pytest.mark.parametrize(("topic", "record"), _cases(), ids=lambda v: getattr(v, "name", None))
def test_named_branches_write_the_same_bytes(topic: TopicSpec, record: BaseModel) -> None:
    schema = fastavro.parse_schema(schema_json(topic.value_schema or ""))
    plain = record.model_dump()
    hinted = copy.deepcopy(plain)
    union_hints(schema)(hinted)
    assert _write(schema, hinted) == _write(schema, plain)


def test_a_value_outside_the_named_branch_is_still_refused() -> None:
    schema = fastavro.parse_schema(schema_json(RAW.value_schema or ""))
    data = _updates()[0].model_dump()
    data["referral_date"] = "not a date"
    union_hints(schema)(data)
    with pytest.raises((TypeError, ValueError)):
        _write(schema, data)
