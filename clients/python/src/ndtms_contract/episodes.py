"""Episode updates: the snapshot a provider publishes, and the accepted form the validator forwards."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from ndtms_contract.dates import rfc3339_instant

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"
# An ONS local authority code (E06 to E10 and six digits), or X99999998: outside England.
LOCAL_AUTHORITY_PATTERN = r"^(?:E0[6-9]|E10)\d{6}$|^X99999998$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]


class Setting(StrEnum):
    COMMUNITY = "community"
    SECURE = "secure"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    NOT_KNOWN = "not_known"


class InterventionType(StrEnum):
    PHARMACOLOGICAL = "pharmacological"
    PSYCHOSOCIAL = "psychosocial"
    RECOVERY_SUPPORT = "recovery_support"

    @property
    def is_structured(self) -> bool:
        """Recovery support on its own is not structured treatment."""
        return self is not InterventionType.RECOVERY_SUPPORT


class DischargeReason(StrEnum):
    TREATMENT_COMPLETED_DRUG_FREE = "treatment_completed_drug_free"
    TREATMENT_COMPLETED_ALCOHOL_FREE = "treatment_completed_alcohol_free"
    TREATMENT_COMPLETED_OCCASIONAL_USER = "treatment_completed_occasional_user"
    TRANSFERRED_NOT_IN_CUSTODY = "transferred_not_in_custody"
    TRANSFERRED_IN_CUSTODY = "transferred_in_custody"
    INCOMPLETE_DROPPED_OUT = "incomplete_dropped_out"
    INCOMPLETE_TREATMENT_WITHDRAWN_BY_PROVIDER = "incomplete_treatment_withdrawn_by_provider"
    INCOMPLETE_RETAINED_IN_CUSTODY = "incomplete_retained_in_custody"
    INCOMPLETE_TREATMENT_COMMENCEMENT_DECLINED = "incomplete_treatment_commencement_declined"
    INCOMPLETE_CLIENT_DIED = "incomplete_client_died"
    INCOMPLETE_ONWARD_REFERRAL_REFUSED = "incomplete_onward_referral_refused"
    INCOMPLETE_RELEASED_FROM_COURT = "incomplete_released_from_court"

    @property
    def is_treatment_completed(self) -> bool:
        return self.value.startswith("treatment_completed_")


# NDTMS DISRSN codes, for the CSV extract adapter. The two secure-only reasons have no
# numeric code in the contract, so they are written by name in extracts.
DISCHARGE_REASON_CODES: dict[str, DischargeReason] = {
    "80": DischargeReason.TREATMENT_COMPLETED_DRUG_FREE,
    "81": DischargeReason.TREATMENT_COMPLETED_ALCOHOL_FREE,
    "82": DischargeReason.TREATMENT_COMPLETED_OCCASIONAL_USER,
    "83": DischargeReason.TRANSFERRED_NOT_IN_CUSTODY,
    "84": DischargeReason.TRANSFERRED_IN_CUSTODY,
    "85": DischargeReason.INCOMPLETE_DROPPED_OUT,
    "86": DischargeReason.INCOMPLETE_TREATMENT_WITHDRAWN_BY_PROVIDER,
    "87": DischargeReason.INCOMPLETE_RETAINED_IN_CUSTODY,
    "88": DischargeReason.INCOMPLETE_TREATMENT_COMMENCEMENT_DECLINED,
    "89": DischargeReason.INCOMPLETE_CLIENT_DIED,
}


class ExitReason(StrEnum):
    RELEASED = "released"
    TRANSFERRED_TO_ANOTHER_ESTABLISHMENT = "transferred_to_another_establishment"
    OTHER = "other"


class ReferralOnRelease(StrEnum):
    STRUCTURED_TREATMENT = "structured_treatment"
    STRUCTURED_TREATMENT_AND_RECOVERY_SUPPORT = "structured_treatment_and_recovery_support"
    RECOVERY_SUPPORT_ONLY = "recovery_support_only"
    NO_ONWARD_REFERRAL = "no_onward_referral"

    @property
    def is_structured(self) -> bool:
        return self in {
            ReferralOnRelease.STRUCTURED_TREATMENT,
            ReferralOnRelease.STRUCTURED_TREATMENT_AND_RECOVERY_SUPPORT,
        }


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Client(_Frozen):
    """Attributors. Initials and date of birth never leave the raw topic."""

    first_initial: Annotated[str, Field(min_length=1, max_length=8)]
    second_initial: Annotated[str, Field(min_length=1, max_length=8)]
    date_of_birth: date
    sex: Sex
    local_authority: Annotated[str, Field(min_length=1, max_length=16)]
    consent: bool


class Intervention(_Frozen):
    intervention_id: Identifier
    type: InterventionType
    start_date: date
    end_date: date | None = None


class Custody(_Frozen):
    reception_date: date | None = None
    prison_exit_date: date | None = None
    exit_reason: ExitReason | None = None
    exit_destination_la: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    referral_on_release: ReferralOnRelease | None = None


SNAPSHOT_FIELDS = ("setting", "recorded_at", "client", "referral_date")


class SnapshotIncomplete(ValueError):
    """Whole-record problems, each with the field it is about (pydantic reports them at the root)."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems.items()))
        self.problems = problems


def _whole_number(value: object) -> object:
    # JSON has one number type: 1.0 is the integer 1 to JSON Schema, so it is to us.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _snapshot_schema(schema: JsonDict) -> None:
    """Say in JSON Schema what the after-validator checks, so the OpenAPI document is exact."""
    schema["allOf"] = [
        {
            "if": {"required": ["deleted"], "properties": {"deleted": {"const": True}}},
            "else": {
                "required": list(SNAPSHOT_FIELDS),
                "properties": {name: {"not": {"type": "null"}} for name in SNAPSHOT_FIELDS},
            },
        },
        {
            "if": {"required": ["setting"], "properties": {"setting": {"const": "community"}}},
            "then": {"properties": {"custody": {"type": "null"}}},
        },
    ]


class EpisodeUpdate(_Frozen):
    """One provider's full current snapshot of one episode (the ingest input).

    A withdrawal (`deleted: true`) needs only the identity and a higher revision.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_snapshot_schema)

    provider_id: Identifier
    episode_id: Identifier
    revision: Annotated[int, Field(ge=1, le=2**62), BeforeValidator(_whole_number)]
    setting: Setting | None = None
    deleted: bool = False
    recorded_at: Annotated[AwareDatetime | None, BeforeValidator(rfc3339_instant)] = None
    client: Client | None = None
    referral_date: date | None = None
    triage_date: date | None = None
    interventions: tuple[Intervention, ...] = ()
    discharge_date: date | None = None
    discharge_reason: DischargeReason | None = None
    custody: Custody | None = None

    @model_validator(mode="after")
    def _complete_unless_withdrawn(self) -> Self:
        if self.deleted:
            return self
        problems = {
            name: "required unless the update is a withdrawal (deleted: true): an update carries "
            "the whole episode snapshot"
            for name in SNAPSHOT_FIELDS
            if getattr(self, name) is None
        }
        if self.custody is not None and self.setting is Setting.COMMUNITY:
            problems["custody"] = (
                "custody is only recorded for a secure setting: remove it or set setting to 'secure'"
            )
        if problems:
            raise SnapshotIncomplete(problems)
        return self

    @property
    def episode_key(self) -> str:
        return episode_key(self.provider_id, self.episode_id)


def episode_key(provider_id: str, episode_id: str) -> str:
    """The identity of an episode, also the key of `ndtms.episodes.raw`."""
    return f"{provider_id}/{episode_id}"


class AcceptedEpisode(_Frozen):
    """An accepted revision as forwarded on `ndtms.episodes.valid` (pseudonymised).

    The person is named only by `client_key`; initials and date of birth are dropped.
    `deleted` withdraws the episode from this person's record.
    """

    provider_id: Identifier
    episode_id: Identifier
    revision: int
    client_key: str
    deleted: bool = False
    setting: Setting | None = None
    recorded_at: datetime | None = None
    sex: Sex | None = None
    local_authority: str | None = None
    referral_date: date | None = None
    triage_date: date | None = None
    interventions: tuple[Intervention, ...] = ()
    discharge_date: date | None = None
    discharge_reason: DischargeReason | None = None
    custody: Custody | None = None
    warnings: tuple[str, ...] = ()
    accepted_at: datetime

    @property
    def episode_key(self) -> str:
        return episode_key(self.provider_id, self.episode_id)
