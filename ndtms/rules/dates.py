"""The date rules (DAT, INT): order of an episode's dates, distinct intervention ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from ndtms.rules.rule import E, Rule, RuleInput
from ndtms_contract.episodes import EpisodeUpdate, Setting


def _dates_of(update: EpisodeUpdate) -> Iterator[tuple[str, date]]:
    for name in ("referral_date", "triage_date", "discharge_date"):
        value = getattr(update, name)
        if value is not None:
            yield name, value
    for index, intervention in enumerate(update.interventions):
        yield f"interventions[{index}].start_date", intervention.start_date
        if intervention.end_date is not None:
            yield f"interventions[{index}].end_date", intervention.end_date
    if update.custody is not None:
        for name in ("reception_date", "prison_exit_date"):
            value = getattr(update.custody, name)
            if value is not None:
                yield f"custody.{name}", value


def _no_future_dates(subject: RuleInput) -> Iterator[tuple[str, str]]:
    update = subject.update
    if update.recorded_at is None:
        return
    recorded = update.recorded_at.date()
    for path, value in _dates_of(update):
        if value > recorded:
            yield (
                path,
                f"{value.isoformat()} is after recorded_at ({recorded.isoformat()}): "
                "dates cannot be in the future",
            )


def _triage_after_referral(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.triage_date and u.referral_date and u.triage_date < u.referral_date:
        yield (
            "triage_date",
            f"{u.triage_date.isoformat()} is before the referral date {u.referral_date.isoformat()}",
        )


def _intervention_ids_unique(subject: RuleInput) -> Iterator[tuple[str, str]]:
    first_at: dict[str, int] = {}
    for index, intervention in enumerate(subject.update.interventions):
        earlier = first_at.setdefault(intervention.intervention_id, index)
        if earlier != index:
            yield (
                f"interventions[{index}].intervention_id",
                f"{intervention.intervention_id!r} is also the id of interventions[{earlier}]: give each "
                "intervention of an episode its own id",
            )


def _intervention_after_referral(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.referral_date is None:
        return
    for index, intervention in enumerate(u.interventions):
        if intervention.start_date < u.referral_date:
            yield (
                f"interventions[{index}].start_date",
                f"{intervention.start_date.isoformat()} is before the referral date "
                f"{u.referral_date.isoformat()}",
            )


def _intervention_end_after_start(subject: RuleInput) -> Iterator[tuple[str, str]]:
    for index, intervention in enumerate(subject.update.interventions):
        if intervention.end_date is not None and intervention.end_date < intervention.start_date:
            yield (
                f"interventions[{index}].end_date",
                f"{intervention.end_date.isoformat()} is before the intervention's start "
                f"{intervention.start_date.isoformat()}",
            )


def _discharge_after_triage(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.discharge_date and u.triage_date and u.discharge_date < u.triage_date:
        yield (
            "discharge_date",
            f"{u.discharge_date.isoformat()} is before the triage date {u.triage_date.isoformat()}",
        )


def _discharge_after_secure_interventions(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.discharge_date is None or u.setting is Setting.COMMUNITY:
        return
    for index, intervention in enumerate(u.interventions):
        if intervention.start_date > u.discharge_date:
            yield (
                "discharge_date",
                f"{u.discharge_date.isoformat()} is before the start of interventions[{index}] "
                f"({intervention.start_date.isoformat()}); the discharge must come after the latest "
                "intervention start",
            )


def _discharge_date_and_reason_together(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.discharge_date is not None and u.discharge_reason is None:
        yield "discharge_reason", "is missing while a discharge date is given: give both or neither"
    if u.discharge_reason is not None and u.discharge_date is None:
        yield "discharge_date", "is missing while a discharge reason is given: give both or neither"


RULES: tuple[Rule, ...] = (
    Rule("DAT001", E, ("*_date",), "No date is after recorded_at.", _no_future_dates),
    Rule("DAT002", E, ("triage_date",), "Triage is not before referral.", _triage_after_referral),
    Rule(
        "INT001",
        E,
        ("interventions[].intervention_id",),
        "Each intervention of an episode has its own id.",
        _intervention_ids_unique,
    ),
    Rule(
        "DAT003",
        E,
        ("interventions[].start_date",),
        "An intervention does not start before referral.",
        _intervention_after_referral,
    ),
    Rule(
        "DAT004",
        E,
        ("interventions[].end_date",),
        "An intervention does not end before it starts.",
        _intervention_end_after_start,
    ),
    Rule("DAT005", E, ("discharge_date",), "Discharge is not before triage.", _discharge_after_triage),
    Rule(
        "DAT006",
        E,
        ("discharge_date",),
        "Discharge is not before the latest intervention start (secure settings).",
        _discharge_after_secure_interventions,
    ),
    Rule(
        "DAT007",
        E,
        ("discharge_date", "discharge_reason"),
        "Discharge date and reason are given together or not at all.",
        _discharge_date_and_reason_together,
    ),
)
