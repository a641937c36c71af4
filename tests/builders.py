"""Synthetic episode updates for tests, built from a valid base and targeted overrides."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ndtms_apps.feeds.synthetic import Person, community_episode, prison_release
from ndtms_contract.episodes import AcceptedEpisode, EpisodeUpdate
from ndtms_contract.links import LinkStatus, MatchedOn, TransferLink
from services.validator.acceptance import accepted_form

SECRET = b"test-pseudonym-key"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
ALEX = Person("A", "B", date(1985, 3, 2), "male", "E09000033")
SAM = Person("S", "T", date(1990, 7, 14), "female", "E08000025")


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge; a value of `...` deletes the key."""
    result = dict(base)
    for key, value in overrides.items():
        if value is ...:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def community(**overrides: Any) -> dict[str, Any]:
    base = community_episode(
        ALEX, "CMTY001", "CE1", date(2024, 3, 6), date(2024, 3, 8), recorded_on=date(2024, 4, 1)
    )
    return merged(base, overrides)


def secure(**overrides: Any) -> dict[str, Any]:
    return merged(prison_release(ALEX, "PRISON01", "EP1", date(2024, 3, 1)), overrides)


def update(data: dict[str, Any]) -> EpisodeUpdate:
    return EpisodeUpdate.model_validate_json(json.dumps(data), strict=True)


def accepted(data: dict[str, Any], client_key: str = "k" * 32, now: datetime = NOW) -> AcceptedEpisode:
    u = update(data)
    if u.deleted:
        return AcceptedEpisode(
            provider_id=u.provider_id,
            episode_id=u.episode_id,
            revision=u.revision,
            client_key=client_key,
            deleted=True,
            accepted_at=now,
        )
    return accepted_form(u, client_key, (), now)


def transfer_link(
    n: int,
    exit_date: date,
    *,
    engaged_day: int | None = None,
    triaged_day: int | None = None,
    prison: str = "P1",
    la: str | None = "E09000033",
    confirmed: bool = False,
    status: LinkStatus | None = None,
) -> TransferLink:
    """A link record as the linker writes it: engaged (structured start) or triaged on the given
    day after the exit, else not engaged; `status` says otherwise (a pending one, say)."""
    start = exit_date + timedelta(days=engaged_day) if engaged_day is not None else None
    triage = exit_date + timedelta(days=triaged_day) if triaged_day is not None else None
    status = status or (
        LinkStatus.ENGAGED if start else LinkStatus.TRIAGED if triage else LinkStatus.NOT_ENGAGED
    )
    return TransferLink(
        transfer_id=f"{prison}/{n}",
        client_key=f"c{n}",
        prison_provider_id=prison,
        prison_episode_id=str(n),
        prison_exit_date=exit_date,
        exit_destination_la=la,
        window_end_date=exit_date + timedelta(days=21),
        status=status,
        triage_date=triage or start,
        window_triage_date=triage or start,
        structured_start_date=start,
        matched_on=MatchedOn.CONFIRMED_CANDIDATE if confirmed else MatchedOn.CLIENT_KEY,
        decided_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
