"""Operating a live platform: commands that finish while records keep arriving, and a past
quarter's indicator exactly as the 21-day rule says it stood on its last day."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ndtms.continuity.indicator import COLUMNS
from ndtms_apps.feeds.synthetic import community_episode, prison_release
from tests.e2e.pipeline import Ndtms, on_day, someone, wait_for, write_jsonl

pytestmark = pytest.mark.broker

A_DAY = timedelta(days=1)


class Busy:
    """One bad update and one audited journey query every 0.2 s, until stopped."""

    def __init__(self, ndtms: Ndtms, provider: str, vendor_key: str):
        self.stop = threading.Event()
        self.sent = 0
        settings = ndtms.settings
        ingest = f"http://{settings.service_host}:{settings.ingest_port}/v1/episodes"
        journeys = f"http://{settings.service_host}:{settings.journey_port}/v1/journeys?provider={provider}"
        operator = (settings.state_dir / "operator.key").read_text().strip()
        who = someone(2401)

        def work() -> None:
            with httpx.Client(timeout=30) as client:
                while not self.stop.is_set():
                    bad = community_episode(who, provider, f"BUSY-{self.sent}", date(2024, 3, 6), None)
                    bad["triage_date"] = "2024-03-01"  # before the referral: DAT002
                    client.post(ingest, json=bad, headers={"Authorization": f"Bearer {vendor_key}"})
                    client.get(journeys, headers={"Authorization": f"Bearer {operator}"})  # audited
                    self.sent += 1
                    self.stop.wait(0.2)

        self.thread = threading.Thread(target=work, daemon=True)

    def __enter__(self) -> Busy:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)


def test_dq_audit_and_the_indicator_finish_while_records_keep_arriving(ndtms: Ndtms, tmp_path: Path) -> None:
    issued = json.loads(
        ndtms("credentials", "issue", "--name", "Busy vendor", "--provider", "CMTY240", "--json").stdout
    )
    with Busy(ndtms, "CMTY240", issued["key"]) as busy:
        wait_for(ndtms, "errors", "CMTY240/BUSY-0", lambda r: bool(r["value"]["findings"]))
        for command in (
            ("dq", "--provider", "CMTY240"),
            ("audit", "--json"),
            ("indicator",),
            ("tail", "errors", "--to-end"),
        ):
            before = busy.sent
            # With "read until quiet" these never ended while the platform was busy.
            run = ndtms(*command, timeout=90)
            assert busy.sent > before, "the platform was not busy while the command ran"
            assert not re.search(r"^%\d\|", run.stderr, re.MULTILINE), run.stderr  # librdkafka's own lines
            if command[0] == "dq":
                assert "BUSY-0 (revision 1) triage_date" in run.stdout
            if command[0] == "audit":
                events = json.loads(run.stdout)["events"]
                assert any(e["action"] == "journeys_listed" for e in events), events[-5:]


def test_a_past_quarter_is_reported_as_it_stood_on_its_last_day(ndtms: Ndtms, tmp_path: Path) -> None:
    day = ndtms.today() - timedelta(days=40)
    # (days from the day to the exit, [(triage, structured start) relative to the day])
    cases: list[tuple[int, list[tuple[int, int | None]]]] = [
        (-30, [(-26, -25)]),  # engaged, window closed before the day
        (-30, []),  # not engaged, decided
        (-10, []),  # window open on the day; not engaged since
        (-10, [(4, 5)]),  # engaged after the day: pending on it
        (-10, [(-5, 3)]),  # triaged before the day, engaged after: triaged, window open
        (-21, []),  # the window ends on the day: still pending
        (-22, []),  # the window ended the day before: decided
        (-10, [(0, 0)]),  # engaged on the day itself
        (-10, [(1, None)]),  # triaged only after the day
    ]
    records, expected = [], Counter[str]()
    for n, (exit_offset, contacts) in enumerate(cases):
        who = someone(2410 + n)
        exit_date = day + timedelta(days=exit_offset)
        dated = [
            (day + timedelta(days=t), None if s is None else day + timedelta(days=s)) for t, s in contacts
        ]
        records.append(prison_release(who, "PRISON24", f"Q{n}", exit_date))
        records += [community_episode(who, "CMTY241", f"Q{n}-{i}", t, s) for i, (t, s) in enumerate(dated)]
        expected[on_day(exit_date, dated, day)] += 1
    ndtms("publish", str(write_jsonl(tmp_path / "quarter.jsonl", records)))
    for n, (_, contacts) in enumerate(cases):
        # Linked, and engaged or triaged where the feed says so (the last contact has arrived).
        contacted = bool(contacts)

        def linked(record: dict[str, Any], contacted: bool = contacted) -> bool:
            return record["value"] is not None and (not contacted or record["value"]["status"] != "pending")

        wait_for(ndtms, "links", f"PRISON24/Q{n}", linked)

    def row(*when: str) -> dict[str, int]:
        printed = json.loads(ndtms("indicator", "--by", "prison", "--json", *when).stdout)
        [found] = [r for r in printed["rows"] if r["group"] == "PRISON24"]
        return {column: found[column] for column in COLUMNS}

    assert row("--today", day.isoformat()) == {column: expected[column] for column in COLUMNS}
    assert sum(expected.values()) == len(cases)
    # Reported today, the same releases have moved on: the past day was not read off today's status.
    assert row() != row("--today", day.isoformat())
    assert row()["engaged"] == 4 and row()["pending"] == 0


def test_tail_says_it_is_waiting_and_how_to_read_what_is_there(ndtms: Ndtms) -> None:
    followed = ndtms("tail", "errors", "--idle-timeout", "1")
    assert followed.stderr.splitlines()[0] == (
        "Waiting for new records on ndtms.episodes.errors (Ctrl-C to stop); "
        "`ndtms tail errors --from-beginning` prints what is already there."
    )
    assert "Waiting" not in ndtms("tail", "errors", "--to-end").stderr
