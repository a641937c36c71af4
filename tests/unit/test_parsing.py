"""Shape validation: every bad input gets a precise problem with its place."""

from __future__ import annotations

import json

import pytest

from services.ingest.parsing import parse_jsonl, parse_line, reject_duplicates
from tests.builders import community


def line(data: object) -> bytes:
    return json.dumps(data).encode()


def test_a_valid_line_parses() -> None:
    parsed = parse_line(1, line(community()))
    assert parsed.accepted and parsed.update is not None and parsed.update.revision == 1


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        (b'{"provider_id": "P1", ', "", "invalid JSON"),
        (b"\xff\xfe{}", "", "not UTF-8"),
        (b"[1, 2]", "", "JSON object"),
        (line(community(referral_date="2024-02-30")), "referral_date", "YYYY-MM-DD"),
        (line(community(revision="2")), "revision", "integer"),
        (line(community(revision=0)), "revision", "greater than or equal to 1"),
        (line(community(setting="hospital")), "setting", "'community' or 'secure'"),
        (line(community(client={"sex": "m"})), "client.sex", "expected"),
        (
            line(
                community(
                    interventions=[
                        {"intervention_id": "I", "type": "pharmacological", "start_date": "1/3/2024"}
                    ]
                )
            ),
            "interventions[0].start_date",
            "YYYY-MM-DD",
        ),
        (line(community(recorded_at="2024-03-01T10:00:00")), "recorded_at", "offset"),
        (line(community(colour="blue")), "colour", "not part of the contract"),
        (line(community(client=...)), "", "client"),
        (line(community(custody={"reception_date": "2024-01-01"})), "", "secure"),
        (line(community(deleted="no")), "deleted", "boolean"),
        (line(community(provider_id="P/1")), "provider_id", "pattern"),
    ],
)
def test_problems_say_what_and_where(raw: bytes, path: str, words: str) -> None:
    parsed = parse_line(7, raw)
    assert not parsed.accepted and parsed.position == 7
    assert any(p.path == path and words in p.message for p in parsed.problems), parsed.problems


def test_a_withdrawal_needs_only_its_identity() -> None:
    assert parse_line(
        1, line({"provider_id": "P1", "episode_id": "E1", "revision": 4, "deleted": True})
    ).accepted


def test_blank_lines_are_skipped_and_lines_are_numbered_from_one() -> None:
    parsed = list(parse_jsonl([line(community()), b"\n", b"  \n", line(community(revision=2))]))
    assert [p.position for p in parsed] == [1, 4]


def test_duplicates_in_one_submission_are_refused_after_the_first() -> None:
    parsed = list(
        reject_duplicates(parse_jsonl([line(community()), line(community()), line(community(revision=2))]))
    )
    assert [p.accepted for p in parsed] == [True, False, True]
    assert "duplicate of line 1" in parsed[1].problems[0].message
