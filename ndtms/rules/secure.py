"""The secure-setting rules (SEC): custody details, releases, referrals on release."""

from __future__ import annotations

from collections.abc import Iterator

from ndtms.rules.attributors import LOCAL_AUTHORITY, OUT_OF_ENGLAND
from ndtms.rules.rule import E, Rule, RuleInput, W
from ndtms_contract.episodes import DischargeReason, EpisodeUpdate, ExitReason, Setting


def _custody_present(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.setting is Setting.SECURE and u.custody is None:
        yield "custody", "is required for a secure setting (reception date, and on release the exit details)"


def _exit_after_reception(subject: RuleInput) -> Iterator[tuple[str, str]]:
    c = subject.update.custody
    if c and c.reception_date and c.prison_exit_date and c.prison_exit_date < c.reception_date:
        yield (
            "custody.prison_exit_date",
            f"{c.prison_exit_date.isoformat()} is before the reception date {c.reception_date.isoformat()}",
        )


def _is_transfer(u: EpisodeUpdate) -> bool:
    return u.setting is Setting.SECURE and u.discharge_reason is DischargeReason.TRANSFERRED_NOT_IN_CUSTODY


def _transfer_needs_release(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if not _is_transfer(u) or u.custody is None:
        return
    if u.custody.exit_reason is not ExitReason.RELEASED:
        yield (
            "custody.exit_reason",
            "must be 'released' when the discharge reason is transferred_not_in_custody",
        )
    if u.custody.prison_exit_date is None:
        yield (
            "custody.prison_exit_date",
            "is required (the actual day of release) when the discharge reason is transferred_not_in_custody",
        )
    if u.custody.exit_destination_la is None:
        yield (
            "custody.exit_destination_la",
            "is required (the local authority released to) when the discharge reason is "
            "transferred_not_in_custody",
        )


def _exit_destination_code(subject: RuleInput) -> Iterator[tuple[str, str]]:
    c = subject.update.custody
    if c and c.exit_destination_la is not None and not LOCAL_AUTHORITY.match(c.exit_destination_la):
        yield (
            "custody.exit_destination_la",
            f"must be an ONS local authority code (E06-E10 followed by six digits) or {OUT_OF_ENGLAND}",
        )


def _transfer_needs_structured_referral(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if not _is_transfer(u) or u.custody is None:
        return
    referral = u.custody.referral_on_release
    if referral is None or not referral.is_structured:
        yield (
            "custody.referral_on_release",
            "is not a referral to structured treatment: record transferred_not_in_custody only for a "
            "client with an ongoing structured treatment need (it counts in the continuity-of-care "
            "denominator); otherwise use the discharge reason that fits",
        )


def _completed_with_structured_referral(subject: RuleInput) -> Iterator[tuple[str, str]]:
    u = subject.update
    if u.discharge_reason is None or not u.discharge_reason.is_treatment_completed or u.custody is None:
        return
    referral = u.custody.referral_on_release
    if referral is not None and referral.is_structured:
        yield (
            "discharge_reason",
            f"{u.discharge_reason.value} contradicts a referral on release to structured treatment: "
            "if the client still needs structured treatment, record transferred_not_in_custody",
        )


RULES: tuple[Rule, ...] = (
    Rule("SEC001", E, ("custody",), "A secure-setting episode has custody details.", _custody_present),
    Rule(
        "SEC002",
        E,
        ("custody.prison_exit_date",),
        "Prison exit is not before reception.",
        _exit_after_reception,
    ),
    Rule(
        "SEC003",
        E,
        ("custody.exit_reason", "custody.prison_exit_date", "custody.exit_destination_la"),
        "A transfer not in custody is a release with an exit date and destination.",
        _transfer_needs_release,
    ),
    Rule(
        "SEC004",
        E,
        ("custody.exit_destination_la",),
        "Exit destination is an ONS code or the out-of-England code.",
        _exit_destination_code,
    ),
    Rule(
        "SEC005",
        W,
        ("custody.referral_on_release",),
        "A transfer not in custody has a referral to structured treatment.",
        _transfer_needs_structured_referral,
    ),
    Rule(
        "SEC006",
        W,
        ("discharge_reason",),
        "Treatment completed does not go with a referral to structured treatment.",
        _completed_with_structured_referral,
    ),
)
