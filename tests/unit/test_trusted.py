"""Records built without validation (internal topics) equal the validated ones, field for field."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime
from typing import Any

import fastavro
import pytest
from pydantic import BaseModel

from ndtms_apps.feeds.synthetic import community_episode, person, prison_release
from ndtms_contract.episodes import AcceptedEpisode, EpisodeUpdate, Sex
from ndtms_contract.links import LinkStatus, TransferLink
from ndtms_contract.topics import JOURNEYS, LINKS, VALID, TopicSpec
from ndtms_contract.transcoding import schema_json
from ndtms_contract.trusted import constructor
from services.journey.records import client_journeys, span_of
from services.validator.acceptance import decide

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _through_avro(topic: TopicSpec, record: BaseModel) -> dict[str, Any]:
    """The plain data a stage decodes from the record's bytes."""
    schema = fastavro.parse_schema(schema_json(topic.value_schema or ""))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record.model_dump())
    buffer.seek(0)
    data = fastavro.schemaless_reader(buffer, schema, None)
    assert isinstance(data, dict)
    return data


def _accepted() -> list[AcceptedEpisode]:
    rng = random.Random(5)
    who = person(rng)
    snapshots = [
        prison_release(who, "PRISON01", "R1", date(2024, 6, 3)),
        community_episode(who, "CMTY001", "C1", date(2024, 6, 10), date(2024, 6, 12)),
        community_episode(who, "CMTY002", "C2", date(2024, 6, 10), None),
        {"provider_id": "CMTY002", "episode_id": "C2", "revision": 2, "deleted": True},
    ]
    accepted: list[AcceptedEpisode] = []
    heads: dict[str, Any] = {}
    for snapshot in snapshots:
        update = EpisodeUpdate.model_validate(snapshot)
        decision = decide(heads.get(update.episode_key), update, b"test-key", NOW)
        heads[update.episode_key] = decision.head
        accepted.extend(decision.forward)
    return accepted


def _links() -> list[TransferLink]:
    base = {
        "transfer_id": "PRISON01/R1",
        "client_key": "k" * 32,
        "prison_provider_id": "PRISON01",
        "prison_episode_id": "R1",
        "prison_exit_date": date(2024, 6, 3),
        "exit_destination_la": "E09000033",
        "window_end_date": date(2024, 6, 24),
        "decided_at": NOW,
    }
    return [
        TransferLink.model_validate({**base, "status": LinkStatus.PENDING}),
        TransferLink.model_validate(
            {
                **base,
                "exit_destination_la": None,
                "status": LinkStatus.ENGAGED,
                "community_provider_id": "CMTY001",
                "community_episode_id": "C1",
                "triage_date": date(2024, 6, 10),
                "structured_start_date": date(2024, 6, 12),
                "days_to_engagement": 9,
            }
        ),
    ]


def _journeys() -> list[BaseModel]:
    spans = [s for a in _accepted() if (s := span_of(a)) is not None]
    record = client_journeys("k" * 32, spans, NOW)
    assert record is not None and record.journeys and record.custody_periods
    return [record]


CASES = [
    *[pytest.param(VALID, AcceptedEpisode, a, id=f"valid-{a.episode_id}-{a.revision}") for a in _accepted()],
    *[pytest.param(LINKS, TransferLink, link, id=f"link-{link.status.value}") for link in _links()],
    *[pytest.param(JOURNEYS, type(j), j, id="journeys") for j in _journeys()],
]


@pytest.mark.parametrize(("topic", "model", "record"), CASES)
def test_a_trusted_record_equals_the_validated_one(
    topic: TopicSpec, model: type[BaseModel], record: BaseModel
) -> None:
    data = _through_avro(topic, record)
    validated = model.model_validate(dict(data))
    trusted = constructor(model)(data)
    assert trusted == validated == record
    assert trusted.model_dump() == validated.model_dump()
    # The types the rules compare by identity, not just equal values.
    for name in type(record).model_fields:
        assert type(getattr(trusted, name)) is type(getattr(validated, name)), name


def test_enums_and_nested_models_are_converted() -> None:
    accepted = next(a for a in _accepted() if a.custody is not None)
    trusted = constructor(AcceptedEpisode)(_through_avro(VALID, accepted))
    assert accepted.sex is not None and accepted.custody is not None
    assert trusted.sex is Sex(accepted.sex)
    assert trusted.custody is not None and trusted.custody.exit_reason is accepted.custody.exit_reason
    assert isinstance(trusted.interventions, tuple)
    assert trusted.interventions[0].type is accepted.interventions[0].type


def test_a_model_with_an_ambiguous_union_is_refused() -> None:
    class Ambiguous(BaseModel):
        value: int | str

    with pytest.raises(TypeError, match="more than one type"):
        constructor(Ambiguous)
