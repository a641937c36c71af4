"""The `ndtms` command line itself: what it loads to start, its dates, its tables."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from ndtms_apps.cli import every_command_parser
from ndtms_apps.cli.catalogue import COMMANDS
from ndtms_apps.cli.dates import day
from ndtms_apps.cli.quality import closing_line
from ndtms_apps.cli.tables import render
from ndtms_apps.pages.rules_document import ERASED_SUMMARY

# What a command that does not need them must not pay for at start-up (about 1 s between them).
HEAVY = ("confluent_kafka", "pydantic_settings", "httpx", "fastapi", "sqlalchemy", "rich", "fastavro")


def loaded_for(argv: list[str]) -> list[str]:
    """The heavy modules imported by reading this command line (in a fresh interpreter)."""
    probe = (
        "import json, sys\n"
        "from ndtms_apps.cli import build_parser\n"
        f"build_parser({argv!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    found: list[str] = json.loads(out)
    return found


def test_the_command_list_loads_no_command() -> None:
    assert loaded_for([]) == []
    assert loaded_for(["--help"]) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_reading_any_command_line_loads_nothing_heavy(name: str) -> None:
    assert loaded_for([name, "--help"]) == []


def test_the_catalogue_names_exactly_what_each_group_registers() -> None:
    parser = every_command_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == list(COMMANDS)
    for name, entry in COMMANDS.items():
        registered = argparse.ArgumentParser()
        group_sub = registered.add_subparsers()
        importlib.import_module(f"ndtms_apps.cli.{entry.group}").register(group_sub)
        assert name in group_sub.choices, f"{entry.group} does not register {name}"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("2025-03-31", date(2025, 3, 31)),
        ("2024-02-29", date(2024, 2, 29)),
        ("2024-02-30", "there is no 30 February 2024"),
        ("2023-02-29", "there is no 29 February 2023: 2023 is not a leap year"),
        ("2024-13-01", "months run from 01 to 12"),
        (
            "31/03/2025",
            "'31/03/2025' is written day first: write it as YYYY-MM-DD (2025-03-31 if 31 is the day)",
        ),
        ("3/4/2025", "(2025-04-03 if 3 is the day)"),
        ("yesterday", "'yesterday' is not a date: write it as YYYY-MM-DD"),
        ("2025-03-31T00:00:00", "is not a date: write it as YYYY-MM-DD"),
    ],
)
def test_one_date_type_in_the_contracts_words(text: str, answer: date | str) -> None:
    if isinstance(answer, date):
        assert day(text) == answer
    else:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            day(text)
        assert answer in str(refused.value)
        assert "fromisoformat" not in str(refused.value)


def test_a_bad_date_on_the_command_line_is_refused_in_words() -> None:
    for argv in (["indicator", "--today", "2024-02-30"], ["audit", "--since", "2024-02-30"]):
        run = subprocess.run(
            [str(Path(sys.executable).parent / "ndtms"), *argv], capture_output=True, text=True, check=False
        )
        assert run.returncode == 2
        assert "there is no 30 February 2024" in run.stderr and "fromisoformat" not in run.stderr


HEAD = ["group", "rate", "rate_without_confirmed", "engaged_window_open", "engaged_by_confirmed_match"]


def rows(count: int, width: int = 6) -> list[list[str]]:
    return [[f"P{n:04d}", *(str(n * 7).rjust(width, "9") for _ in HEAD[1:])] for n in range(count)]


def test_a_table_that_fits_is_one_line_of_headers() -> None:
    lines = render(HEAD[:2], rows(3)[:3], width=120)
    assert lines[0].split() == HEAD[:2] and len(lines) == 4


def test_a_wide_table_wraps_its_headers_after_underscores_and_keeps_the_names() -> None:
    lines = render(HEAD, rows(3), width=60)
    assert max(len(line) for line in lines) <= 60
    header = lines[: len(lines) - 3]
    # Reading each column's pieces top to bottom gives back the JSON name.
    columns: dict[int, str] = {}
    for line in header:
        for piece in line.split():
            end = line.index(piece) + len(piece)
            columns[end] = columns.get(end, "") + piece
    assert sorted(columns.values()) == sorted(HEAD)
    assert lines[-1].split()[0] == "P0002"


def test_a_table_too_wide_even_wrapped_is_split_into_blocks_that_repeat_the_first_column() -> None:
    head = ["group", *(f"measure_{n}" for n in range(30))]
    body = [["national", *("12345" for _ in head[1:])], ["E09000033", *("7" for _ in head[1:])]]
    lines = render(head, body, width=120)
    assert max(len(line) for line in lines) <= 120
    blocks = "\n".join(lines).split("\n\n")
    assert len(blocks) > 1
    for block in blocks:
        assert block.splitlines()[-2].startswith("national") and block.splitlines()[-1].startswith(
            "E09000033"
        )
    wide = render(head, body, wide=True)
    assert len(wide) == 3 and wide[0].split() == head


@pytest.mark.parametrize(
    ("rules", "says", "never"),
    [
        ({"DAT002"}, "open until a corrected revision of its episode is accepted.", "ERA001"),
        ({"ERA001"}, "ERA001: the client was erased at their objection", "corrected revision"),
        ({"DAT002", "ERA001"}, "accepted, except ERA001: the client was erased", "has not objected"),
    ],
)
def test_the_closing_line_of_dq_fits_the_findings_shown(rules: set[str], says: str, never: str) -> None:
    line = closing_line(rules)
    assert says in line and never not in line


def test_the_erasure_rule_says_what_it_means() -> None:
    assert not ERASED_SUMMARY.startswith("The client has not objected")
    assert "erasure ledger" in ERASED_SUMMARY


def test_an_unreachable_broker_is_one_line_in_words_and_no_library_noise() -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens there
        "NDTMS_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1",
    }
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ndtms"), "dq"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 2
    # librdkafka's own lines (`%3|...|FAIL|...`) went to the terminal before; now through logging.
    assert run.stderr.splitlines() == [
        "ndtms dq: the Kafka cluster at 127.0.0.1:1 does not answer "
        "(Failed to get metadata: Local: Broker transport failure)"
    ]


def test_tail_help_names_every_topic_it_takes() -> None:
    ndtms = str(Path(sys.executable).parent / "ndtms")
    shown = subprocess.run([ndtms, "tail", "--help"], capture_output=True, text=True, check=True).stdout
    for short in ("raw", "valid", "errors", "journeys", "links", "dlq", "audit", "erasures", "candidates"):
        assert short in shown, short
    assert "decisions" in " ".join(shown.split())


def test_a_local_cluster_is_not_asked_for_beside_a_configured_one(tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "NDTMS_STATE_DIR": str(tmp_path)}
    ndtms = str(Path(sys.executable).parent / "ndtms")
    run = subprocess.run(
        [ndtms, "up", "--brokers", "3"], capture_output=True, text=True, env=env, check=False
    )
    assert run.returncode == 2
    assert "--brokers starts a local cluster, but KAFKA_BOOTSTRAP_SERVERS points at 127.0.0.1:1" in run.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing recorded
