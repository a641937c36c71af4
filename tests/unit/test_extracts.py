"""CSV extracts: the column mapping, file and row errors, and revisions derived from content."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingest.extracts import COLUMNS, BadExtract, Change, Held, csv_row, plan, rows

RECORDED = datetime(2024, 6, 1, tzinfo=UTC)
HEADER = (
    "AGNCY,EPISODID,SETTING,FINITIAL,SINITIAL,DOB,SEX,LA,CONSENT,REFLD,TRIAGED,PSYCHSTART,"
    "DISD,DISRSN,RECEPTD,PRISEXIT,EXITRSN,EXITLA,REFREL"
)
COMMUNITY = "CMTY001,CE1,C,A,B,02/03/1985,1,E09000033,Y,2024-03-05,2024-03-06,2024-03-08,,,,,,,"
PRISON = (
    "CMTY001,EP1,S,A,B,1985-03-02,1,E09000033,Y,2023-11-01,2023-11-02,,"
    "2024-03-01,83,2023-11-01,2024-03-01,1,E09000033,1"
)


def read(*lines: str, provider: str = "CMTY001") -> list:  # type: ignore[type-arg]
    return list(rows([line.encode() for line in lines], provider, RECORDED))


def test_columns_map_to_the_contract() -> None:
    [(_, community), (_, prison)] = read(HEADER, COMMUNITY, PRISON)
    assert community.accepted and prison.accepted
    c = community.update
    assert c.client.date_of_birth.isoformat() == "1985-03-02" and c.client.sex.value == "male"
    assert [(i.type.value, i.start_date.isoformat()) for i in c.interventions] == [
        ("psychosocial", "2024-03-08")
    ]
    p = prison.update
    assert p.discharge_reason.value == "transferred_not_in_custody"
    assert (
        p.custody.exit_reason.value == "released"
        and p.custody.referral_on_release.value == "structured_treatment"
    )
    assert c.recorded_at == RECORDED


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((), "the file is empty"),
        (("",), "the file is empty"),
        (("AGNCY,EPISODID",), "missing column(s) SETTING, FINITIAL"),
        ((HEADER + ",COLOUR",), "unknown column(s) COLOUR"),
        ((HEADER + ",DOB",), "DOB appear more than once"),
        ((HEADER.replace(",", ";"),), "separated by semicolons; the separator must be a comma"),
        ((HEADER.replace(",", "\t"),), "separated by tabs; the separator must be a comma"),
    ],
)
def test_a_header_that_cannot_be_read_rejects_the_file(lines: tuple[str, ...], message: str) -> None:
    with pytest.raises(BadExtract, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(*lines)


def test_row_problems_name_the_row_and_the_column() -> None:
    short = "CMTY001,CE2,C"
    other = COMMUNITY.replace("CMTY001", "CMTY009", 1)
    found = read(HEADER, short, other)
    problems = {number: parsed.problems for number, parsed in found}
    assert "the row has 3 fields; the header has 19" in problems[2][0].message
    assert problems[3][0].path == "AGNCY" and "not 'CMTY001'" in problems[3][0].message


def cell(column: str, value: str, row: str = COMMUNITY) -> str:
    """The row with one column's cell replaced."""
    cells = row.split(",")
    cells[HEADER.split(",").index(column)] = value
    return ",".join(cells)


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (cell("SEX", "7"), "SEX", "SEX=7: expected 1 (male), 2 (female), 3 (other) or 9 (not known)"),
        (cell("CONSENT", "maybe"), "CONSENT", "CONSENT=maybe: expected Y or N"),
        (cell("DOB", ""), "DOB", "DOB is empty: required, a date, DD/MM/YYYY or YYYY-MM-DD"),
        (cell("REFLD", "2024-02-30"), "REFLD", "REFLD=2024-02-30: there is no 30 February 2024"),
        (cell("REFLD", "29/02/2023"), "REFLD", "REFLD=29/02/2023: there is no 29 February 2023: 2023 is not"),
        (cell("DOB", "1985-3-2"), "DOB", "DOB=1985-3-2: expected a date, DD/MM/YYYY or YYYY-MM-DD"),
        (cell("SETTING", "X"), "SETTING", "SETTING=X: expected C (community) or S (secure)"),
        (cell("SETTING", ""), "SETTING", "SETTING is empty: required, C (community) or S (secure)"),
        (cell("DISRSN", "99"), "DISRSN", "DISRSN=99: expected a discharge reason code, 80 to 89"),
        (cell("PSYCHSTART", "31/04/2024"), "PSYCHSTART", "PSYCHSTART=31/04/2024: there is no 31 April 2024"),
        (cell("EPISODID", "C E1"), "EPISODID", "EPISODID=C E1: expected 1 to 40 letters, digits, '_', '.'"),
        (cell("EXITRSN", "1"), "EXITRSN", "EXITRSN are only for SETTING=S"),
    ],
)
def test_row_problems_are_in_the_extracts_words(row: str, column: str, message: str) -> None:
    [(_, parsed)] = read(HEADER, row)
    [problem] = parsed.problems
    assert problem.path == column
    assert problem.message.startswith(message)
    assert "(client." not in problem.message and "Value error" not in problem.message


def test_non_utf8_row_is_rejected_and_the_rest_read() -> None:
    lines = [HEADER.encode(), COMMUNITY.replace("A,B", "\xe9,B").encode("latin-1"), PRISON.encode()]
    found = list(rows(lines, "CMTY001", RECORDED))
    assert "the row is not UTF-8" in found[0][1].problems[0].message and found[1][1].accepted


def test_revisions_come_from_content() -> None:
    [(_, parsed)] = read(HEADER, COMMUNITY)
    first = plan(parsed, None)
    assert first.change is Change.NEW and first.parsed.update is not None
    assert first.parsed.update.revision == 1
    assert first.digest is not None
    held = Held(1, first.digest)
    again = plan(parsed, held)
    assert again.change is Change.UNCHANGED
    [(_, later)] = list(
        rows([HEADER.encode(), COMMUNITY.encode()], "CMTY001", datetime(2025, 1, 1, tzinfo=UTC))
    )
    assert plan(later, held).change is Change.UNCHANGED  # recorded_at alone is not a change
    [(_, changed)] = read(HEADER, COMMUNITY.replace("2024-03-08", "2024-03-09"))
    moved = plan(changed, held)
    assert moved.change is Change.CHANGED and moved.parsed.update is not None
    assert moved.parsed.update.revision == 2


@pytest.mark.parametrize(
    ("consented_before", "consent_now", "change"),
    [
        (True, "N", Change.OBJECTED),  # withdrawn: the client's objection, not a new revision
        (True, "Y", Change.UNCHANGED),
        (False, "N", Change.UNCHANGED),  # never consented: the validator refused it already (ATT006)
        (None, "N", Change.CHANGED),  # published before consents were kept: not known to be withdrawn
        (False, "Y", Change.CHANGED),
    ],
)
def test_consent_withdrawn_in_an_extract_is_an_objection(
    consented_before: bool | None, consent_now: str, change: Change
) -> None:
    before = COMMUNITY if consented_before in (True, None) else COMMUNITY.replace(",Y,", ",N,")
    [(_, first)] = read(HEADER, before)
    digest = plan(first, None).digest
    assert digest is not None
    [(_, now)] = read(HEADER, COMMUNITY.replace(",Y,", f",{consent_now},"))
    assert plan(now, Held(1, digest, consented_before)).change is change


def test_an_update_written_as_a_row_reads_back_the_same() -> None:
    [(_, community), (_, prison)] = read(HEADER, COMMUNITY, PRISON)
    for parsed in (community, prison):
        assert parsed.update is not None
        [(_, again)] = list(
            rows([",".join(COLUMNS).encode(), csv_row(parsed.update).encode()], "CMTY001", RECORDED)
        )
        assert again.update == parsed.update
