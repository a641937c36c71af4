"""The community rules (CMT): interventions after discharge, secure-only reasons."""

from __future__ import annotations

from collections.abc import Iterator

from ndtms.rules.rule import E, Rule, RuleInput
from ndtms_contract.episodes import DischargeReason, Setting

SECURE_ONLY_REASONS = frozenset(
    {DischargeReason.INCOMPLETE_ONWARD_REFERRAL_REFUSED, DischargeReason.INCOMPLETE_RELEASED_FROM_COURT}
)


def _new_intervention_after_discharge(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.setting is not Setting.COMMUNITY or u.discharge_date is None:
        return
    for index, intervention in enumerate(u.interventions):
        if intervention.start_date > u.discharge_date:
            yield (
                f"interventions[{index}].start_date",
                f"{intervention.start_date.isoformat()} is after the episode's discharge "
                f"({u.discharge_date.isoformat()}): re-open the episode (clear the discharge date "
                "and reason) before recording a new intervention, or open a new episode",
            )


def _secure_reason_in_community(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.setting is Setting.COMMUNITY and u.discharge_reason in SECURE_ONLY_REASONS:
        assert u.discharge_reason is not None
        yield "discharge_reason", f"{u.discharge_reason.value} is for secure settings only"


RULES: tuple[Rule, ...] = (
    Rule(
        "CMT001",
        E,
        ("interventions[].start_date",),
        "No new intervention after discharge without re-opening the episode.",
        _new_intervention_after_discharge,
    ),
    Rule(
        "CMT002",
        E,
        ("discharge_reason",),
        "Secure-only discharge reasons are not used in the community.",
        _secure_reason_in_community,
    ),
)
