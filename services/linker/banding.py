"""From scores to what a reviewer sees: `likely`, `possible`, or nothing proposed.

A pair is `likely` at the model's likely probability (default 0.95) and `possible` at its
possible one (default 0.1). Doubt lowers a band, never raises one:
- two or more candidates for one transfer, or one community episode proposed for two
  transfers, are all `possible`;
- a community episode in another local authority than the release's destination is at most
  `possible`: a candidate always differs in some attributor, and a different person one
  attributor away who lives elsewhere (a day and month swapped, a year off, an initial) can
  score as high as a real match when the attributors are rare, so a person must look.
A rejected pair is never proposed again (the caller leaves it out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ndtms_contract.candidates import Band
from services.linker.match_model import MatchModel
from services.linker.scoring import Score


def proposal(transfer_id: str, community_episode: str, score: Score) -> Proposal:
    """A scored pair as banding sees it."""
    elsewhere = any(d.attribute == "local_authority" and d.kind == "differs" for d in score.differences)
    return Proposal(transfer_id, community_episode, score.probability, elsewhere)


@dataclass(frozen=True)
class Proposal:
    transfer_id: str
    community_episode: str  # provider/episode
    probability: float
    # The community episode's local authority differs from the release's destination.
    elsewhere: bool = False


def band_of(probability: float, model: MatchModel, elsewhere: bool = False) -> Band | None:
    if probability >= model.likely and not elsewhere:
        return Band.LIKELY
    if probability >= model.possible:
        return Band.POSSIBLE
    return None


def among(band: Band, for_transfer: int, for_episode: int) -> Band:
    """A pair's band, given how many pairs are proposed for its transfer and for its episode."""
    return Band.POSSIBLE if for_transfer > 1 or for_episode > 1 else band


def banded(proposals: Iterable[Proposal], model: MatchModel) -> dict[tuple[str, str], Band]:
    """The band of every pair that is proposed at all, by (transfer, community episode)."""
    kept = [(p, band) for p in proposals if (band := band_of(p.probability, model, p.elsewhere)) is not None]
    per_transfer = Counter(p.transfer_id for p, _ in kept)
    per_episode = Counter(p.community_episode for p, _ in kept)
    return {
        (p.transfer_id, p.community_episode): among(
            band, per_transfer[p.transfer_id], per_episode[p.community_episode]
        )
        for p, band in kept
    }
