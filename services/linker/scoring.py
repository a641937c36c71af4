"""Fellegi-Sunter scoring of a prison record against a community record of another client key.

The match weight is the prior's log-odds plus log2(m / u) of each attribute's comparison
level (`services.linker.comparisons`), with u adjusted by term frequency where the model says
so: sharing the initials J S is weaker evidence than sharing X Q. The probability is
2^w / (1 + 2^w). Pure: the same records and model give the same score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.linker import comparisons
from services.linker.comparisons import Attributors, InitialsLevel
from services.linker.match_model import MatchModel


@dataclass(frozen=True)
class Difference:
    """How one attribute differs (`date_of_birth`, `day_month_transposed`): kinds, never values."""

    attribute: str
    kind: str


@dataclass(frozen=True)
class Score:
    match_weight: float
    probability: float
    differences: tuple[Difference, ...]
    model_version: str
    weights: tuple[tuple[str, float], ...]  # per attribute, for the review view


def levels_of(
    prison: Attributors, community: Attributors, destination_la: str | None, community_la: str | None
) -> dict[str, str]:
    return {
        "initials": comparisons.initials(prison, community),
        "date_of_birth": comparisons.birth(prison.date_of_birth, community.date_of_birth),
        "sex": comparisons.sex(prison.sex, community.sex),
        "local_authority": comparisons.place(destination_la, community_la),
    }


def weight_of(levels: dict[str, str], prison: Attributors, model: MatchModel) -> float:
    """The match weight alone: what deciding whether to propose a pair needs."""
    return model.prior_weight + sum(_weight(model, a, level, prison) for a, level in levels.items())


def probability_of(weight: float) -> float:
    return _probability(weight)


def score(
    prison: Attributors,
    community: Attributors,
    destination_la: str | None,
    community_la: str | None,
    model: MatchModel,
) -> Score:
    levels = {
        a: str(level) for a, level in levels_of(prison, community, destination_la, community_la).items()
    }
    weights = tuple(
        (attribute, _weight(model, attribute, level, prison)) for attribute, level in levels.items()
    )
    total = model.prior_weight + sum(w for _, w in weights)
    differences = tuple(
        Difference(attribute, level)
        for attribute, level in levels.items()
        if level not in ("equal", "unknown")
    )
    return Score(round(total, 6), _probability(total), differences, model.version, weights)


def _weight(model: MatchModel, attribute: str, level: str, prison: Attributors) -> float:
    fixed = model.fixed_weights.get((attribute, level))
    if fixed is not None:
        return fixed
    return math.log2(model.levels[attribute][level].m / _term_frequency_u(model, level, prison))


def _term_frequency_u(model: MatchModel, level: str, prison: Attributors) -> float:
    """The chance that an unrelated person agrees as these initials do (only initials are adjusted)."""
    first = model.first_share(prison.first_initial)
    second = model.second_share(prison.second_initial)
    if level == InitialsLevel.EQUAL:
        return first * second
    # One differs: the one that agrees, in its position, and the other not.
    return first * (1 - second) + second * (1 - first)


def _probability(weight: float) -> float:
    if weight > 60:
        return 1.0
    odds: float = 2.0**weight
    return odds / (1 + odds)
