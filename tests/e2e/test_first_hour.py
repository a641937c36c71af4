"""A new vendor's and a new operator's first hour, as the README walks them through it.

Everything here is what a person reads: the answers of the HTTP API, what `ndtms` prints.
Each answer must say what was received, what is expected and what to do, in the words of the
channel (CSV columns and codes for an extract, JSON paths for the API), never a Python value.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from ndtms.continuity.indicator import COLUMNS
from ndtms_apps.cli.indicator import TABLE
from ndtms_apps.feeds.synthetic import community_episode
from tests.e2e.pipeline import NDTMS, Ndtms, someone, wait_for, write_jsonl
from tests.unit.test_extracts import HEADER

pytestmark = pytest.mark.broker

PYTHON_VALUES = re.compile(r"\[\{|\[\]|\bFalse\b|\bTrue\b|\bNone\b|Value error|Input should")


def readable(text: str) -> str:
    assert not PYTHON_VALUES.search(text), f"a Python value or library message reached a person:\n{text}"
    return text


def test_the_demo_says_what_it_did_and_warns_about_the_development_key(ndtms: Ndtms) -> None:
    # The services run with a real key already; this terminal has none, as on a fresh machine.
    env = {k: v for k, v in ndtms.env.items() if k != "NDTMS_PSEUDONYM_KEY"}
    demo = subprocess.run(
        [NDTMS, "demo", "--people", "3", "--wait", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert "Continuity of care" in readable(demo.stdout)
    assert demo.stderr.count("WARNING: NDTMS_PSEUDONYM_KEY is not set") == 1, demo.stderr
    assert "NDTMS_PSEUDONYM_KEY" not in ndtms("up").stderr  # a real key: no warning


def test_keys_are_issued_in_words(ndtms: Ndtms) -> None:
    issued = ndtms("credentials", "issue", "--name", "Ops C", "--operations").stdout
    [_, roles, _] = issued.splitlines()
    assert readable(roles) == "  providers: -; operations role: yes"
    listed = readable(ndtms("credentials", "list").stdout)
    assert re.search(r"Ops C\s+yes", listed), listed


def test_status_watch_piped_prints_a_reading_per_interval(ndtms: Ndtms) -> None:
    watching = subprocess.Popen(
        [NDTMS, "status", "--watch", "--interval", "1"], env=ndtms.env, stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(12)
    finally:
        watching.terminate()
    out, _ = watching.communicate(timeout=30)
    assert out.count("reading at") >= 2, out


def test_a_vendor_reads_what_to_fix(ndtms: Ndtms, tmp_path: Path) -> None:
    issued = json.loads(
        ndtms("credentials", "issue", "--name", "Vendor B", "--provider", "CMTY021", "--json").stdout
    )
    auth = {"Authorization": f"Bearer {issued['key']}"}
    url = f"http://127.0.0.1:{ndtms.settings.ingest_port}"
    who = someone(21)
    good = community_episode(who, "CMTY021", "FIRST-1", date(2024, 3, 6), date(2024, 3, 8))
    wrong = {**good, "episode_id": "FIRST-2", "referral_date": "2024-02-30", "revision": 0}
    answer = httpx.post(f"{url}/v1/episodes", json=[good, wrong], headers=auth, timeout=30)
    assert answer.status_code == 207
    problems = {p["path"]: p["message"] for p in answer.json()["results"][1]["problems"]}
    assert problems["referral_date"] == "there is no 30 February 2024"
    assert problems["revision"].startswith("got 0; revisions start at 1")
    readable(json.dumps(problems))

    refused = httpx.post(f"{url}/v1/extracts", content=b"AGNCY\n", headers=auth, timeout=30)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"path": "query.provider", "message": "is required"}]

    extract = tmp_path / "march.csv"
    row = "CMTY021,FIRST-3,C,A,B,02/03/1985,7,E09000033,maybe,,2024-03-06,2024-03-08,,,,,,,"
    extract.write_text(f"{HEADER}\n{row}\n")
    printed = ndtms("publish", str(extract), "--provider", "CMTY021", check=False)
    assert printed.returncode == 1
    out = readable(printed.stdout)
    assert "row 2: SEX=7: expected 1 (male), 2 (female), 3 (other) or 9 (not known)" in out
    assert "row 2: CONSENT=maybe: expected Y or N" in out
    assert "row 2: REFLD is empty: required, a date, DD/MM/YYYY or YYYY-MM-DD" in out

    lines = ndtms(
        "publish", str(write_jsonl(tmp_path / "b.jsonl", [{**good, "setting": "moon"}])), check=False
    )
    assert "line 1: setting: got 'moon'; expected 'community' or 'secure'" in readable(lines.stdout)


def test_an_operator_finds_the_finding_and_the_person(ndtms: Ndtms, tmp_path: Path) -> None:
    who = someone(22)
    good = community_episode(who, "CMTY022", "OPS-1", date(2024, 3, 6), date(2024, 3, 8))
    broken = {**good, "episode_id": "OPS-2", "triage_date": "2024-03-01"}  # triage before referral
    ndtms("publish", str(write_jsonl(tmp_path / "ops.jsonl", [good, broken])))
    wait_for(ndtms, "errors", "CMTY022/OPS-2", lambda r: bool(r["value"]["findings"]))
    dq = readable(ndtms("dq", "--provider", "CMTY022").stdout)
    assert "DAT002 error, 1 episode(s): Triage is not before referral." in dq
    assert re.search(r"OPS-2 \(revision 1\) triage_date: .*before the referral", dq), dq

    shown = ndtms("journeys", "show", "--provider", "CMTY022", "--episode", "OPS-1", check=False)
    deadline = time.monotonic() + 60
    while shown.returncode != 0 and time.monotonic() < deadline:  # the journey service is asynchronous
        time.sleep(1)
        shown = ndtms("journeys", "show", "--provider", "CMTY022", "--episode", "OPS-1", check=False)
    assert "CMTY022/OPS-1" in readable(shown.stdout), shown.stderr
    unknown = ndtms("journeys", "show", "--provider", "CMTY022", "--episode", "NOPE", check=False)
    assert unknown.returncode == 2 and "no accepted episode CMTY022/NOPE" in unknown.stderr

    status = readable(ndtms("status").stdout)
    services = status.split("topics")[0]
    # Rates come from two readings a second apart: a number, never "-".
    for service in ("ingest", "validator", "journey", "linker"):
        [line] = [ln for ln in services.splitlines() if ln.strip().startswith(("│ " + service, service))]
        assert re.search(r"\d+\.\d", line), line

    fitted = readable(ndtms("indicator").stdout)
    assert max(len(line) for line in fitted.splitlines()[1:]) <= 120, fitted
    table = readable(ndtms("indicator", "--wide").stdout)
    header = next(line for line in table.splitlines() if line.startswith("national"))
    printed = json.loads(ndtms("indicator", "--json").stdout)["national"]
    assert header.split()[1:] == list(TABLE)
    for row in printed:
        assert sum(row[c] for c in COLUMNS) == row["transfers"]
