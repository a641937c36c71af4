"""From scores to what a reviewer sees: `likely`, `possible`, or nothing proposed.

A pair is `likely` at the model's likely probability (default 0.9) and `possible` at its
possible one (default 0.3). Ambiguity lowers a band, never raises one: two or more
candidates for one transfer, or one community episode proposed for two transfers, are all
`possible`. A rejected pair is never proposed again (the caller leaves it out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ndtms.contract.candidates import Band
from services.linker.match_model import MatchModel


@dataclass(frozen=True)
class Proposal:
    transfer_id: str
    community_episode: str  # provider/episode
    probability: float


def band_of(probability: float, model: MatchModel) -> Band | None:
    if probability >= model.likely:
        return Band.LIKELY
    if probability >= model.possible:
        return Band.POSSIBLE
    return None


def banded(proposals: Iterable[Proposal], model: MatchModel) -> dict[tuple[str, str], Band]:
    """The band of every pair that is proposed at all, by (transfer, community episode)."""
    kept = [(p, band) for p in proposals if (band := band_of(p.probability, model)) is not None]
    per_transfer = Counter(p.transfer_id for p, _ in kept)
    per_episode = Counter(p.community_episode for p, _ in kept)
    return {
        (p.transfer_id, p.community_episode): (
            Band.POSSIBLE if per_transfer[p.transfer_id] > 1 or per_episode[p.community_episode] > 1 else band
        )
        for p, band in kept
    }
