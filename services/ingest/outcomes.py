"""What the ingest API answers: per-record results of a publication and the summary of an extract.

These models document the answers in the OpenAPI document; the endpoints build the same JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class ProblemAt(BaseModel):
    """One problem of a record: where (a JSON path, `$` for the whole record; a CSV column) and what."""

    path: str
    message: str


class Accepted(BaseModel):
    index: int
    status: Literal["accepted"]
    provider_id: str
    episode_id: str
    revision: int


class Rejected(BaseModel):
    index: int
    status: Literal["rejected"]
    problems: list[ProblemAt]


class Publication(BaseModel):
    """Counts and one result per record, in the order sent (`index` from 0)."""

    accepted: int
    rejected: int
    results: list[Accepted | Rejected]


class RowRejected(BaseModel):
    row: int
    problems: list[ProblemAt]


class ExtractOutcome(BaseModel):
    """An extract's rows: published (new or changed), unchanged (no new revision), objections
    (consent withdrawn since last published: the client is erased, the row not published), or
    rejected."""

    provider: str
    rows: int
    published: int
    new: int
    changed: int
    unchanged: int
    objections: int
    rejected: int
    rejections: list[RowRejected]
    rejections_listed: int
    missing_from_extract: list[str]


class ObjectionRecorded(BaseModel):
    """The objection is on the erasure ledger: the client's records are being erased everywhere."""

    status: Literal["recorded"]
    provider_id: str
    erased_at: datetime
    ledger_offset: int
