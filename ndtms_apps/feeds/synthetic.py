"""Synthetic episode feeds: made-up people released from prison and seen (or not) in the community.

Nothing here is real data: initials and dates of birth are drawn at random from a seed.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ndtms.continuity.areas import listed_areas
from ndtms.continuity.window import window_end
from ndtms_contract.episodes import DischargeReason, Setting
from ndtms_contract.links import LinkStatus, MatchedOn, TransferLink
from services.journey.journeys import EpisodeSpan, InterventionSpan

LOCAL_AUTHORITIES = ("E09000033", "E08000025", "E06000023", "E07000178", "E10000016")
PRISONS = ("PRISON01", "PRISON02", "PRISON03")
COMMUNITY = ("CMTY001", "CMTY002", "CMTY003", "CMTY004")


@dataclass(frozen=True)
class Person:
    first_initial: str
    second_initial: str
    date_of_birth: date
    sex: str
    local_authority: str

    def client(self) -> dict[str, Any]:
        return {
            "first_initial": self.first_initial,
            "second_initial": self.second_initial,
            "date_of_birth": self.date_of_birth.isoformat(),
            "sex": self.sex,
            "local_authority": self.local_authority,
            "consent": True,
        }


def person(rng: random.Random) -> Person:
    return Person(
        first_initial=rng.choice(string.ascii_uppercase),
        second_initial=rng.choice(string.ascii_uppercase),
        date_of_birth=date(1960, 1, 1) + timedelta(days=rng.randrange(0, 365 * 38)),
        sex=rng.choice(("male", "male", "female", "other")),
        local_authority=rng.choice(LOCAL_AUTHORITIES),
    )


def recorded(day: date) -> str:
    return datetime.combine(day, time(12, 0), tzinfo=UTC).isoformat().replace("+00:00", "Z")


def prison_release(
    who: Person, provider: str, episode: str, release: date, revision: int = 1, destination: str | None = None
) -> dict[str, Any]:
    reception = release - timedelta(days=120)
    return {
        "provider_id": provider,
        "episode_id": episode,
        "revision": revision,
        "setting": "secure",
        "deleted": False,
        "recorded_at": recorded(release),
        "client": who.client(),
        "referral_date": reception.isoformat(),
        "triage_date": (reception + timedelta(days=1)).isoformat(),
        "interventions": [
            {
                "intervention_id": f"{episode}-I0",
                "type": "pharmacological",
                "start_date": (reception + timedelta(days=3)).isoformat(),
                "end_date": release.isoformat(),
            }
        ],
        "discharge_date": release.isoformat(),
        "discharge_reason": "transferred_not_in_custody",
        "custody": {
            "reception_date": reception.isoformat(),
            "prison_exit_date": release.isoformat(),
            "exit_reason": "released",
            "exit_destination_la": destination or who.local_authority,
            "referral_on_release": "structured_treatment",
        },
    }


def community_episode(
    who: Person,
    provider: str,
    episode: str,
    triage: date,
    structured_start: date | None,
    revision: int = 1,
    recorded_on: date | None = None,
) -> dict[str, Any]:
    interventions = []
    if structured_start is not None:
        interventions.append(
            {
                "intervention_id": f"{episode}-I0",
                "type": "psychosocial",
                "start_date": structured_start.isoformat(),
            }
        )
    latest = max(d for d in (triage, structured_start) if d is not None)
    return {
        "provider_id": provider,
        "episode_id": episode,
        "revision": revision,
        "setting": "community",
        "deleted": False,
        "recorded_at": recorded(recorded_on or latest),
        "client": who.client(),
        "referral_date": (triage - timedelta(days=1)).isoformat(),
        "triage_date": triage.isoformat(),
        "interventions": interventions,
    }


def demo_feed(today: date, people: int = 12, seed: int = 2116) -> list[dict[str, Any]]:
    """Releases over the last six weeks; about a third engage, some are triaged only, some not seen."""
    rng = random.Random(seed)
    feed: list[dict[str, Any]] = []
    for n in range(people):
        who = person(rng)
        release = today - timedelta(days=rng.randrange(0, 42))
        feed.append(prison_release(who, rng.choice(PRISONS), f"REL{n:05d}", release))
        outcome = rng.random()
        provider = rng.choice(COMMUNITY)
        if outcome < 0.35:
            triage = min(release + timedelta(days=rng.randrange(0, 10)), today)
            start = min(triage + timedelta(days=rng.randrange(0, 8)), today)
            feed.append(community_episode(who, provider, f"CE{n:05d}", triage, start))
        elif outcome < 0.5:
            triage = min(release + timedelta(days=rng.randrange(0, 15)), today)
            feed.append(community_episode(who, provider, f"CE{n:05d}", triage, None))
    return feed


def treatment_histories(
    rng: random.Random, people: int, first_day: date, days: int
) -> dict[str, list[EpisodeSpan]]:
    """Made-up people's community (and a few secure) episode spans over `days` from `first_day`,
    for the treatment measures: 1 to 3 episodes each, 0 to 2 structured interventions an episode,
    60 % discharged with a reason drawn from every NDTMS reason, four providers and LAs."""
    reasons = list(DischargeReason)
    histories: dict[str, list[EpisodeSpan]] = {}
    for n in range(people):
        spans = []
        referral = first_day + timedelta(days=rng.randrange(days))
        for e in range(rng.choice((1, 1, 2, 3))):
            structured = []
            start = referral + timedelta(days=rng.randrange(45))
            for _ in range(rng.choice((0, 1, 1, 2))):
                end = start + timedelta(days=rng.randrange(200)) if rng.random() < 0.6 else None
                structured.append(InterventionSpan(start, end))
                start += timedelta(days=rng.randrange(60))
            discharge = referral + timedelta(days=rng.randrange(30, 300)) if rng.random() < 0.6 else None
            spans.append(
                EpisodeSpan(
                    provider_id=rng.choice(("CMTY001", "CMTY002", "CMTY003", "CMTY004")),
                    episode_id=f"E{n}-{e}",
                    setting=Setting.SECURE if rng.random() < 0.05 else Setting.COMMUNITY,
                    referral_date=referral,
                    first_intervention_start=min((s.start for s in structured), default=None),
                    discharge_date=discharge,
                    discharge_reason=rng.choice(reasons) if discharge else None,
                    local_authority=rng.choice(LOCAL_AUTHORITIES[:4]),
                    structured=tuple(structured),
                )
            )
            referral = (discharge or referral) + timedelta(days=rng.randrange(1, 250))
        histories[f"{n:032x}"] = spans
    return histories


def transfer_links(
    rng: random.Random, count: int, first_exit: date, days: int, prisons: int = 120
) -> list[Any]:
    """`count` made-up link records as the linker publishes them: exits spread over `days` from
    `first_exit`, from `prisons` prisons to England's areas (a few with no destination), about
    45 % engaged (3 % of those through a confirmed probable match), 15 % triaged only."""
    areas = [a.code for a in listed_areas()]
    made = []
    for n in range(count):
        exit_day = first_exit + timedelta(days=rng.randrange(days))
        roll = rng.random()
        start = exit_day + timedelta(days=rng.randrange(22)) if roll < 0.45 else None
        triage = (start or exit_day) - timedelta(days=rng.randrange(3)) if roll < 0.6 else None
        triage = max(triage, exit_day) if triage else None
        status = LinkStatus.ENGAGED if start else LinkStatus.TRIAGED if triage else LinkStatus.NOT_ENGAGED
        made.append(
            TransferLink(
                transfer_id=f"HMP{n % prisons:03d}/R{n}",
                client_key=f"{rng.getrandbits(128):032x}",
                prison_provider_id=f"HMP{n % prisons:03d}",
                prison_episode_id=f"R{n}",
                prison_exit_date=exit_day,
                exit_destination_la=rng.choice(areas) if rng.random() > 0.01 else None,
                window_end_date=window_end(exit_day),
                status=status,
                triage_date=triage,
                window_triage_date=triage,
                structured_start_date=start,
                days_to_engagement=(start - exit_day).days if start else None,
                matched_on=MatchedOn.CONFIRMED_CANDIDATE
                if start and rng.random() < 0.03
                else MatchedOn.CLIENT_KEY,
                decided_at=datetime.combine(window_end(exit_day), time(6), tzinfo=UTC),
            )
        )
    return made
