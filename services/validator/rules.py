"""The NDTMS rule catalogue: each rule is data (code, severity, fields, summary) plus a pure check.

Errors depend on the submitted snapshot alone, never on what arrived before it, so the
accepted state of an episode cannot depend on arrival order. Warnings may also look at the
previously accepted revision (consistency between revisions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

from ndtms.contract.episodes import (
    LOCAL_AUTHORITY_PATTERN,
    AcceptedEpisode,
    DischargeReason,
    EpisodeUpdate,
    ExitReason,
    Setting,
)
from ndtms.contract.findings import Finding, Severity

ADULT_AGE = 18
MAX_AGE = 110
INITIAL = re.compile(r"^[A-Za-z]$")
# ONS local authority codes used by NDTMS, and the code for an address outside England.
LOCAL_AUTHORITY = re.compile(LOCAL_AUTHORITY_PATTERN)
OUT_OF_ENGLAND = "X99999998"
SECURE_ONLY_REASONS = frozenset(
    {DischargeReason.INCOMPLETE_ONWARD_REFERRAL_REFUSED, DischargeReason.INCOMPLETE_RELEASED_FROM_COURT}
)


@dataclass(frozen=True)
class PreviousRevision:
    """What the validator remembers of an episode's last accepted revision."""

    revision: int
    setting: Setting | None
    attributor_digests: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleInput:
    update: EpisodeUpdate
    previous: PreviousRevision | None = None
    attributor_digests: dict[str, str] = field(default_factory=dict)


Check = Callable[[RuleInput], Iterator[tuple[str, str]]]  # (field path, message)


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    fields: tuple[str, ...]
    summary: str
    check: Check

    def evaluate(self, subject: RuleInput) -> Iterator[Finding]:
        for path, message in self.check(subject):
            yield Finding(rule=self.code, severity=self.severity, field=path, message=message)


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- attributors -----------------------------------------------------------------------


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


# --- dates -----------------------------------------------------------------------------


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


# --- secure settings ---------------------------------------------------------------------


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


# --- community ---------------------------------------------------------------------------


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


# --- consistency between revisions ----------------------------------------------------------


def _setting_unchanged(subject: RuleInput) -> Iterator[tuple[str, str]]:
    previous, u = subject.previous, subject.update
    if previous and previous.setting and u.setting and previous.setting is not u.setting:
        yield (
            "setting",
            f"changed from {previous.setting.value} to {u.setting.value} since revision "
            f"{previous.revision}: an episode belongs to one setting; open a new episode instead",
        )


def _attributors_unchanged(subject: RuleInput) -> Iterator[tuple[str, str]]:
    previous = subject.previous
    if previous is None or not previous.attributor_digests or not subject.attributor_digests:
        return
    for name, digest in subject.attributor_digests.items():
        before = previous.attributor_digests.get(name)
        if before is not None and before != digest:
            consequence = (
                "the local authority is not part of the person key, but check it"
                if name == "local_authority"
                else "this breaks linkage: the person now looks like someone else to journeys "
                "and continuity of care"
            )
            yield f"client.{name}", f"changed since revision {previous.revision}; {consequence}"


E, W = Severity.ERROR, Severity.WARNING

CATALOGUE: tuple[Rule, ...] = (
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
    Rule("CON001", W, ("setting",), "An episode keeps its setting between revisions.", _setting_unchanged),
    Rule(
        "CON002",
        W,
        ("client.*",),
        "An episode keeps its attributors between revisions.",
        _attributors_unchanged,
    ),
)


def evaluate(subject: RuleInput) -> tuple[Finding, ...]:
    """Every finding of the catalogue on one update; a withdrawal has nothing to check."""
    if subject.update.deleted:
        return ()
    return tuple(finding for rule in CATALOGUE for finding in rule.evaluate(subject))


# --- across one person's episodes -----------------------------------------------------------
# These look at every accepted episode of one person (by client_key). They only warn: an
# error would make one episode's acceptance depend on another's arrival.


@dataclass(frozen=True)
class EpisodeDates:
    """What the rules across one person's episodes read of an accepted episode (kept per person)."""

    provider_id: str
    episode_id: str
    revision: int
    setting: Setting | None = None
    referral_date: date | None = None
    triage_date: date | None = None
    discharge_date: date | None = None
    reception_date: date | None = None

    @property
    def episode_key(self) -> str:
        return f"{self.provider_id}/{self.episode_id}"

    @classmethod
    def of(cls, accepted: AcceptedEpisode) -> EpisodeDates:
        return cls(
            accepted.provider_id,
            accepted.episode_id,
            accepted.revision,
            accepted.setting,
            accepted.referral_date,
            accepted.triage_date,
            accepted.discharge_date,
            accepted.custody.reception_date if accepted.custody else None,
        )


@dataclass(frozen=True)
class PersonRule:
    code: str
    severity: Severity
    fields: tuple[str, ...]
    summary: str
    # yields (episode key, field path, message)
    check: Callable[[Sequence[EpisodeDates]], Iterator[tuple[str, str, str]]]


def _open_at_later_reception(episodes: Sequence[EpisodeDates]) -> Iterator[tuple[str, str, str]]:
    receptions = sorted(
        e.reception_date for e in episodes if e.setting is Setting.SECURE and e.reception_date is not None
    )
    for episode in episodes:
        if episode.setting is not Setting.COMMUNITY or episode.discharge_date is not None:
            continue
        began = episode.triage_date or episode.referral_date
        later = [r for r in receptions if began is not None and r > began]
        if later:
            yield (
                episode.episode_key,
                "discharge_date",
                f"the episode is still open but the client was received into custody on "
                f"{later[0].isoformat()}: close it (discharge reason transferred_in_custody, or "
                "incomplete_retained_in_custody) so that a return after release is recorded correctly",
            )


PERSON_CATALOGUE: tuple[PersonRule, ...] = (
    PersonRule(
        "CMT003",
        W,
        ("discharge_date",),
        "A community episode is not left open when the client later enters custody.",
        _open_at_later_reception,
    ),
)


def evaluate_person(episodes: Sequence[EpisodeDates]) -> dict[str, tuple[Finding, ...]]:
    """Cross-episode findings per episode key (every given episode has an entry, maybe empty)."""
    found: dict[str, list[Finding]] = {e.episode_key: [] for e in episodes}
    for rule in PERSON_CATALOGUE:
        for key, path, message in rule.check(episodes):
            found[key].append(Finding(rule=rule.code, severity=rule.severity, field=path, message=message))
    return {key: tuple(findings) for key, findings in found.items()}
