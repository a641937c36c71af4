"""Probable matches: comparison levels at their boundaries, Fellegi-Sunter scores, bands, candidates."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pytest

from ndtms_contract.candidates import Band
from services.linker.banding import Proposal, band_of, banded, proposal
from services.linker.candidates import CommunityFacts, CommunityIndex, ReleaseFacts, candidates_for
from services.linker.comparisons import (
    Attributors,
    BirthLevel,
    InitialsLevel,
    PlaceLevel,
    SexLevel,
    birth,
    initials,
    place,
    sex,
)
from services.linker.match_model import BadModel, default_model, model_from_toml
from services.linker.scoring import score
from services.linker.settings import LinkerSettings

MODEL = default_model()
BORN = date(1985, 3, 2)


def who(first: str = "J", second: str = "S", born: date = BORN, sex_: str = "male") -> Attributors:
    return Attributors.of(first, second, born, sex_)


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (("J", "S"), ("J", "S"), InitialsLevel.EQUAL),
        ((" j", "s "), ("J", "S"), InitialsLevel.EQUAL),  # normalised as the client key is
        (("J", "S"), ("S", "J"), InitialsLevel.SWAPPED),
        (("J", "S"), ("R", "S"), InitialsLevel.ONE_DIFFERS),
        (("J", "S"), ("J", "T"), InitialsLevel.ONE_DIFFERS),
        (("J", "S"), ("S", "S"), InitialsLevel.ONE_DIFFERS),  # not a swap: only one moved
        (("J", "S"), ("R", "T"), InitialsLevel.BOTH_DIFFER),
        (("J", "J"), ("J", "J"), InitialsLevel.EQUAL),
    ],
)
def test_initials_levels(a: tuple[str, str], b: tuple[str, str], level: InitialsLevel) -> None:
    assert initials(who(*a), who(*b)) is level


@pytest.mark.parametrize(
    ("other", "level"),
    [
        (date(1985, 3, 2), BirthLevel.EQUAL),
        (date(1985, 2, 3), BirthLevel.DAY_MONTH_TRANSPOSED),
        (date(1985, 3, 3), BirthLevel.ONE_EDIT),  # one digit: 02 -> 03
        (date(1985, 3, 20), BirthLevel.ONE_EDIT),  # adjacent digits swapped: 02 -> 20
        (date(1975, 3, 2), BirthLevel.ONE_EDIT),  # year off by ten is also one digit
        (date(1985, 3, 12), BirthLevel.ONE_EDIT),
        (date(1985, 3, 13), BirthLevel.DIFFERENT),  # two digits
        (date(1986, 3, 2), BirthLevel.ONE_EDIT),
        (date(1985, 3, 1), BirthLevel.ONE_EDIT),
        (date(1985, 2, 28), BirthLevel.DIFFERENT),  # one day out, across a month: three digits
        (date(1985, 4, 2), BirthLevel.ONE_EDIT),
        (date(1994, 3, 2), BirthLevel.DIFFERENT),  # nine years: two digits, not 1 or 10
    ],
)
def test_date_of_birth_levels(other: date, level: BirthLevel) -> None:
    assert birth(BORN, other) is level
    assert birth(other, BORN) is level  # symmetric


def test_a_year_off_by_one_or_ten_that_is_not_one_edit() -> None:
    assert birth(date(1989, 12, 31), date(1990, 12, 31)) is BirthLevel.YEAR_OFF  # 1989 -> 1990: 3 digits
    assert birth(date(1999, 5, 6), date(2009, 5, 6)) is BirthLevel.YEAR_OFF  # 1999 -> 2009: 2 digits
    assert birth(date(1999, 5, 6), date(2001, 5, 6)) is BirthLevel.DIFFERENT  # off by 2
    # Day and month transposed only when both are valid months; 12 and 13 are not.
    assert birth(date(1985, 12, 13), date(1985, 12, 13)) is BirthLevel.EQUAL
    assert birth(date(1985, 5, 5), date(1985, 5, 5)) is BirthLevel.EQUAL


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("male", "male", SexLevel.EQUAL),
        ("male", "female", SexLevel.DIFFERS),
        ("not_known", "female", SexLevel.NOT_KNOWN),
        ("male", "not_known", SexLevel.NOT_KNOWN),
        ("other", "other", SexLevel.EQUAL),
    ],
)
def test_sex_levels(a: str, b: str, level: SexLevel) -> None:
    assert sex(a, b) is level


@pytest.mark.parametrize(
    ("destination", "community", "level"),
    [
        ("E09000033", "e09000033", PlaceLevel.EQUAL),
        ("E09000033", "E08000025", PlaceLevel.DIFFERS),
        (None, "E08000025", PlaceLevel.UNKNOWN),
        ("E09000033", None, PlaceLevel.UNKNOWN),
    ],
)
def test_local_authority_levels(destination: str | None, community: str | None, level: PlaceLevel) -> None:
    assert place(destination, community) is level


def weight(prison: Attributors, community: Attributors, la: str | None = "E1") -> float:
    return score(prison, community, "E1", la, MODEL).match_weight


def test_each_attribute_adds_its_weight_and_the_probability_follows() -> None:
    scored = score(who(), who(born=date(1985, 2, 3)), "E1", "E1", MODEL)
    weights = dict(scored.weights)
    assert set(weights) == {"initials", "date_of_birth", "sex", "local_authority"}
    assert scored.match_weight == pytest.approx(MODEL.prior_weight + sum(weights.values()), abs=1e-6)
    assert scored.probability == pytest.approx(2**scored.match_weight / (1 + 2**scored.match_weight))
    dob = MODEL.levels["date_of_birth"]["day_month_transposed"]
    assert weights["date_of_birth"] == pytest.approx(math.log2(dob.m / (dob.u or 1)))
    assert [(d.attribute, d.kind) for d in scored.differences] == [("date_of_birth", "day_month_transposed")]


def test_a_shared_rare_initial_says_more_than_a_shared_common_one() -> None:
    common = weight(who("J", "S"), who("J", "S", born=date(1985, 3, 3)))
    rare = weight(who("X", "Q"), who("X", "Q", born=date(1985, 3, 3)))
    assert rare > common + 8
    one_common = weight(who("J", "S"), who("R", "S"))
    one_rare = weight(who("J", "Q"), who("R", "Q"))
    assert one_rare > one_common


def test_the_levels_order_the_evidence() -> None:
    base = who()
    dobs = [BORN, date(1985, 2, 3), date(1985, 3, 3), date(1995, 3, 2) - timedelta(days=0), date(1970, 7, 7)]
    weights = [weight(base, who(born=d)) for d in dobs]
    assert weights[0] > weights[1] > weights[3] and weights[2] > weights[4]
    swapped, one, both = weight(base, who("S", "J")), weight(base, who("R", "S")), weight(base, who("R", "T"))
    assert swapped > both and one > both
    assert weight(base, who(sex_="female")) < weight(base, who(sex_="not_known")) < weight(base, who())
    # The local authority is evidence, never a requirement: a different one costs less than a
    # wrong date of birth, and an unknown one nothing.
    assert weight(base, who(), la="E2") < weight(base, who(), la=None) < weight(base, who(), la="E1")


def test_the_same_input_gives_the_same_weight_and_model_version() -> None:
    again = default_model()
    first = score(who(), who("R", "S", date(1985, 3, 3)), "E1", "E2", MODEL)
    second = score(who(), who("R", "S", date(1985, 3, 3)), "E1", "E2", again)
    assert first == second and first.model_version == "match-model-v1"


def test_differences_name_kinds_never_values() -> None:
    scored = score(who(), who("S", "J", date(1985, 2, 3), "not_known"), "E1", "E2", MODEL)
    text = repr(scored.differences)
    assert "1985" not in text and "'J'" not in text
    assert {(d.attribute, d.kind) for d in scored.differences} == {
        ("initials", "swapped"),
        ("date_of_birth", "day_month_transposed"),
        ("sex", "not_known"),
        ("local_authority", "differs"),
    }


@pytest.mark.parametrize(
    ("probability", "elsewhere", "band"),
    [
        (0.999, False, Band.LIKELY),
        (0.95, False, Band.LIKELY),
        (0.9499, False, Band.POSSIBLE),
        (0.1, False, Band.POSSIBLE),
        (0.0999, False, None),
        # Another area than the destination: never more than possible, however high the score.
        (0.999, True, Band.POSSIBLE),
        (0.95, True, Band.POSSIBLE),
        (0.1, True, Band.POSSIBLE),
        (0.0999, True, None),
    ],
)
def test_bands_at_their_boundaries(probability: float, elsewhere: bool, band: Band | None) -> None:
    assert band_of(probability, MODEL, elsewhere) is band


def test_the_default_bands_are_the_linkers() -> None:
    settings = LinkerSettings()
    assert (MODEL.likely, MODEL.possible) == (0.95, 0.1)
    assert (settings.linker_match_likely, settings.linker_match_possible) == (MODEL.likely, MODEL.possible)


@pytest.mark.parametrize(
    ("destination", "community_la", "band"),
    [("E1", "E1", Band.LIKELY), ("E1", "E2", Band.POSSIBLE), (None, "E2", Band.LIKELY)],
)
def test_a_look_alike_in_another_area_is_not_likely(
    destination: str | None, community_la: str | None, band: Band
) -> None:
    # Rare initials and a year off by one: a score near certainty, from attributors alone.
    prison = Attributors("X", "Q", date(1980, 5, 17), "male")
    community = Attributors("X", "Q", date(1981, 5, 17), "male")
    scored = score(prison, community, destination, community_la, MODEL)
    assert banded([proposal("P/1", "C/1", scored)], MODEL) == {("P/1", "C/1"): band}


def test_bands_are_configurable_and_checked() -> None:
    loose = MODEL.with_bands(0.9, 0.3)
    assert band_of(0.92, loose) is Band.LIKELY and band_of(0.12, loose) is None
    with pytest.raises(BadModel):
        MODEL.with_bands(0.3, 0.9)


def test_ambiguity_makes_every_candidate_possible() -> None:
    proposals = [
        Proposal("P/1", "C/1", 0.99),  # one of two for P/1
        Proposal("P/1", "C/2", 0.95),
        Proposal("P/2", "C/3", 0.97),  # C/3 proposed for two transfers
        Proposal("P/3", "C/3", 0.5),
        Proposal("P/4", "C/4", 0.99),  # alone on both sides
        Proposal("P/5", "C/5", 0.05),  # not proposed at all
        Proposal("P/4", "C/6", 0.09),  # below possible: does not make P/4 ambiguous
    ]
    assert banded(proposals, MODEL) == {
        ("P/1", "C/1"): Band.POSSIBLE,
        ("P/1", "C/2"): Band.POSSIBLE,
        ("P/2", "C/3"): Band.POSSIBLE,
        ("P/3", "C/3"): Band.POSSIBLE,
        ("P/4", "C/4"): Band.LIKELY,
    }


EXIT = date(2026, 3, 1)
RELEASE = ReleaseFacts("PRISON/1", "k-prison", who("X", "Q"), EXIT, "E1")


def community(
    episode: str,
    attributors: Attributors,
    triage: date | None,
    key: str = "k-other",
    start: date | None = None,
) -> CommunityFacts:
    return CommunityFacts(episode, key, attributors, "E1", triage, start)


def test_candidates_are_other_peoples_episodes_in_the_window_scored_at_least_possible() -> None:
    index = CommunityIndex()
    close = who("X", "Q", date(1985, 2, 3))
    for facts in (
        community("C/first-day", close, EXIT),
        community("C/last-day", close, EXIT + timedelta(days=21)),
        community("C/started-in-window", close, EXIT - timedelta(days=30), start=EXIT + timedelta(days=5)),
        community("C/day-before", close, EXIT - timedelta(days=1)),
        community("C/day-after-window", close, EXIT + timedelta(days=22)),
        community("C/same-person", close, EXIT + timedelta(days=2), key="k-prison"),
        community("C/unlike", who("A", "B", date(1960, 1, 1)), EXIT + timedelta(days=3)),
        community("C/rejected", close, EXIT + timedelta(days=4)),
    ):
        index.add(facts)
    found = {c.episode for c in candidates_for(RELEASE, index, MODEL, rejected={"C/rejected"})}
    assert found == {"C/first-day", "C/last-day", "C/started-in-window"}
    with_grace = {
        c.episode for c in candidates_for(RELEASE, index, MODEL, grace_days=1, rejected={"C/rejected"})
    }
    assert with_grace == found | {"C/day-after-window"}


def test_blocking_finds_a_record_with_one_attributor_wrong_and_forgets_a_removed_one() -> None:
    index = CommunityIndex()
    index.add(community("C/initials-wrong", who("R", "Q", RELEASE.attributors.date_of_birth), EXIT))
    index.add(community("C/date-wrong", who("X", "Q", date(1985, 2, 3)), EXIT + timedelta(days=10)))
    index.add(
        community("C/swapped", who("Q", "X", RELEASE.attributors.date_of_birth), EXIT + timedelta(days=3))
    )
    found = [c.episode for c in candidates_for(RELEASE, index, MODEL)]
    assert sorted(found) == ["C/date-wrong", "C/initials-wrong", "C/swapped"]
    index.remove("C/date-wrong")
    assert "C/date-wrong" not in {c.episode for c in candidates_for(RELEASE, index, MODEL)}


MODEL_FILE = Path(__file__).resolve().parents[2] / "services" / "linker" / "models" / "match-model-v1.toml"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ('m_reason = "US-style entry (MM/DD) of a day of 12 or less"', 'm_reason = ""'),
            "every figure says why",
        ),
        (("[sex.not_known]", "[sex.unknown_level]"), "not_known"),
        (("lambda = 0.000115", "lambda = 1.5"), "prior.lambda"),
        (("likely = 0.95\n", "likely = 0.05\n"), "bands"),
    ],
)
def test_the_model_file_must_be_complete_and_explained(change: tuple[str, str], problem: str) -> None:
    text = MODEL_FILE.read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(BadModel, match=problem):
        model_from_toml(text.replace(change[0], change[1], 1))


def test_the_checked_in_model_loads_with_every_level_explained() -> None:
    model = model_from_toml(MODEL_FILE.read_text(encoding="utf-8"))
    assert model == MODEL
    assert math.isclose(sum(model.first_frequencies.values()), 1.0)
    assert (model.likely, model.possible) == (0.95, 0.1)
    for attribute, levels in model.levels.items():
        assert (
            math.isclose(sum(level.m for level in levels.values()), 1.0, abs_tol=0.011)
            or attribute == "local_authority"
        )
