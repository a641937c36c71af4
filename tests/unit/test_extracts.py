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
    ],
)
def test_a_header_that_cannot_be_read_rejects_the_file(lines: tuple[str, ...], message: str) -> None:
    with pytest.raises(BadExtract, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(*lines)


def test_row_problems_name_the_row_and_the_column() -> None:
    bad_date = COMMUNITY.replace("2024-03-05", "2024-02-30")
    short = "CMTY001,CE2,C"
    other = COMMUNITY.replace("CMTY001", "CMTY009", 1)
    unknown_sex = COMMUNITY.replace(",1,E09", ",7,E09")
    found = read(HEADER, bad_date, short, other, unknown_sex)
    problems = {number: parsed.problems for number, parsed in found}
    assert problems[2][0].path == "REFLD (referral_date)" and "YYYY-MM-DD" in problems[2][0].message
    assert "row 3 has 3 fields; the header has 19" in problems[3][0].message
    assert problems[4][0].path == "AGNCY" and "not 'CMTY001'" in problems[4][0].message
    assert problems[5][0].path == "SEX (client.sex)"


def test_non_utf8_row_is_rejected_and_the_rest_read() -> None:
    lines = [HEADER.encode(), COMMUNITY.replace("A,B", "\xe9,B").encode("latin-1"), PRISON.encode()]
    found = list(rows(lines, "CMTY001", RECORDED))
    assert "row 2 is not UTF-8" in found[0][1].problems[0].message and found[1][1].accepted


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


def test_an_update_written_as_a_row_reads_back_the_same() -> None:
    [(_, community), (_, prison)] = read(HEADER, COMMUNITY, PRISON)
    for parsed in (community, prison):
        assert parsed.update is not None
        [(_, again)] = list(
            rows([",".join(COLUMNS).encode(), csv_row(parsed.update).encode()], "CMTY001", RECORDED)
        )
        assert again.update == parsed.update
