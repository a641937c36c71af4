"""NDTMS-style CSV extracts: rows to episode updates, and revisions derived from content.

A monthly extract is a full snapshot of a provider's episodes. Each row becomes an update
with no revision of its own: an episode seen for the first time gets revision 1, a row whose
content changed gets the last revision + 1, an unchanged row is a no-op, and an episode
published before but missing from this extract is reported (never deleted). The digest that
decides "unchanged" covers the whole snapshot except `recorded_at`.

Pure: the caller hands in what was published before (`Held`) and gets back the plan.

Longer than most modules (about 380 lines): the NDTMS column layout, reading a row and
planning revisions are one definition of the extract format; running an extract against the
ledger and the broker is `extract_runs`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ndtms_contract.dates import why_not_a_date
from ndtms_contract.episodes import DISCHARGE_REASON_CODES, EpisodeUpdate
from ndtms_contract.parsing import Parsed, Problem, parse_object

SEX_CODES = {"1": "male", "2": "female", "3": "other", "9": "not_known"}
SETTING_CODES = {"C": "community", "S": "secure"}
EXIT_REASON_CODES = {"1": "released", "2": "transferred_to_another_establishment", "9": "other"}
REFERRAL_ON_RELEASE_CODES = {
    "1": "structured_treatment",
    "2": "structured_treatment_and_recovery_support",
    "3": "recovery_support_only",
    "4": "no_onward_referral",
}
INTERVENTIONS = (("PHARM", "pharmacological"), ("PSYCH", "psychosocial"), ("RECOV", "recovery_support"))

REQUIRED = ("AGNCY", "EPISODID", "SETTING", "FINITIAL", "SINITIAL", "DOB", "SEX", "LA", "CONSENT", "REFLD")
OPTIONAL = (
    "TRIAGED",
    *(f"{prefix}{part}" for prefix, _ in INTERVENTIONS for part in ("START", "END")),
    "DISD",
    "DISRSN",
    "RECEPTD",
    "PRISEXIT",
    "EXITRSN",
    "EXITLA",
    "REFREL",
    "RECORDED",
)
COLUMNS = REQUIRED + OPTIONAL


def extract_pattern() -> str:
    """A regular expression (ECMA-262, for the OpenAPI document) of an extract the adapter reads.

    The header names the required columns and any optional ones in this order, each once; every
    later line is a row, judged on its own. The adapter also reads columns in any order and in any
    case; the pattern documents the canonical form.
    """
    optional = "".join(f"(?:,{column})?" for column in OPTIONAL)
    return r"^\ufeff?" + ",".join(REQUIRED) + optional + r"(?:\r?\n[^\r\n]*)*$"


class Change(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    # Consent was Y when the episode was last published and is N now: the client objects.
    OBJECTED = "objected"


@dataclass(frozen=True)
class Held:
    """What was last published for an episode from extracts: its revision and content digest."""

    revision: int
    digest: str
    consented: bool | None = None  # as last published; None when not known (before it was kept)


@dataclass(frozen=True)
class Planned:
    row: int
    parsed: Parsed
    change: Change | None
    digest: str | None


class BadExtract(ValueError):
    """The file as a whole cannot be read (no header, unknown or missing columns)."""


def digest_of(snapshot: Mapping[str, Any]) -> str:
    content = {k: v for k, v in snapshot.items() if k not in ("revision", "recorded_at")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _date(value: str) -> str:
    """ISO dates as they are; NDTMS's DD/MM/YYYY turned into ISO (a bad date stays bad, for the checks)."""
    if len(value) == 10 and value[2] == "/" and value[5] == "/":
        return f"{value[6:]}-{value[3:5]}-{value[:2]}"
    return value


def _coded(value: str, codes: Mapping[str, str]) -> str:
    return codes.get(value, value)


def snapshot_of(row: Mapping[str, str], recorded_at: datetime) -> dict[str, Any]:
    """One CSV row as an episode snapshot (no revision yet), in the JSON contract's shape."""

    def get(column: str) -> str | None:
        return (row.get(column) or "").strip() or None

    snapshot: dict[str, Any] = {
        "provider_id": get("AGNCY"),
        "episode_id": get("EPISODID"),
        "setting": _coded(get("SETTING") or "", SETTING_CODES) or None,
        "recorded_at": get("RECORDED") or recorded_at.isoformat(),
        "client": {
            "first_initial": get("FINITIAL"),
            "second_initial": get("SINITIAL"),
            "date_of_birth": _date(get("DOB") or ""),
            "sex": _coded(get("SEX") or "", SEX_CODES),
            "local_authority": get("LA"),
            "consent": {"Y": True, "N": False}.get((get("CONSENT") or "").upper(), get("CONSENT")),
        },
        "referral_date": _date(get("REFLD") or ""),
    }
    optional = {
        "triage_date": _date(get("TRIAGED") or "") or None,
        "discharge_date": _date(get("DISD") or "") or None,
        "discharge_reason": DISCHARGE_REASON_CODES[code].value
        if (code := get("DISRSN")) in DISCHARGE_REASON_CODES
        else code,
    }
    snapshot |= {k: v for k, v in optional.items() if v is not None}
    interventions = []
    for prefix, kind in INTERVENTIONS:
        start = get(f"{prefix}START")
        if start is not None:
            item = {
                "intervention_id": f"{snapshot['episode_id']}-{prefix}",
                "type": kind,
                "start_date": _date(start),
            }
            if (end := get(f"{prefix}END")) is not None:
                item["end_date"] = _date(end)
            interventions.append(item)
    snapshot["interventions"] = interventions
    custody = {
        "reception_date": _date(get("RECEPTD") or "") or None,
        "prison_exit_date": _date(get("PRISEXIT") or "") or None,
        "exit_reason": _coded(get("EXITRSN") or "", EXIT_REASON_CODES) or None,
        "exit_destination_la": get("EXITLA"),
        "referral_on_release": _coded(get("REFREL") or "", REFERRAL_ON_RELEASE_CODES) or None,
    }
    if any(v is not None for v in custody.values()):
        snapshot["custody"] = {k: v for k, v in custody.items() if v is not None}
    return snapshot


def read_header(line: bytes) -> list[str]:
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadExtract(
            f"row 1 (the header) is not UTF-8 (byte {exc.start}): save the file as UTF-8"
        ) from exc
    header = [column.strip().upper() for column in next(csv.reader([text]), [])]
    if not any(header):
        raise BadExtract("the file is empty: the first row must be the header (AGNCY,EPISODID,...)")
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if len(header) == 1 and separator in header[0]:
            raise BadExtract(
                f"header row: the columns are separated by {name}; the separator must be a comma "
                "(in a spreadsheet, save as CSV, comma delimited)"
            )
    unknown = [c for c in header if c not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)} (see the column table in the README)")
    if duplicated:
        problems.append(f"column(s) {', '.join(duplicated)} appear more than once")
    if problems:
        raise BadExtract("header row: " + "; ".join(problems))
    return header


def rows(lines: Iterable[bytes], provider: str, recorded_at: datetime) -> Iterator[tuple[int, Parsed]]:
    """Every data row as a shape-checked update (revision 1 for now), numbered as in a spreadsheet."""
    iterator = iter(lines)
    try:
        first = next(iterator)
    except StopIteration:
        raise BadExtract("the file is empty: the first row must be the header (AGNCY,EPISODID,...)") from None
    header = read_header(first)
    for number, raw in enumerate(iterator, start=2):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = Problem("$", f"the row is not UTF-8 (byte {exc.start}): save the file as UTF-8")
            yield number, Parsed(number, None, (problem,))
            continue
        fields = next(csv.reader([text]), [])
        if len(fields) != len(header):
            problem = Problem("$", f"the row has {len(fields)} fields; the header has {len(header)}")
            yield number, Parsed(number, None, (problem,))
            continue
        snapshot = snapshot_of(dict(zip(header, fields, strict=True)), recorded_at)
        if snapshot["provider_id"] != provider:
            agency = snapshot["provider_id"]
            problem = Problem(
                "AGNCY", f"AGNCY={agency}: the row is for provider {agency!r}, not {provider!r}"
            )
            yield number, Parsed(number, None, (problem,))
            continue
        cells = dict(zip(header, fields, strict=True))
        parsed = parse_object(number, snapshot | {"revision": 1})
        yield (
            number,
            Parsed(
                number,
                parsed.update,
                tuple(dict.fromkeys(_in_columns(p, cells, snapshot) for p in parsed.problems)),
            ),
        )


COLUMN_OF = {
    "provider_id": "AGNCY",
    "episode_id": "EPISODID",
    "setting": "SETTING",
    "recorded_at": "RECORDED",
    "client.first_initial": "FINITIAL",
    "client.second_initial": "SINITIAL",
    "client.date_of_birth": "DOB",
    "client.sex": "SEX",
    "client.local_authority": "LA",
    "client.consent": "CONSENT",
    "referral_date": "REFLD",
    "triage_date": "TRIAGED",
    "discharge_date": "DISD",
    "discharge_reason": "DISRSN",
    "custody.reception_date": "RECEPTD",
    "custody.prison_exit_date": "PRISEXIT",
    "custody.exit_reason": "EXITRSN",
    "custody.exit_destination_la": "EXITLA",
    "custody.referral_on_release": "REFREL",
}
CUSTODY_COLUMNS = ("RECEPTD", "PRISEXIT", "EXITRSN", "EXITLA", "REFREL")
CSV_DATE = "a date, DD/MM/YYYY or YYYY-MM-DD"
# What each column holds, in the extract's own codes: every row problem says it.
EXPECTED = {
    "AGNCY": "the provider code",
    "EPISODID": "1 to 40 letters, digits, '_', '.' or '-', starting with a letter or a digit",
    "SETTING": "C (community) or S (secure)",
    "FINITIAL": "the first initial, one letter",
    "SINITIAL": "the second initial, one letter",
    "SEX": "1 (male), 2 (female), 3 (other) or 9 (not known)",
    "LA": "an ONS local authority code such as E09000001, or X99999998 outside England",
    "CONSENT": "Y or N",
    "DISRSN": "a discharge reason code, 80 to 89 (see the README's codes)",
    "EXITRSN": "1 (released), 2 (transferred to another establishment) or 9 (other)",
    "EXITLA": "an ONS local authority code such as E09000001, or X99999998 outside England",
    "REFREL": "1, 2, 3 or 4 (referral on release; see the README's codes)",
    "RECORDED": "an instant, YYYY-MM-DDTHH:MM:SS with its offset, e.g. 2024-03-01T10:02:00Z",
    **{c: CSV_DATE for c in ("DOB", "REFLD", "TRIAGED", "DISD", "RECEPTD", "PRISEXIT")},
    **{f"{prefix}{part}": CSV_DATE for prefix, _ in INTERVENTIONS for part in ("START", "END")},
}


def _column_of(path: str, snapshot: Mapping[str, Any]) -> str | None:
    if path.startswith("interventions["):
        index, _, rest = path.removeprefix("interventions[").partition("]")
        items = snapshot.get("interventions") or []
        if rest == ".intervention_id":
            return "EPISODID"  # the adapter makes intervention ids from it
        if index.isdigit() and int(index) < len(items):
            prefix = str(items[int(index)]["intervention_id"]).rsplit("-", 1)[-1]
            return f"{prefix}END" if rest == ".end_date" else f"{prefix}START"
        return None
    return COLUMN_OF.get(path)


def _in_columns(problem: Problem, row: Mapping[str, str], snapshot: Mapping[str, Any]) -> Problem:
    """A contract problem said in the extract's words: the column, the cell, the codes it takes."""
    if problem.path == "custody":
        filled = ", ".join(c for c in CUSTODY_COLUMNS if (row.get(c) or "").strip())
        return Problem(filled, f"{filled} are only for SETTING=S: empty them, or set SETTING to S")
    column = _column_of(problem.path, snapshot)
    if column is None:
        return problem
    value = (row.get(column) or "").strip()
    expected = EXPECTED.get(column, problem.message)
    if not value:
        return Problem(column, f"{column} is empty: required, {expected}")
    if expected == CSV_DATE:
        why = why_not_a_date(_date(value))
        return Problem(
            column, f"{column}={value}: {why if why.startswith('there is no') else 'expected ' + expected}"
        )
    return Problem(column, f"{column}={value}: expected {expected}")


def plan(parsed: Parsed, held: Held | None) -> Planned:
    """The revision this row gets, or unchanged."""
    if not parsed.accepted or parsed.update is None:
        return Planned(parsed.position, parsed, None, None)
    snapshot = parsed.update.model_dump(mode="json")
    digest = digest_of(snapshot)
    if held is not None and held.digest == digest:
        return Planned(parsed.position, parsed, Change.UNCHANGED, digest)
    client = parsed.update.client
    if held is not None and held.consented and client is not None and not client.consent:
        return Planned(parsed.position, parsed, Change.OBJECTED, digest)
    revision = held.revision + 1 if held is not None else 1
    update = parsed.update.model_copy(update={"revision": revision})
    change = Change.CHANGED if held is not None else Change.NEW
    return Planned(parsed.position, Parsed(parsed.position, update), change, digest)


CODE_OF_DISCHARGE = {reason.value: code for code, reason in DISCHARGE_REASON_CODES.items()}


def _code(value: str | None, codes: Mapping[str, str]) -> str:
    if value is None:
        return ""
    return next((code for code, name in codes.items() if name == value), value)


def csv_row(update: EpisodeUpdate) -> str:
    """An update as an extract row under `",".join(COLUMNS)` (the first intervention of each type)."""
    client, custody = update.client, update.custody
    values: dict[str, str] = {
        "AGNCY": update.provider_id,
        "EPISODID": update.episode_id,
        "SETTING": _code(update.setting.value if update.setting else None, SETTING_CODES),
        "REFLD": update.referral_date.isoformat() if update.referral_date else "",
        "TRIAGED": update.triage_date.isoformat() if update.triage_date else "",
        "DISD": update.discharge_date.isoformat() if update.discharge_date else "",
        "DISRSN": CODE_OF_DISCHARGE.get(update.discharge_reason.value, "") if update.discharge_reason else "",
        "RECORDED": update.recorded_at.isoformat() if update.recorded_at else "",
    }
    if client is not None:
        values |= {
            "FINITIAL": client.first_initial,
            "SINITIAL": client.second_initial,
            "DOB": client.date_of_birth.isoformat(),
            "SEX": _code(client.sex.value, SEX_CODES),
            "LA": client.local_authority,
            "CONSENT": "Y" if client.consent else "N",
        }
    for prefix, kind in INTERVENTIONS:
        first = next((i for i in update.interventions if i.type.value == kind), None)
        if first is not None:
            values[f"{prefix}START"] = first.start_date.isoformat()
            values[f"{prefix}END"] = first.end_date.isoformat() if first.end_date else ""
    if custody is not None:
        values |= {
            "RECEPTD": custody.reception_date.isoformat() if custody.reception_date else "",
            "PRISEXIT": custody.prison_exit_date.isoformat() if custody.prison_exit_date else "",
            "EXITRSN": _code(custody.exit_reason.value if custody.exit_reason else None, EXIT_REASON_CODES),
            "EXITLA": custody.exit_destination_la or "",
            "REFREL": _code(
                custody.referral_on_release.value if custody.referral_on_release else None,
                REFERRAL_ON_RELEASE_CODES,
            ),
        }
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([values.get(column, "") for column in COLUMNS])
    return out.getvalue()
