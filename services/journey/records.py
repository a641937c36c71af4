"""Mapping between accepted episodes, stored rows and the journey rule's spans."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from ndtms_contract.episodes import AcceptedEpisode, Setting
from ndtms_contract.journeys import ClientJourneys
from services.journey.journeys import EpisodeSpan, InterventionSpan, custody_periods_of, journeys_of

SPAN = TypeAdapter(EpisodeSpan)


def span_of(accepted: AcceptedEpisode) -> EpisodeSpan | None:
    if accepted.deleted or accepted.setting is None or accepted.referral_date is None:
        return None
    custody = accepted.custody
    starts = [i.start_date for i in accepted.interventions]
    return EpisodeSpan(
        provider_id=accepted.provider_id,
        episode_id=accepted.episode_id,
        setting=Setting(accepted.setting),
        referral_date=accepted.referral_date,
        triage_date=accepted.triage_date,
        first_intervention_start=min(starts) if starts else None,
        discharge_date=accepted.discharge_date,
        discharge_reason=accepted.discharge_reason,
        reception_date=custody.reception_date if custody else None,
        prison_exit_date=custody.prison_exit_date if custody else None,
        exit_reason=custody.exit_reason if custody else None,
        exit_destination_la=custody.exit_destination_la if custody else None,
        local_authority=accepted.local_authority,
        structured=tuple(
            InterventionSpan(i.start_date, i.end_date)
            for i in sorted(accepted.interventions, key=lambda i: (i.start_date, i.intervention_id))
            if i.type.is_structured
        ),
    )


def span_to_json(span: EpisodeSpan) -> dict[str, Any]:
    dumped: dict[str, Any] = SPAN.dump_python(span, mode="json")
    return dumped


def span_from_json(data: dict[str, Any]) -> EpisodeSpan:
    return SPAN.validate_python(data)


def client_journeys(client_key: str, spans: Iterable[EpisodeSpan], now: datetime) -> ClientJourneys | None:
    """The published record, or None when nothing is left (a tombstone)."""
    spans = list(spans)
    if not spans:
        return None
    return ClientJourneys(
        client_key=client_key,
        journeys=journeys_of(spans),
        custody_periods=custody_periods_of(spans),
        updated_at=now,
    )
