"""The Avro schemas and the pydantic models describe the same records."""

from __future__ import annotations

import io
from datetime import date
from enum import StrEnum
from typing import Any

import fastavro
import pytest
from pydantic import BaseModel

from ndtms_contract.audit import AuditAction, AuditEvent
from ndtms_contract.candidates import Band, Decision, MatchVerdict
from ndtms_contract.episodes import (
    DischargeReason,
    ExitReason,
    InterventionType,
    ReferralOnRelease,
    Setting,
    Sex,
)
from ndtms_contract.erasures import ErasureOrigin
from ndtms_contract.findings import Finding, Severity, ValidationReport
from ndtms_contract.journeys import ClientJourneys, CustodyPeriod, Journey, JourneyEpisode, JourneyStatus
from ndtms_contract.links import LinkStatus, MatchedOn, TransferLink
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.topics import CATALOGUE, resolve
from ndtms_contract.transcoding import MODEL_OF_TOPIC, schema_json
from tests.builders import NOW, accepted, community, secure, update


def roundtrip(schema_file: str, record: BaseModel) -> BaseModel:
    schema = fastavro.parse_schema(schema_json(schema_file))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record.model_dump())
    buffer.seek(0)
    return type(record).model_validate(fastavro.schemaless_reader(buffer, schema, schema))


LINK = TransferLink(
    transfer_id="PRISON01/EP1",
    client_key="k" * 32,
    prison_provider_id="PRISON01",
    prison_episode_id="EP1",
    prison_exit_date=date(2024, 3, 1),
    exit_destination_la="E09000033",
    window_end_date=date(2024, 3, 22),
    status=LinkStatus.ENGAGED,
    community_provider_id="CMTY001",
    community_episode_id="CE1",
    triage_date=date(2024, 3, 6),
    structured_start_date=date(2024, 3, 8),
    days_to_engagement=7,
    decided_at=NOW,
)
JOURNEYS = ClientJourneys(
    client_key="k" * 32,
    journeys=(
        Journey(
            journey_id="CMTY001/CE1",
            start_date=date(2024, 3, 8),
            discharge_date=None,
            discharge_reason=None,
            status=JourneyStatus.OPEN,
            episodes=(
                JourneyEpisode(
                    provider_id="CMTY001", episode_id="CE1", start_date=date(2024, 3, 8), discharge_date=None
                ),
            ),
        ),
    ),
    custody_periods=(
        CustodyPeriod(
            provider_id="PRISON01",
            episode_id="EP1",
            reception_date=date(2023, 11, 2),
            prison_exit_date=date(2024, 3, 1),
            exit_reason=ExitReason.RELEASED,
            exit_destination_la="E09000033",
        ),
    ),
    updated_at=NOW,
)
REPORT = ValidationReport(
    provider_id="P1",
    episode_id="E1",
    revision=3,
    checked_at=NOW,
    findings=(Finding(rule="DAT002", severity=Severity.ERROR, field="triage_date", message="m"),),
)


@pytest.mark.parametrize(
    ("schema", "record"),
    [
        ("episode_update.avsc", update(secure())),
        ("episode_update.avsc", update(community())),
        (
            "episode_update.avsc",
            update({"provider_id": "P", "episode_id": "E", "revision": 9, "deleted": True}),
        ),
        ("accepted_episode.avsc", accepted(secure())),
        ("transfer_link.avsc", LINK),
        ("client_journeys.avsc", JOURNEYS),
        ("validation_report.avsc", REPORT),
        (
            "audit_event.avsc",
            AuditEvent(at=NOW, actor="ops (a1b2)", action=AuditAction.PERSON_VIEWED, subject="k" * 32),
        ),
    ],
)
def test_models_roundtrip_through_their_schema(schema: str, record: BaseModel) -> None:
    assert roundtrip(schema, record) == record


def enum_symbols(schema: Any, found: dict[str, list[str]]) -> dict[str, list[str]]:
    if isinstance(schema, dict):
        if schema.get("type") == "enum":
            found[schema["name"]] = schema["symbols"]
        for value in schema.values():
            enum_symbols(value, found)
    elif isinstance(schema, list):
        for value in schema:
            enum_symbols(value, found)
    return found


ENUMS: dict[str, type[StrEnum]] = {
    "Setting": Setting,
    "Sex": Sex,
    "InterventionType": InterventionType,
    "DischargeReason": DischargeReason,
    "ExitReason": ExitReason,
    "ReferralOnRelease": ReferralOnRelease,
    "Severity": Severity,
    "LinkStatus": LinkStatus,
    "JourneyStatus": JourneyStatus,
    "AuditAction": AuditAction,
    "ErasureOrigin": ErasureOrigin,
    "Band": Band,
    "Decision": Decision,
    "MatchVerdict": MatchVerdict,
    "MatchedOn": MatchedOn,
}


def test_every_avro_enum_matches_its_model_enum() -> None:
    for spec in CATALOGUE:
        if spec.value_schema:
            for name, symbols in enum_symbols(schema_json(spec.value_schema), {}).items():
                assert symbols == [m.value for m in ENUMS[name]], name


def field_names(schema: object) -> set[str]:
    """Every field name in an Avro schema, nested records included."""
    if isinstance(schema, list):
        return set().union(*(field_names(s) for s in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    names = {f["name"] for f in schema.get("fields", [])}
    for part in (*[f["type"] for f in schema.get("fields", [])], schema.get("items"), schema.get("type")):
        names |= field_names(part)
    return names


def test_no_downstream_schema_carries_attributors() -> None:
    for spec in CATALOGUE:
        if spec.value_schema and spec.name != "ndtms.episodes.raw":
            fields = field_names(schema_json(spec.value_schema))
            assert len(fields) >= 3, spec.name  # the walk found the fields
            for attributor in ("first_initial", "second_initial", "date_of_birth", "initials"):
                assert attributor not in fields, (spec.name, attributor)


def test_every_avro_topic_has_a_model_and_short_names_resolve() -> None:
    assert {s.name for s in CATALOGUE if s.value_schema} == set(MODEL_OF_TOPIC)
    assert resolve("links").name == "ndtms.links" and resolve("ndtms.dlq").short_name == "dlq"
    with pytest.raises(KeyError, match="known topics"):
        resolve("nope")


def test_client_key_follows_the_contract() -> None:
    # HMAC-SHA256 over "J|S|1985-03-02|male" with key "secret", first 32 hex characters
    expected = "1b892c1b816e8cd314f25bfd77448fa9"
    assert client_key(b"secret", "j", " s", date(1985, 3, 2), Sex.MALE) == expected
    assert client_key(b"other", "J", "S", date(1985, 3, 2), Sex.MALE) != expected
    assert client_key(b"secret", "J", "S", date(1985, 3, 2), Sex.FEMALE) != expected


def test_only_the_attributor_topics_get_the_raw_retention() -> None:
    from ndtms_contract.topics import CATALOGUE, DAY_MS, WITH_ATTRIBUTORS, configured  # noqa: PLC0415

    for spec in CATALOGUE:
        retention = configured(spec, 3).get("retention.ms")
        if spec in WITH_ATTRIBUTORS:
            assert retention == str(3 * DAY_MS)
        else:
            assert retention == spec.config.get("retention.ms")
