"""The probable-match model: m and u per comparison level, the prior, the bands, initial frequencies.

Read from a checked-in, versioned file (`models/match-model-v1.toml`) in which every figure
carries its reason; loading refuses a file with a level missing, a figure out of range or a
figure without a reason.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import resources
from typing import Any

from services.linker.comparisons import BirthLevel, InitialsLevel, PlaceLevel, SexLevel

TERM_FREQUENCY = "term frequency"
DEFAULT_MODEL = "match-model-v1.toml"
# Every attribute the model compares, with its levels.
ATTRIBUTES: dict[str, type[StrEnum]] = {
    "initials": InitialsLevel,
    "date_of_birth": BirthLevel,
    "sex": SexLevel,
    "local_authority": PlaceLevel,
}


class BadModel(ValueError):
    """The model file is incomplete or says something impossible."""


@dataclass(frozen=True)
class Level:
    m: float
    u: float | None  # None: the term-frequency adjusted u of the values compared


@dataclass(frozen=True)
class MatchModel:
    version: str
    prior: float  # lambda: the share of compared pairs that are the same person
    likely: float
    possible: float
    levels: dict[str, dict[str, Level]]
    first_frequencies: dict[str, float]
    second_frequencies: dict[str, float]

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    @property
    def fixed_weights(self) -> dict[tuple[str, str], float]:
        """log2(m / u) of every level whose u does not depend on the values (computed once)."""
        held: dict[tuple[str, str], float] | None = self.__dict__.get("_fixed_weights")
        if held is None:
            held = {
                (attribute, kind): math.log2(level.m / level.u)
                for attribute, kinds in self.levels.items()
                for kind, level in kinds.items()
                if level.u is not None
            }
            object.__setattr__(self, "_fixed_weights", held)
        return held

    def with_bands(self, likely: float, possible: float) -> MatchModel:
        if not 0 < possible <= likely < 1:
            raise BadModel(f"bands must satisfy 0 < possible ({possible}) <= likely ({likely}) < 1")
        return replace(self, likely=likely, possible=possible)

    def first_share(self, initial: str) -> float:
        return _share(self.first_frequencies, initial)

    def second_share(self, initial: str) -> float:
        return _share(self.second_frequencies, initial)


def _share(frequencies: dict[str, float], initial: str) -> float:
    # An initial outside A-Z (rare in practice) counts as the rarest letter.
    return frequencies.get(initial[:1], min(frequencies.values()))


def model_from_toml(text: str) -> MatchModel:
    data = tomllib.loads(text)
    try:
        levels = {
            attribute: _levels(attribute, kinds, data[attribute]) for attribute, kinds in ATTRIBUTES.items()
        }
        prior = _probability(data["prior"]["lambda"], "prior.lambda")
        _reason(data["prior"], "reason", "prior")
        for band in ("likely", "possible"):
            _reason(data["bands"], f"{band}_reason", f"bands.{band}")
        frequencies = data["frequencies"]
        _reason(frequencies, "reason", "frequencies")
        first, second = _normalised(frequencies["first"]), _normalised(frequencies["second"])
        model = MatchModel(
            version=str(data["version"]),
            prior=prior,
            likely=0.5,
            possible=0.5,
            levels=levels,
            first_frequencies=first,
            second_frequencies=second,
        )
        return model.with_bands(float(data["bands"]["likely"]), float(data["bands"]["possible"]))
    except KeyError as exc:
        raise BadModel(f"the model file has no {exc.args[0]!r}") from None


def _levels(attribute: str, kinds: type[StrEnum], table: dict[str, Any]) -> dict[str, Level]:
    found: dict[str, Level] = {}
    for kind in kinds:
        entry = table[kind.value]
        where = f"{attribute}.{kind.value}"
        for reason in ("m_reason", "u_reason"):
            _reason(entry, reason, where)
        u = entry["u"]
        found[kind.value] = Level(
            _probability(entry["m"], f"{where}.m"),
            None if u == TERM_FREQUENCY else _probability(u, f"{where}.u"),
        )
    return found


def _probability(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or not 0 < value <= 1:
        raise BadModel(f"{where} must be a probability above 0 and at most 1, not {value!r}")
    return float(value)


def _reason(table: dict[str, Any], key: str, where: str) -> None:
    if not str(table.get(key, "")).strip():
        raise BadModel(f"{where} has no {key}: every figure says why")


def _normalised(shares: dict[str, Any]) -> dict[str, float]:
    total = sum(float(v) for v in shares.values())
    return {letter.upper(): float(v) / total for letter, v in shares.items()}


def default_model() -> MatchModel:
    text = resources.files("services.linker").joinpath("models", DEFAULT_MODEL).read_text(encoding="utf-8")
    return model_from_toml(text)
