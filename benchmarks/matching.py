"""Accuracy and cost of probable matching on a synthetic population with known truth.

    python -m benchmarks.matching [--people N] [--releases R] [--seed S]

No broker: the pure modules only. The population (default 50,000 people, 2,500 released)
draws initials from the model's letter frequencies, dates of birth over 45 years, sex 70 %
male, and one of 150 local authorities. Every person not released has a community triage
somewhere in the 200 days. Of those released, 60 % engage in the community within their
window; 15 % of those engagements were recorded with an attributor error of a known kind
(a nickname initial, one mistyped DOB digit, day and month swapped, the day one out),
so their client key differs from the prison record's: these are the true matches to find.
On top, for 10 % of releases an unrelated near-lookalike (one attributor apart: an initial,
initials swapped, a DOB digit, day and month swapped, the year off by one) living in another
local authority than the one released to is triaged in the window; none may reach `likely`.
Prints recall of true matches in `likely` and in `likely`+`possible`, the
precision of `likely`, candidates per 1,000 releases (reviewer workload), recall by error
kind, and the cost per record of indexing and searching next to the linker's own per-record
cost (`people.apply`) measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ndtms_contract.candidates import Band
from ndtms_contract.episodes import AcceptedEpisode, Setting
from services.linker.banding import Proposal, banded, proposal
from services.linker.candidates import CommunityFacts, CommunityIndex, ReleaseFacts, candidates_for
from services.linker.comparisons import Attributors
from services.linker.match_model import MatchModel, default_model
from services.linker.people import Person, Policy, apply

START = date(2026, 1, 1)
DAYS = 200
LAS = [f"E{n:08d}" for n in range(150)]
# Common nicknames that change an initial (Bob/Robert, Bill/William, Peggy/Margaret, ...).
NICKNAMES = {"R": "B", "W": "B", "M": "P", "E": "T", "J": "J", "A": "S", "H": "P", "K": "C", "C": "K"}
ERROR_KINDS = ("nickname_initial", "one_digit_dob", "day_month_swapped", "day_out")
LOOKALIKE_KINDS = ("initial_differs", "dob_one_digit", "initials_swapped", "day_month_swapped", "year_off")


@dataclass(frozen=True)
class Someone:
    key: str
    attributors: Attributors
    la: str


def _letter(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _person(rng: random.Random, model: MatchModel, key: str) -> Someone:
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(45 * 365))
    sex = "male" if rng.random() < 0.7 else "female"
    attributors = Attributors(
        _letter(rng, model.first_frequencies), _letter(rng, model.second_frequencies), born, sex
    )
    return Someone(key, attributors, rng.choice(LAS))


def _digit_changed(rng: random.Random, born: date) -> date:
    text = born.strftime("%Y%m%d")
    while True:
        position = rng.choice((2, 3, 4, 5, 6, 7))
        digit = str(rng.randrange(10))
        changed = text[:position] + digit + text[position + 1 :]
        try:
            candidate = date(int(changed[:4]), int(changed[4:6]), int(changed[6:]))
        except ValueError:
            continue
        if candidate != born:
            return candidate


def _with_error(rng: random.Random, a: Attributors, kind: str) -> Attributors:
    born = a.date_of_birth
    if kind in ("nickname_initial", "initial_differs"):
        other = NICKNAMES.get(a.first_initial) if kind == "nickname_initial" else None
        if other is None or other == a.first_initial:
            other = rng.choice([c for c in "ABCDEFGHIJKLMNOPRSTW" if c != a.first_initial])
        return Attributors(other, a.second_initial, born, a.sex)
    if kind == "initials_swapped" and a.first_initial != a.second_initial:
        return Attributors(a.second_initial, a.first_initial, born, a.sex)
    if kind == "day_month_swapped" and born.day <= 12 and born.day != born.month:
        return Attributors(a.first_initial, a.second_initial, date(born.year, born.day, born.month), a.sex)
    if kind == "year_off":
        shifted = born.year + rng.choice((-1, 1))
        day = min(born.day, 28) if (born.month, born.day) == (2, 29) else born.day
        return Attributors(a.first_initial, a.second_initial, date(shifted, born.month, day), a.sex)
    if kind == "day_out":
        return Attributors(
            a.first_initial, a.second_initial, born + timedelta(days=rng.choice((-1, 1))), a.sex
        )
    return Attributors(a.first_initial, a.second_initial, _digit_changed(rng, born), a.sex)


@dataclass
class Population:
    releases: list[ReleaseFacts]
    community: list[CommunityFacts]
    truth: dict[str, tuple[str, str]]  # transfer -> (community episode, error kind)
    exact_engaged: set[str]
    lookalikes: dict[str, tuple[str, str]]  # transfer -> (another person's episode, kind)


def population(people: int, released: int, seed: int, model: MatchModel) -> Population:
    rng = random.Random(seed)
    everyone = [_person(rng, model, f"k{n:07d}") for n in range(people)]
    releases, community, truth, exact = [], [], {}, set()
    lookalikes: dict[str, tuple[str, str]] = {}
    for n, who in enumerate(everyone[:released]):
        exit_date = START + timedelta(days=rng.randrange(DAYS - 30))
        destination = who.la if rng.random() < 0.8 else rng.choice(LAS)
        transfer = f"PRISON/R{n}"
        releases.append(ReleaseFacts(transfer, who.key, who.attributors, exit_date, destination))
        triage = exit_date + timedelta(days=rng.randrange(0, 21))
        if rng.random() < 0.6:
            la = destination if rng.random() < 0.7 else rng.choice(LAS)
            episode = f"CMTY/E{n}"
            if rng.random() < 0.15:
                kind = rng.choice(ERROR_KINDS)
                recorded = _with_error(rng, who.attributors, kind)
                key = f"{who.key}-x" if recorded != who.attributors else who.key
                community.append(
                    CommunityFacts(episode, key, recorded, la, triage, triage + timedelta(days=3))
                )
                if key != who.key:
                    truth[transfer] = (episode, kind)
                else:
                    exact.add(transfer)
            else:
                community.append(CommunityFacts(episode, who.key, who.attributors, la, triage, triage))
                exact.add(transfer)
        if rng.random() < 0.1:  # an unrelated near-lookalike triaged in the window
            kind = rng.choice(LOOKALIKE_KINDS)
            lookalike = _with_error(rng, who.attributors, kind)
            sex = lookalike.sex if rng.random() < 0.8 else ("female" if lookalike.sex == "male" else "male")
            lookalike = Attributors(
                lookalike.first_initial, lookalike.second_initial, lookalike.date_of_birth, sex
            )
            triaged = exit_date + timedelta(days=rng.randrange(0, 21))
            # Living in another area than the one released to: the look-alike that must not be likely.
            elsewhere = rng.choice([la for la in LAS if la != destination])
            community.append(
                CommunityFacts(f"CMTY/L{n}", f"lookalike{n}", lookalike, elsewhere, triaged, None)
            )
            lookalikes[transfer] = (f"CMTY/L{n}", kind)
    for who in everyone[released:]:
        triage = START + timedelta(days=rng.randrange(DAYS))
        community.append(CommunityFacts(f"CMTY/P{who.key}", who.key, who.attributors, who.la, triage, None))
    return Population(releases, community, truth, exact, lookalikes)


def linker_reference(count: int) -> float:
    """Seconds per record of the linker's own rule (`people.apply`), on community episodes."""
    records = [
        AcceptedEpisode(
            provider_id="CMTY",
            episode_id=f"E{n}",
            revision=1,
            client_key=f"{n:032x}",
            setting=Setting.COMMUNITY,
            triage_date=START + timedelta(days=n % DAYS),
            accepted_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for n in range(count)
    ]
    began = time.perf_counter()
    for record in records:
        apply(Person(record.client_key), record, START + timedelta(days=DAYS), Policy())
    return (time.perf_counter() - began) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--releases", type=int, default=2_500)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    model = default_model()
    made = population(args.people, args.releases, args.seed, model)

    began = time.perf_counter()
    index = CommunityIndex()
    for facts in made.community:
        index.add(facts)
    indexed = time.perf_counter() - began
    searched_releases = [r for r in made.releases if r.transfer_id not in made.exact_engaged]
    began = time.perf_counter()
    found = [c for r in searched_releases for c in candidates_for(r, index, model.with_bands(0.9, 0.01))]
    searched = time.perf_counter() - began
    true_pairs = {(t, e) for t, (e, _) in made.truth.items()}
    print(f"model: {model.version}")
    print(
        f"population: {args.people:,} people, {len(made.releases):,} releases, "
        f"{len(made.community):,} community episodes; {len(made.truth)} true matches with mismatched "
        "attributors; "
        f"{len(searched_releases):,} releases searched (not engaged by an exact client key)"
    )
    print(
        "bands (likely, possible) | recall likely | recall likely+possible | precision likely | "
        "candidates/1,000 releases"
    )
    for likely, possible in dict.fromkeys(
        ((model.likely, model.possible), (0.9, 0.3), (0.9, 0.2), (0.9, 0.1), (0.95, 0.1), (0.95, 0.3))
    ):
        banding = model.with_bands(likely, possible)
        bands = banded((proposal(c.transfer_id, c.episode, c.score) for c in found), banding)
        likely_pairs = {pair for pair, band in bands.items() if band is Band.LIKELY}
        precision = len(true_pairs & likely_pairs) / len(likely_pairs) if likely_pairs else float("nan")
        default = "  (the model's default)" if (likely, possible) == (model.likely, model.possible) else ""
        print(
            f"({likely}, {possible}) | {len(true_pairs & likely_pairs) / len(true_pairs):.1%} | "
            f"{len(true_pairs & set(bands)) / len(true_pairs):.1%} | "
            f"{precision:.1%} of {len(likely_pairs)} | "
            f"{1000 * len(bands) / len(made.releases):.0f}{default}"
        )
    print("targets: recall likely+possible >= 90 %, precision likely >= 99 %")
    for likely, possible in ((model.likely, model.possible), (0.9, 0.3)):
        # The same bands without the rule that keeps another area's episodes out of `likely`.
        plain = banded(
            (Proposal(c.transfer_id, c.episode, c.score.probability) for c in found),
            model.with_bands(likely, possible),
        )
        right = {pair for pair, band in plain.items() if band is Band.LIKELY}
        print(
            f"  without the another-area rule at ({likely}, {possible}): precision likely "
            f"{len(true_pairs & right) / len(right):.1%} of {len(right)}"
        )
    bands = banded((proposal(c.transfer_id, c.episode, c.score) for c in found), model)
    for kind in LOOKALIKE_KINDS:
        placed = [bands.get((t, e)) for t, (e, k) in made.lookalikes.items() if k == kind]
        print(
            f"  look-alikes in another area, {kind}: {len(placed)}; likely {placed.count(Band.LIKELY)}, "
            f"possible {placed.count(Band.POSSIBLE)}"
        )
    kinds = Counter(kind for _, kind in made.truth.values())
    for kind in ERROR_KINDS:
        hits = sum(1 for t, (e, k) in made.truth.items() if k == kind and (t, e) in bands)
        print(f"  recall at the default bands, {kind}: {hits}/{kinds[kind]}")
    reference = linker_reference(20_000)
    per_community = indexed / len(made.community)
    per_release = searched / len(searched_releases)
    print(
        f"cost: index a community episode {per_community * 1e6:.1f} µs; "
        f"search one release {per_release * 1e6:.1f} µs"
    )
    print(f"reference, the linker's rule (people.apply) per record: {reference * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
