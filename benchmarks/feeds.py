"""Synthetic benchmark feeds: many people, releases and community episodes, a share of them invalid."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from ndtms_apps.feeds.synthetic import community_episode, person, prison_release
from ndtms_contract.episodes import EpisodeUpdate


def updates(
    count: int, seed: int = 7, invalid_share: float = 0.05, first_release: date = date(2024, 1, 1)
) -> list[EpisodeUpdate]:
    rng = random.Random(seed)
    result: list[EpisodeUpdate] = []
    n = 0
    while len(result) < count:
        who = person(rng)
        release = first_release + timedelta(days=rng.randrange(300))
        records: list[dict[str, Any]] = [
            prison_release(who, f"PRISON{rng.randrange(20):02d}", f"B{n:07d}P", release),
            community_episode(
                who,
                f"CMTY{rng.randrange(50):03d}",
                f"B{n:07d}C",
                release + timedelta(days=rng.randrange(30)),
                release + timedelta(days=rng.randrange(30, 40)),
            ),
        ]
        for record in records:
            if rng.random() < invalid_share:
                record["triage_date"] = "2000-01-01"  # before referral: an error
            result.append(EpisodeUpdate.model_validate(record))
        n += 1
    return result[:count]
