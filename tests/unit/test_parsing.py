"""Shape validation: every bad input gets a precise problem with its place."""

from __future__ import annotations

import json

import pytest

from ndtms_contract.parsing import (
    Parsed,
    parse_jsonl,
    parse_line,
    parse_object,
    reject_duplicates,
    whole_batch,
)
from tests.builders import community


def line(data: object) -> bytes:
    return json.dumps(data).encode()


def test_a_valid_line_parses() -> None:
    parsed = parse_line(1, line(community()))
    assert parsed.accepted and parsed.update is not None and parsed.update.revision == 1


def test_a_byte_order_mark_before_the_first_line_is_not_data() -> None:
    # Files saved on Windows often start with one; HTTP and CSV extracts accept them too.
    lines = [b"\xef\xbb\xbf" + line(community()) + b"\r\n", line(community(episode_id="E2")) + b"\r\n"]
    parsed = list(parse_jsonl(lines))
    assert [p.accepted for p in parsed] == [True, True]
    # Only at the very start: the same bytes inside the file are not silently dropped.
    [inside] = list(parse_jsonl([b"\n", b"\xef\xbb\xbf" + line(community())]))
    assert not inside.accepted and inside.position == 2


BAD_LINES = [
    (b'{"provider_id": "P1", ', "$", "invalid JSON"),
    (b"\xff\xfe{}", "$", "not UTF-8"),
    (b"[1, 2]", "$", "JSON object"),
    (b"[" * 1200 + b"]" * 1200, "$", "nested too deeply"),
    (line(community(referral_date="2024-02-30")), "referral_date", "there is no 30 February 2024"),
    (line(community(referral_date="2023-02-29")), "referral_date", "2023 is not a leap year"),
    (line(community(referral_date="2024-13-01")), "referral_date", "months run from 01 to 12"),
    (line(community(referral_date=1709251200)), "referral_date", "got a number; expected a date, YYYY-MM-DD"),
    (line(community(revision="2")), "revision", "got '2'; expected a whole number"),
    (line(community(revision=1.5)), "revision", "expected a whole number"),
    (line(community(revision=0)), "revision", "revisions start at 1"),
    (line(community(setting="hospital")), "setting", "got 'hospital'; expected 'community' or 'secure'"),
    (line(community(client={"sex": "m"})), "client.sex", "got 'm'; expected 'male'"),
    (
        line(
            community(
                interventions=[{"intervention_id": "I", "type": "pharmacological", "start_date": "1/3/2024"}]
            )
        ),
        "interventions[0].start_date",
        "write it as YYYY-MM-DD",
    ),
    (line(community(recorded_at="2024-03-01T10:00:00")), "recorded_at", "with its offset"),
    (line(community(recorded_at="2024-03-01 10:00:00Z")), "recorded_at", "with its offset"),
    (line(community(colour="blue")), "colour", "not part of the contract"),
    (line(community(client=...)), "client", "required unless the update is a withdrawal"),
    (line(community(custody={"reception_date": "2024-01-01"})), "custody", "only recorded for a secure"),
    (line(community(deleted="no")), "deleted", "got 'no'; expected true or false"),
    (line(community(provider_id="P/1")), "provider_id", "letters (A-Z, a-z), digits, '_', '.' or '-'"),
]


@pytest.mark.parametrize(("raw", "path", "words"), BAD_LINES)
def test_problems_say_what_and_where(raw: bytes, path: str, words: str) -> None:
    parsed = parse_line(7, raw)
    assert not parsed.accepted and parsed.position == 7
    assert any(p.path == path and words in p.message for p in parsed.problems), parsed.problems


@pytest.mark.parametrize(("raw", "path", "words"), BAD_LINES)
def test_no_problem_has_an_empty_path_or_a_library_prefix(raw: bytes, path: str, words: str) -> None:
    for problem in parse_line(1, raw).problems:
        assert problem.path and not problem.message.startswith(("Value error", "Input should"))


@pytest.mark.parametrize(
    "changed",
    [
        {"revision": 1.0},  # JSON has one number type: 1.0 is the integer 1
        {"revision": 2e0},
        # The same id twice is the validator's finding INT001, not a shape error.
        {
            "interventions": [
                {"intervention_id": "I", "type": "pharmacological", "start_date": "2024-03-08"},
                {"intervention_id": "I", "type": "psychosocial", "start_date": "2024-03-09"},
            ]
        },
    ],
)
def test_what_the_json_schema_allows_is_accepted(changed: dict[str, object]) -> None:
    assert parse_line(1, line(community(**changed))).accepted


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


GOOD_RECORDS: list[dict[str, object]] = [
    community(),
    community(episode_id="E2", revision=1.0),
    {"provider_id": "P1", "episode_id": "E1", "revision": 4, "deleted": True},
    community(episode_id="E3", client={"first_initial": "Ä", "second_initial": "Z", "sex": "female"}),
]


def batch_body(records: list[object]) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode()


def one_by_one(body: bytes) -> list[Parsed]:
    return [parse_object(i, r) for i, r in enumerate(json.loads(body))]


@pytest.mark.parametrize("count", [1, 2, len(GOOD_RECORDS)])
def test_a_batch_of_valid_updates_reads_in_one_pass_as_record_by_record(count: int) -> None:
    body = batch_body(list(GOOD_RECORDS[:count]))
    assert whole_batch(body, max_batch=10) == one_by_one(body)


def test_a_repeated_key_counts_as_record_by_record_does() -> None:
    body = b'[{"provider_id": "P1", "episode_id": "E1", "revision": 4, "revision": 5, "deleted": true}]'
    whole = whole_batch(body, max_batch=10)
    assert whole == one_by_one(body) and whole[0].update is not None and whole[0].update.revision == 5


def _an_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


@pytest.mark.parametrize(("raw", "path", "words"), [b for b in BAD_LINES if _an_object(b[0])])
def test_a_batch_with_any_bad_record_is_left_to_the_record_by_record_reading(
    raw: bytes, path: str, words: str
) -> None:
    body = b"[" + json.dumps(community(episode_id="OK")).encode() + b"," + raw + b"]"
    assert whole_batch(body, max_batch=10) is None
    first, second = one_by_one(body)
    assert first.accepted and not second.accepted


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(community()).encode(),  # one object, not a batch
        b"[]",
        batch_body([community(episode_id=f"E{n}") for n in range(11)]),  # over the limit
        b"[1]",
        b"[",
        b"\xff[]",
    ],
)
def test_anything_but_a_batch_within_the_limit_is_left_to_the_full_reading(body: bytes) -> None:
    assert whole_batch(body, max_batch=10) is None
