"""Shape validation of episode updates: one path for files, HTTP bodies and the client library.

Every problem names where it is (line or index, then the JSON path) and what to do. NDTMS
business rules are not checked here; that is the validator's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ndtms_contract.episodes import EpisodeUpdate, SnapshotIncomplete
from ndtms_contract.explanations import explain, json_type


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class Parsed:
    """One input record: its position (1-based line, or 0-based index in a batch) and outcome."""

    position: int
    update: EpisodeUpdate | None
    problems: tuple[Problem, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.update is not None and not self.problems


def json_path(location: Iterable[int | str]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def problems_of(error: ValidationError) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    for detail in error.errors(include_url=False):
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, SnapshotIncomplete):
            prefix = json_path(detail["loc"])
            problems.extend(
                Problem(f"{prefix}.{path}" if prefix else path, message)
                for path, message in cause.problems.items()
            )
            continue
        problems.append(Problem(json_path(detail["loc"]) or "$", explain(detail)))
    return tuple(problems)


_BATCH = TypeAdapter(list[EpisodeUpdate])


def whole_batch(body: bytes, max_batch: int) -> list[Parsed] | None:
    """A JSON array of 1 to `max_batch` updates, every one valid, read in one pass; None when it
    is anything else, which `parse_object` then reads record by record for its problems.

    The same model, strict, as `parse_object`: only the route differs. Decoding the body, then
    encoding each record again to validate it as JSON, was most of a batch's time (#27)."""
    try:
        updates = _BATCH.validate_json(body, strict=True)
    except (ValidationError, ValueError, RecursionError):
        return None
    if not 1 <= len(updates) <= max_batch:
        return None
    return [Parsed(index, update) for index, update in enumerate(updates)]


def parse_object(position: int, data: Any) -> Parsed:
    if isinstance(data, _InvalidJson):
        return Parsed(position, None, (Problem("$", data.message),))
    if not isinstance(data, dict):
        return Parsed(position, None, (Problem("$", f"got {json_type(data)}; expected an update object"),))
    try:
        # Strict: no silent coercion ("1" is not a revision, 1 is not a boolean), while
        # ISO strings still parse as dates and instants, as in any JSON body.
        update = EpisodeUpdate.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        return Parsed(position, None, problems_of(exc))
    except (RecursionError, ValueError):
        # json.dumps of a value nested a thousand deep, or a float it cannot write (1e400).
        return Parsed(
            position,
            None,
            (Problem("$", "not an update object: nested too deeply or a number out of range"),),
        )
    return Parsed(position, update)


def parse_line(position: int, line: bytes) -> Parsed:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Parsed(
            position, None, (Problem("$", f"not UTF-8 (byte {exc.start}); save the file as UTF-8"),)
        )
    try:
        return Parsed(position, EpisodeUpdate.model_validate_json(text, strict=True))
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return parse_object(position, _loads_for_message(text))
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            return Parsed(position, None, (Problem("$", "expected a JSON object for each line"),))
        return Parsed(position, None, problems_of(exc))


def _loads_for_message(text: str) -> Any:
    # Only reached for broken JSON: re-parse with the json module for its precise message.
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return _InvalidJson(f"invalid JSON at column {exc.colno}: {exc.msg}")
    except RecursionError:
        return _InvalidJson("arrays or objects nested too deeply: each line is one update object")


@dataclass(frozen=True)
class _InvalidJson:
    message: str


UTF8_BOM = b"\xef\xbb\xbf"


def parse_jsonl(lines: Iterable[bytes]) -> Iterator[Parsed]:
    """Every non-blank line of a JSONL file, numbered from 1."""
    for number, line in enumerate(lines, start=1):
        # Files saved on Windows often start with a byte order mark; it is not part of the data.
        data = line.removeprefix(UTF8_BOM) if number == 1 else line
        if data.strip():
            yield parse_line(number, data.rstrip(b"\r\n"))


def reject_duplicates(parsed: Iterable[Parsed], unit: str = "line") -> Iterator[Parsed]:
    """The same (provider, episode, revision) twice in one submission: the repeats are refused."""
    seen: dict[tuple[str, str, int], int] = {}
    for item in parsed:
        if item.update is not None and not item.problems:
            identity = (item.update.provider_id, item.update.episode_id, item.update.revision)
            if identity in seen:
                yield Parsed(
                    item.position,
                    None,
                    (
                        Problem(
                            "revision",
                            f"duplicate of {unit} {seen[identity]} (same episode and revision); "
                            "send each revision once, with a higher revision for a change",
                        ),
                    ),
                )
                continue
            seen[identity] = item.position
        yield item
