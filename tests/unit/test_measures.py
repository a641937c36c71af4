"""The treatment measures' definitions at every boundary, on plain spans and an explicit period."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from ndtms_apps.cli.measures import COLUMNS, table
from ndtms_contract.episodes import DischargeReason, Setting
from ndtms_contract.periods import Period, year_to
from services.journey.disclosure import controlled, published_json, row_json
from services.journey.journeys import EpisodeSpan, InterventionSpan, journeys_of
from services.journey.measures import (
    Breakdown,
    MeasureRow,
    Ratio,
    Waits,
    facts_of,
    measures,
    period_of,
    waits_of,
)

TO = date(2026, 6, 30)
PERIOD = Period(date(2026, 1, 1), TO)
COMPLETED = DischargeReason.TREATMENT_COMPLETED_DRUG_FREE  # 80
DROPPED_OUT = DischargeReason.INCOMPLETE_DROPPED_OUT  # 85
TRANSFERRED = DischargeReason.TRANSFERRED_NOT_IN_CUSTODY  # 83: neither


def span(
    episode: str = "E1",
    referral: date = date(2026, 2, 1),
    structured: tuple[tuple[date, date | None], ...] = (),
    discharge: date | None = None,
    reason: DischargeReason | None = None,
    provider: str = "P1",
    la: str = "E09000001",
    setting: Setting = Setting.COMMUNITY,
) -> EpisodeSpan:
    return EpisodeSpan(
        provider_id=provider,
        episode_id=episode,
        setting=setting,
        referral_date=referral,
        first_intervention_start=min((s for s, _ in structured), default=None),
        discharge_date=discharge,
        discharge_reason=reason,
        local_authority=la,
        structured=tuple(InterventionSpan(s, e) for s, e in structured),
    )


def national(*people: list[EpisodeSpan], period: Period = PERIOD) -> MeasureRow:
    facts = [facts_of(f"k{n}", spans) for n, spans in enumerate(people)]
    [row] = measures(facts, period)
    return row


D = date(2026, 2, 1)


# --- waits -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "within"),
    [(D + timedelta(days=21), 1), (D + timedelta(days=22), 0), (D, 1)],
)
def test_a_wait_of_21_days_is_within_and_22_is_not(start: date, within: int) -> None:
    row = national([span(referral=D, structured=((start, None),))])
    assert row.waits == Waits(1, float((start - D).days), within)


@pytest.mark.parametrize(
    ("first_start", "counted"),
    [
        (PERIOD.start, True),
        (PERIOD.end, True),
        (PERIOD.start - timedelta(days=1), False),
        (TO + timedelta(days=1), False),
    ],
)
def test_a_wait_counts_when_the_first_structured_start_is_in_the_period(
    first_start: date, counted: bool
) -> None:
    referral = first_start - timedelta(days=10)
    later = first_start + timedelta(days=5)
    row = national([span(referral=referral, structured=((later, None), (first_start, None)))])
    assert row.waits.count == int(counted)


def test_the_median_of_an_even_count_is_halfway() -> None:
    assert waits_of({3: 1, 10: 1}) == Waits(2, 6.5, 2)
    assert waits_of({3: 2, 30: 1}) == Waits(3, 3.0, 2)
    assert waits_of({}) == Waits(0, None, 0)


@pytest.mark.parametrize(
    ("referral", "structured", "discharge", "waiting"),
    [
        (TO - timedelta(days=22), (), None, 1),  # more than 21 days
        (TO - timedelta(days=21), (), None, 0),  # exactly 21: not yet over
        (TO - timedelta(days=40), (), TO, 0),  # discharged on `to`: not open
        (TO - timedelta(days=40), (), TO + timedelta(days=1), 1),  # discharged after `to`: open then
        (TO - timedelta(days=40), ((TO, None),), None, 0),  # started on `to`
        (TO - timedelta(days=40), ((TO + timedelta(days=1), None),), None, 1),  # started after `to`
    ],
)
def test_waiting_now_over_21_days(
    referral: date, structured: tuple[tuple[date, date | None], ...], discharge: date | None, waiting: int
) -> None:
    row = national([span(referral=referral, structured=structured, discharge=discharge)])
    assert row.waiting_now_over_21_days == waiting


# --- in treatment --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("structured", "discharge", "counted"),
    [
        (((PERIOD.start - timedelta(days=30), PERIOD.start),), None, 1),  # ends on the first day
        (((PERIOD.start - timedelta(days=30), PERIOD.start - timedelta(days=1)),), None, 0),
        (((TO, None),), None, 1),  # starts on the last day
        (((TO + timedelta(days=1), None),), None, 0),
        (((PERIOD.start - timedelta(days=90), None),), None, 1),  # open
        # No end of its own: it ends with the episode's discharge.
        (((PERIOD.start - timedelta(days=90), None),), PERIOD.start - timedelta(days=1), 0),
        (((PERIOD.start - timedelta(days=90), None),), PERIOD.start, 1),
    ],
)
def test_in_treatment_overlaps_at_both_ends(
    structured: tuple[tuple[date, date | None], ...], discharge: date | None, counted: int
) -> None:
    referral = min(s for s, _ in structured) - timedelta(days=5)
    row = national([span(referral=referral, structured=structured, discharge=discharge)])
    assert row.in_treatment == counted


def test_recovery_support_alone_is_not_structured_treatment() -> None:
    # records.span_of keeps only pharmacological and psychosocial interventions as structured.
    row = national([span(referral=D)])
    assert (row.in_treatment, row.waits.count, row.new_presentations) == (0, 0, 0)


def test_a_person_at_two_providers_counts_once_nationally_and_once_at_each() -> None:
    person = [
        span("E1", D, ((D + timedelta(days=3), None),), provider="P1", la="E1"),
        span("E2", D + timedelta(days=10), ((D + timedelta(days=12), None),), provider="P2", la="E2"),
    ]
    facts = [facts_of("k", person)]
    by_provider = {r.group: r.in_treatment for r in measures(facts, PERIOD, Breakdown.PROVIDER)}
    assert by_provider == {None: 1, "P1": 1, "P2": 1}
    # By local authority: the client's on their latest such episode (E2, referred later).
    by_la = {r.group: r.in_treatment for r in measures(facts, PERIOD, Breakdown.LA)}
    assert by_la == {None: 1, "E1": 0, "E2": 1}  # E1 has a row for its episode's wait


def test_prison_episodes_are_not_counted() -> None:
    row = national([span(setting=Setting.SECURE, structured=((D, None),))])
    assert row == MeasureRow("national", None)


# --- journeys: presentations, retention, exits ---------------------------------------------
S = date(2026, 3, 1)


@pytest.mark.parametrize(
    ("start", "cohort"),
    [(TO - timedelta(days=84), 1), (TO - timedelta(days=83), 0)],
)
def test_the_retention_cohort_starts_at_least_84_days_before_to(start: date, cohort: int) -> None:
    row = national([span(referral=start - timedelta(days=7), structured=((start, None),))])
    assert row.new_presentations == 1
    assert row.retained_12_weeks == Ratio(cohort, cohort)  # open at `to`: retained


@pytest.mark.parametrize(
    ("days", "reason", "retained", "early"),
    [
        (83, DROPPED_OUT, 0, 1),
        (84, DROPPED_OUT, 1, 0),
        (83, COMPLETED, 1, 0),  # a completion on day 83 is retained
        (83, TRANSFERRED, 0, 0),  # neither completed nor unplanned
    ],
)
def test_retained_12_weeks_and_early_unplanned_exits(
    days: int, reason: DischargeReason, retained: int, early: int
) -> None:
    ended = S + timedelta(days=days)
    row = national(
        [span(referral=S - timedelta(days=7), structured=((S, None),), discharge=ended, reason=reason)]
    )
    assert row.retained_12_weeks == Ratio(retained, 1)
    assert row.early_unplanned_exits == early
    assert row.unplanned_exits == int(reason is DROPPED_OUT)
    assert row.successful_completions == int(reason is COMPLETED)


def test_a_journeys_structured_start_is_its_earliest_structured_intervention() -> None:
    # Two episodes of one journey; the second's intervention is the first structured one.
    person = [
        span("E1", date(2025, 11, 1), (), discharge=date(2025, 12, 20), reason=TRANSFERRED),
        span("E2", date(2025, 12, 25), ((date(2026, 1, 2), None),)),
    ]
    assert national(person).new_presentations == 1
    before = Period(date(2025, 1, 1), date(2025, 12, 31))
    assert national(person, period=before).new_presentations == 0


@pytest.mark.parametrize(
    ("gap", "represented", "window_open"),
    [(183, 1, 0), (184, 0, 0)],
)
def test_a_representation_on_day_183_counts_and_184_does_not(
    gap: int, represented: int, window_open: int
) -> None:
    ended = date(2025, 10, 1)
    person = [
        span("E1", date(2025, 6, 1), ((date(2025, 6, 5), None),), discharge=ended, reason=COMPLETED),
        span("E2", ended + timedelta(days=gap - 5), ((ended + timedelta(days=gap), None),)),
    ]
    row = national(person, period=Period(date(2025, 7, 1), date(2026, 6, 30)))
    assert row.successful_completions == 1
    assert (row.representations_6_months, row.representations_window_open) == (represented, window_open)


@pytest.mark.parametrize(
    ("days_before_to", "window_open"),
    [(182, 1), (183, 0)],
)
def test_the_representation_window_open_when_to_cuts_the_6_months_short(
    days_before_to: int, window_open: int
) -> None:
    ended = TO - timedelta(days=days_before_to)
    person = [span("E1", date(2025, 8, 1), ((date(2025, 8, 5), None),), discharge=ended, reason=COMPLETED)]
    row = national(person, period=Period(date(2025, 7, 1), TO))
    assert (row.successful_completions, row.representations_6_months) == (1, 0)
    assert row.representations_window_open == window_open


def test_a_representation_after_to_is_not_known_yet() -> None:
    ended = TO - timedelta(days=60)
    person = [
        span("E1", date(2025, 12, 1), ((date(2025, 12, 5), None),), discharge=ended, reason=COMPLETED),
        span("E2", TO + timedelta(days=5), ((TO + timedelta(days=10), None),)),
    ]
    row = national(person)
    assert (row.representations_6_months, row.representations_window_open) == (0, 1)


@pytest.mark.parametrize(
    ("discharge", "counted"),
    [(PERIOD.start, 1), (TO, 1), (PERIOD.start - timedelta(days=1), 0), (TO + timedelta(days=1), 0)],
)
def test_exits_count_when_the_last_discharge_is_in_the_period(discharge: date, counted: int) -> None:
    person = [
        span("E1", date(2025, 9, 1), ((date(2025, 9, 3), None),), discharge=discharge, reason=DROPPED_OUT)
    ]
    assert national(person).unplanned_exits == counted


def test_a_journey_with_an_open_episode_has_not_exited() -> None:
    person = [
        span(
            "E1", date(2026, 1, 5), ((date(2026, 1, 6), None),), discharge=date(2026, 3, 1), reason=COMPLETED
        ),
        span("E2", date(2026, 2, 1), ((date(2026, 2, 2), None),), provider="P2"),  # same journey, open
    ]
    row = national(person)
    assert (row.successful_completions, row.unplanned_exits) == (0, 0)


def test_journey_measures_go_to_the_provider_of_the_last_episode() -> None:
    person = [
        span(
            "E1",
            date(2026, 1, 5),
            ((date(2026, 1, 6), None),),
            discharge=date(2026, 2, 1),
            reason=TRANSFERRED,
            provider="P1",
        ),
        span(
            "E2",
            date(2026, 2, 3),
            ((date(2026, 2, 4), None),),
            discharge=date(2026, 5, 1),
            reason=COMPLETED,
            provider="P2",
        ),
    ]
    rows = {r.group: r for r in measures([facts_of("k", person)], PERIOD, Breakdown.PROVIDER)}
    assert rows["P2"].successful_completions == 1 and rows["P2"].new_presentations == 1
    assert rows["P1"].successful_completions == 0 and rows["P1"].new_presentations == 0
    assert rows["P1"].waits.count == 1 and rows["P2"].waits.count == 1  # episode measures: each its own


def test_corrections_and_withdrawals_change_the_figures() -> None:
    episode = span("E1", D, ((D + timedelta(days=30), None),))
    assert national([episode]).waits == Waits(1, 30.0, 0)
    corrected = span("E1", D, ((D + timedelta(days=14), None),))
    assert national([corrected]).waits == Waits(1, 14.0, 1)
    assert national([]) == MeasureRow("national", None)  # withdrawn: nothing of it is left


@pytest.mark.parametrize(
    ("today", "start"),
    [
        (date(2026, 6, 30), date(2025, 7, 1)),
        (date(2028, 2, 29), date(2027, 3, 1)),
        (date(2026, 1, 1), date(2025, 1, 2)),
    ],
)
def test_the_default_period_is_the_12_months_ending_today(today: date, start: date) -> None:
    assert year_to(today) == Period(start, today)


def test_a_period_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="starts"):
        Period(date(2026, 2, 1), date(2026, 1, 31))


# --- disclosure control (--published) ------------------------------------------------------
@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "<5"), (4, "<5"), (5, 5), (7, 5), (8, 10), (12, 10), (13, 15), (102, 100), (103, 105)],
)
def test_small_counts_are_hidden_and_others_rounded_to_5(count: int, shown: int | str) -> None:
    assert controlled(count) == shown


def test_percentages_come_from_the_exact_counts_before_rounding() -> None:
    row = MeasureRow(
        "national", None, in_treatment=13, waits=Waits(7, 12.0, 6), retained_12_weeks=Ratio(3, 4)
    )
    shown = published_json(row)
    assert shown["in_treatment"] == 15
    assert shown["waits"] == {
        "count": 5,
        "median_days": 12.0,
        "within_21_days": 5,
        "within_21_days_percent": 85.7,
    }
    # A denominator under 5: neither the counts nor the share are shown.
    assert shown["retained_12_weeks"] == {"numerator": "<5", "denominator": "<5", "percent": None}
    assert (
        published_json(MeasureRow("national", None, waits=Waits(3, 9.0, 3)))["waits"]["median_days"] is None
    )
    assert row_json(row)["waits"] == {"count": 7, "median_days": 12.0, "within_21_days": 6}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, Period(date(2025, 7, 1), TO)),  # the 12 months ending today
        (None, date(2025, 12, 31), Period(date(2025, 1, 1), date(2025, 12, 31))),
        (date(2026, 6, 1), None, Period(date(2026, 6, 1), TO)),
        (TO, TO, Period(TO, TO)),  # one day
    ],
)
def test_the_period_asked_for(start: date | None, end: date | None, expected: Period) -> None:
    assert period_of(start, end, TO) == expected


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [
        (TO + timedelta(days=1), TO, "after"),
        (date(1899, 12, 31), TO, "1900"),
        (None, date(1066, 10, 14), "1900"),
    ],
)
def test_periods_that_are_refused(start: date | None, end: date | None, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        period_of(start, end, TO)


def test_the_commands_table_is_headed_by_the_json_names_and_shows_every_row() -> None:
    rows = measures(
        [facts_of("k", [span("E1", D, ((D + timedelta(days=4), None),), provider="P9")])],
        PERIOD,
        Breakdown.PROVIDER,
    )
    document = {"from": "2026-01-01", "to": "2026-06-30", "rows": [row_json(r) for r in rows]}
    lines = table(document, published=False, wide=True)
    head, national, provider = lines[1].split(), lines[2].split(), lines[3].split()
    assert head[1:] == [name for name, _ in COLUMNS]
    assert national[0] == "national" and provider[0] == "P9"
    assert dict(zip(head[1:], national[1:], strict=True))["waits.median_days"] == "4"
    assert dict(zip(head[1:], provider[1:], strict=True))["retained_12_weeks"] == "1/1"
    assert "rounded" in "\n".join(
        table({**document, "rows": [published_json(r) for r in rows]}, published=True)
    )
    fitted = table(document, published=False)
    assert max(len(line) for line in fitted) <= 120 < max(len(line) for line in lines)
    # Every JSON name can still be read off the fitted table: its pieces end on the header's last line.
    assert all(any(re.split(r"[_.]", name)[-1] in line for line in fitted) for name, _ in COLUMNS)


@pytest.mark.parametrize(
    "person",
    [
        [],
        [span("E1")],
        [span("E1", discharge=date(2026, 3, 1), reason=COMPLETED), span("E2", referral=date(2026, 4, 1))],
        [span("E1", setting=Setting.SECURE), span("E2", structured=((date(2026, 2, 3), None),))],
    ],
)
def test_facts_from_journeys_made_once_are_the_facts_made_from_the_spans(person: list[EpisodeSpan]) -> None:
    # The journey service hands the journeys it made for the published record to the facts.
    made = journeys_of(person)
    assert facts_of("k", person, made) == facts_of("k", person)
