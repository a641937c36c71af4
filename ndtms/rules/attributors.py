"""The attributor rules (ATT): initials, date of birth, local authority, consent."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ndtms.rules.rule import E, Rule, RuleInput, age_on
from ndtms_contract.episodes import LOCAL_AUTHORITY_PATTERN

ADULT_AGE = 18
MAX_AGE = 110
INITIAL = re.compile(r"^[A-Za-z]$")
# ONS local authority codes used by NDTMS, and the code for an address outside England.
LOCAL_AUTHORITY = re.compile(LOCAL_AUTHORITY_PATTERN)
OUT_OF_ENGLAND = "X99999998"


def _initials(subject: RuleInput) -> Iterator[tuple[str, str]]:
    client = subject.update.client
    if client is None:
        return
    for name in ("first_initial", "second_initial"):
        value = getattr(client, name)
        if not INITIAL.match(value):
            yield (
                f"client.{name}",
                f"must be a single letter A-Z (got {len(value)} character(s)); record only "
                "the first letter of the name, as NDTMS links people on initials",
            )


def _birth_date_not_future(subject: RuleInput) -> Iterator[tuple[str, str]]:
    update = subject.update
    if update.client and update.recorded_at and update.client.date_of_birth > update.recorded_at.date():
        yield "client.date_of_birth", "is after the date the record was made; check the date of birth"


def _adult_at_referral(subject: RuleInput) -> Iterator[tuple[str, str]]:
    update = subject.update
    if update.client and update.referral_date:
        age = age_on(update.client.date_of_birth, update.referral_date)
        if 0 <= age < ADULT_AGE:
            yield (
                "client.date_of_birth",
                f"gives an age under {ADULT_AGE} at referral: young people are reported in "
                "the young people's dataset, not this adult one; check the date of birth",
            )


def _plausible_age(subject: RuleInput) -> Iterator[tuple[str, str]]:
    update = subject.update
    if (
        update.client
        and update.referral_date
        and age_on(update.client.date_of_birth, update.referral_date) >= MAX_AGE
    ):
        yield (
            "client.date_of_birth",
            f"gives an age of {MAX_AGE} or more at referral; check the date of birth",
        )


def _local_authority(subject: RuleInput) -> Iterator[tuple[str, str]]:
    client = subject.update.client
    if client and not LOCAL_AUTHORITY.match(client.local_authority):
        yield (
            "client.local_authority",
            "must be an ONS local authority code (E06, E07, E08, E09 or E10 followed by six "
            f"digits) or {OUT_OF_ENGLAND} for an address outside England",
        )


def _consent(subject: RuleInput) -> Iterator[tuple[str, str]]:
    client = subject.update.client
    if client and not client.consent:
        yield (
            "client.consent",
            "is false: NDTMS holds records only with the client's consent; do not submit "
            "this episode, or withdraw it with deleted: true",
        )


RULES: tuple[Rule, ...] = (
    Rule(
        "ATT001",
        E,
        ("client.first_initial", "client.second_initial"),
        "Initials are single letters A-Z (either case).",
        _initials,
    ),
    Rule(
        "ATT002", E, ("client.date_of_birth",), "Date of birth is not in the future.", _birth_date_not_future
    ),
    Rule(
        "ATT003",
        E,
        ("client.date_of_birth",),
        "The client is 18 or over at referral (adult dataset).",
        _adult_at_referral,
    ),
    Rule("ATT004", E, ("client.date_of_birth",), "The client is under 110 at referral.", _plausible_age),
    Rule(
        "ATT005",
        E,
        ("client.local_authority",),
        "Local authority is an ONS code or the out-of-England code.",
        _local_authority,
    ),
    Rule("ATT006", E, ("client.consent",), "The client consented to NDTMS recording.", _consent),
)
