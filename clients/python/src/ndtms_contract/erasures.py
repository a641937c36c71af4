"""Erasures: a person's objection, recorded for good on `ndtms.erasures` and confirmed per service.

The ledger is the one fact every service and every rebuild consults, so nothing erased comes
back. What each service removed is confirmed on the audit trail (`erasure_applied`, detail
an `ErasureReceipt` as JSON), which is what `ndtms erase` waits for.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from ndtms_contract.dates import iso_date, rfc3339_instant
from ndtms_contract.episodes import Identifier, Sex
from ndtms_contract.pseudonyms import CLIENT_KEY_PATTERN
from ndtms_contract.topics import CONFIRMED, DECISIONS, MATCHING, RAW, VALID


class ErasureOrigin(StrEnum):
    PROVIDER_OBJECTION = "provider_objection"
    EXTRACT_CONSENT_WITHDRAWN = "extract_consent_withdrawn"
    OPERATOR = "operator"


class ObjectingClient(BaseModel):
    """The attributors of the client who objects, as in an episode update's `client`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_initial: Annotated[str, Field(min_length=1, max_length=8)]
    second_initial: Annotated[str, Field(min_length=1, max_length=8)]
    date_of_birth: Annotated[date, BeforeValidator(iso_date)]
    sex: Sex
    # Accepted so that a vendor can send its `client` object as it is; neither names the person.
    local_authority: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    consent: StrictBool | None = None


def _instant_text(value: object) -> object:
    # JSON carries an instant as text: a number is not one (pydantic would read 0 as 1970).
    if not isinstance(value, str | datetime):
        raise ValueError(f"got {value!r}; expected an instant as text, e.g. 2024-03-01T10:02:00Z")
    return rfc3339_instant(value)


class Objection(BaseModel):
    """A provider's word that its client objects to NDTMS keeping their records (POST /v1/objections)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider_id: Identifier
    client: ObjectingClient
    recorded_at: Annotated[AwareDatetime, BeforeValidator(_instant_text)]


class ErasureRecorded(BaseModel):
    """One erased person. `erased_by` is an operator's name or a provider code; never attributors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_key: str = Field(pattern=CLIENT_KEY_PATTERN)
    erased_at: datetime
    erased_by: str
    origin: ErasureOrigin
    reason: str = ""


class ErasureReceipt(BaseModel):
    """What one service instance removed for one erasure, over the input partitions it covers.

    `removed` counts by what was removed: a topic's name (tombstones or withdrawals written
    there) or a store's (`validator heads`, `journey store rows`). A service confirms once it
    has covered every partition of `input_topic`, by one or several receipts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str
    input_topic: str
    partitions: tuple[int, ...]
    removed: dict[str, int]
    ledger_offset: int


# Which services must confirm an erasure, for which input, and how many partitions of it: the
# validator reads ndtms.episodes.raw; the linker ndtms.episodes.valid (people) and
# ndtms.matching.episodes (the national probable-match search); journey ndtms.episodes.valid.
CONFIRMING: dict[tuple[str, str], int] = {
    ("validator", RAW.name): RAW.partitions,
    ("linker", VALID.name): VALID.partitions,
    ("linker", MATCHING.name): MATCHING.partitions,
    ("linker", DECISIONS.name): DECISIONS.partitions,
    ("linker", CONFIRMED.name): CONFIRMED.partitions,
    ("journey", VALID.name): VALID.partitions,
}


class ErasureTally(BaseModel):
    """The receipts for one ledger entry so far: what each service removed, which partitions it covered."""

    ledger_offset: int
    covered: dict[tuple[str, str], set[int]] = Field(default_factory=dict)
    removed: dict[str, dict[str, int]] = Field(default_factory=dict)
    # How many partitions each input has on the cluster (the catalogue's counts when not told):
    # a topic made with more partitions than the catalogue's needs every one of them covered.
    partitions: dict[str, int] = Field(default_factory=dict)

    def add(self, receipt: ErasureReceipt) -> None:
        if receipt.ledger_offset != self.ledger_offset:
            return
        self.covered.setdefault((receipt.service, receipt.input_topic), set()).update(receipt.partitions)
        counts = self.removed.setdefault(receipt.service, {})
        for what, count in receipt.removed.items():
            counts[what] = counts.get(what, 0) + count

    def waiting_for(self) -> list[str]:
        """The services that have not yet covered every partition of their inputs."""
        waiting = [
            service
            for (service, topic), partitions in CONFIRMING.items()
            if not set(range(self.partitions.get(topic, partitions)))
            <= self.covered.get((service, topic), set())
        ]
        return list(dict.fromkeys(waiting))

    @property
    def complete(self) -> bool:
        return not self.waiting_for()

    def totals(self) -> dict[str, int]:
        """Removed, by topic or store, over every service."""
        totals: dict[str, int] = {}
        for counts in self.removed.values():
            for what, count in counts.items():
                totals[what] = totals.get(what, 0) + count
        return dict(sorted(totals.items()))
