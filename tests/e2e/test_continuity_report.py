"""The companion report end to end: a feed through the pipeline, the report for a past quarter
against the 21-day rule applied by hand, the command, and the page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import sync_playwright

from ndtms_apps.feeds.synthetic import community_episode, prison_release
from ndtms_contract.periods import Quarter
from tests.e2e.pipeline import Ndtms, current_by_key, on_day, records_to_end, someone, write_jsonl

pytestmark = pytest.mark.broker
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WESTMINSTER, BIRMINGHAM, OUTSIDE = "E09000033", "E08000025", "X99999998"
DECIDED = ("engaged", "triaged", "not_engaged")
OPEN = ("engaged_window_open", "triaged_window_open", "pending")


Case = tuple[str, str, date, list[Any]]


def feed(quarter: Quarter, prisons: str, seed: int) -> tuple[list[dict[str, Any]], dict[str, Case]]:
    """Releases around `quarter` from two prisons named `prisons`A and B, by people of their own:
    each case is (prison, destination, exit day, [(triage, start)]), in days after the exit."""
    first, last = quarter.period.start, quarter.period.end
    cases: list[tuple[str, str, date, list[tuple[int, int | None]]]] = [
        ("A", WESTMINSTER, first, [(2, 5)]),  # the quarter's first day: engaged
        ("A", WESTMINSTER, first + timedelta(days=10), [(3, None)]),  # triaged only
        ("A", WESTMINSTER, first + timedelta(days=20), []),  # not engaged
        ("A", WESTMINSTER, last - timedelta(days=10), [(12, 15)]),  # window across the end
        ("A", BIRMINGHAM, last - timedelta(days=5), [(2, None)]),  # triaged before the end
        ("A", BIRMINGHAM, last, [(0, 0)]),  # the last day, engaged that day
        ("A", BIRMINGHAM, first - timedelta(days=1), [(1, 2)]),  # the day before: not counted
        ("A", WESTMINSTER, last + timedelta(days=1), [(1, 2)]),  # the day after: not counted
        ("B", OUTSIDE, first + timedelta(days=40), [(1, 4)]),  # released out of England
        ("B", WESTMINSTER, first + timedelta(days=41), []),
        ("B", WESTMINSTER, first + timedelta(days=42), [(20, 21)]),  # the window's last day
        ("B", WESTMINSTER, first + timedelta(days=43), [(22, 23)]),  # a day too late
    ]
    records: list[dict[str, Any]] = []
    shown: dict[str, Case] = {}
    for n, (letter, la, exit_day, contacts) in enumerate(cases):
        who, prison = someone(seed + n), prisons + letter
        dated = [
            (exit_day + timedelta(days=t), None if s is None else exit_day + timedelta(days=s))
            for t, s in contacts
        ]
        records.append(prison_release(who, prison, f"R{n}", exit_day, destination=la))
        records += [community_episode(who, f"C{prison}", f"R{n}-{i}", t, s) for i, (t, s) in enumerate(dated)]
        shown[f"{prison}/R{n}"] = (prison, la, exit_day, dated)
    return records, shown


def by_hand(
    cases: dict[str, tuple[str, str, date, list[Any]]], quarter: Quarter
) -> dict[tuple[str, str], Counter[str]]:
    """The quarter's releases in each column, judged on its last day, per prison and area."""
    found: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for prison, la, exit_day, dated in cases.values():
        if exit_day in quarter.period:
            found[(prison, la)][on_day(exit_day, dated, quarter.period.end)] += 1
    return found


def status_today(case: Case, today: date) -> str:
    column = on_day(case[2], case[3], today)
    return column.removesuffix("_window_open")


def wait_for_links(ndtms: Ndtms, wanted: Mapping[str, str | None], timeout: float = 120) -> None:
    """Until each transfer's current link has the status wanted (None: no link at all)."""
    deadline = time.monotonic() + timeout
    while True:
        links = current_by_key(records_to_end(ndtms, "links"))
        now = {key: (links[key]["status"] if key in links else None) for key in wanted}
        if now == wanted:
            return
        assert time.monotonic() < deadline, f"links never settled: {now} != {wanted}"
        time.sleep(1)


def rate_of(figures: dict[str, Any]) -> str:
    """A rate as the command and the page print it."""
    return "-" if figures["rate_percent"] is None else f"{figures['rate_percent']:.1f}"


def report(ndtms: Ndtms, **params: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{ndtms.settings.journey_port}/v1/reports/continuity"
    operator = (ndtms.settings.state_dir / "operator.key").read_text().strip()
    answer = httpx.get(url, params=params, headers={"Authorization": f"Bearer {operator}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_a_past_quarter_s_flows_are_the_rule_applied_by_hand(ndtms: Ndtms, tmp_path: Path) -> None:
    today = ndtms.today()
    quarter = Quarter.of(today).previous.previous  # every window of it closed long ago
    records, cases = feed(quarter, "PRISON26", 2600)
    ndtms("publish", str(write_jsonl(tmp_path / "continuity.jsonl", records)))
    withdrawn = "PRISON26B/R10"
    wait_for_links(ndtms, {key: status_today(case, today) for key, case in cases.items()})
    ndtms(
        "publish",
        str(
            write_jsonl(
                tmp_path / "withdrawn.jsonl",
                [{"provider_id": "PRISON26B", "episode_id": "R10", "revision": 2, "deleted": True}],
            )
        ),
    )
    wait_for_links(ndtms, {withdrawn: None})
    del cases[withdrawn]
    expected = by_hand(cases, quarter)
    assert sum(sum(c.values()) for c in expected.values()) == 9  # two outside the quarter, one gone

    def ours(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(f["prison"], f["la"]): f for f in document["flows"] if f["prison"].startswith("PRISON26")}

    deadline = time.monotonic() + 60
    while True:  # the journey service follows ndtms.links within a second or so
        exact = report(ndtms, quarter=str(quarter), exact="true")
        flows = ours(exact)
        if {k: f["transfers"] for k, f in flows.items()} == {k: sum(c.values()) for k, c in expected.items()}:
            break
        assert time.monotonic() < deadline, (flows, expected)
        time.sleep(1)
    assert exact["period"] == {"from": quarter.period.start.isoformat(), "to": quarter.period.end.isoformat()}
    assert exact["judged_on"] == quarter.period.end.isoformat() and exact["figures"] == "exact"
    for pathway, counted in expected.items():
        flow = flows[pathway]
        assert flow["engaged"] == counted["engaged"], pathway
        assert flow["triaged"] == counted["triaged"], pathway
        assert flow["not_engaged"] == counted["not_engaged"], pathway
        assert flow["still_open"] == sum(counted[c] for c in OPEN), pathway
        decided = sum(counted[c] for c in DECIDED)
        assert flow["decided"] == decided, pathway
        assert flow["rate_percent"] == (round(100 * counted["engaged"] / decided, 1) if decided else None)
    assert flows[("PRISON26B", OUTSIDE)]["region"] == "Outside England"
    assert flows[("PRISON26A", BIRMINGHAM)]["la_name"] == "Birmingham"

    # One prison's receiving areas, from the command, as CSV, published: the API's figures.
    asked = ("report", "continuity", "--prison", "PRISON26A", "--quarter", str(quarter))
    printed = ndtms(*asked, "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(printed)))
    published = report(ndtms, prison="PRISON26A", quarter=str(quarter))
    assert published["figures"] == "published"
    assert [(r["la"], r["transfers"], r["rate_percent"]) for r in rows if r["row"] == "flow"] == [
        (f["la"], str(f["transfers"]), rate_of(f)) for f in published["flows"]
    ]
    assert all(r["transfers"] == "<5" for r in rows if r["row"] == "flow")  # small: suppressed
    as_json = json.loads(ndtms(*asked, "--json").stdout)
    assert as_json == published
    assert str(quarter) in ndtms("report", "continuity", "--quarter", str(quarter)).stdout


def test_the_page_picks_a_prison_draws_the_trend_and_downloads_what_it_shows(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    assert CHROMIUM, "Debian's chromium is installed by .ci/run"
    today = ndtms.today()
    quarter = Quarter.of(today).previous.previous
    # Prisons and people of its own, so the page has something to pick whatever ran before.
    records, cases = feed(quarter, "PRISON27", 2700)
    # A prison with the longest name there may be: the picker must not widen a phone's page.
    records.append(prison_release(someone(2799), "P" * 40, "LONG", quarter.period.start))
    cases["P" * 40 + "/LONG"] = ("P" * 40, WESTMINSTER, quarter.period.start, [])
    ndtms("publish", str(write_jsonl(tmp_path / "page.jsonl", records)))
    wait_for_links(ndtms, {key: status_today(case, today) for key, case in cases.items()})
    requested: list[str] = []
    url = f"http://127.0.0.1:{ndtms.settings.journey_port}/reports/continuity"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        for width in (1280, 390):
            page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url)
            page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            deadline = time.monotonic() + 60
            while "PRISON27A" not in page.inner_text("#prison"):
                assert time.monotonic() < deadline, "the prison never appeared in the picker"
                page.reload()
                page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            # Every control is reached with Tab, in the order it is read.
            reached = []
            page.focus("body")
            for _ in range(40):
                page.keyboard.press("Tab")
                reached.append(
                    page.evaluate("document.activeElement.id || document.activeElement.textContent")
                )
            wanted = ["prison", "la", "today", "quarter", "key", "download"]
            # (A date field takes a Tab for each of its parts; a sort button may be named "prison".)
            assert list(dict.fromkeys(r for r in reached if r in wanted)) == wanted, reached
            assert "releases" in reached  # the table's sort buttons
            # Pick a prison and a quarter, and show them with the keyboard.
            page.select_option("#prison", "PRISON27A")
            page.check("input[name=period][value=quarter]")
            page.select_option("#quarter", str(quarter))
            page.evaluate("document.body.dataset.loaded = 'false'")
            page.focus("button[type=submit]")
            page.keyboard.press("Enter")
            page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            api = report(ndtms, prison="PRISON27A", quarter=str(quarter))
            table = page.evaluate(
                """() => [...document.querySelectorAll('#flows tr')].slice(1, -1)
                    .map(tr => [...tr.children].map(td => td.textContent))"""
            )
            assert [(r[0], r[3], r[10]) for r in table] == [
                (
                    f["prison"],
                    str(f["transfers"]),
                    "-" if f["rate_percent"] is None else f"{f['rate_percent']:.1f}",
                )
                for f in api["flows"]
            ]
            assert "Published figures" in page.inner_text("#notice")
            # The trend is a chart with both axes labelled, a point per quarter, the quarter marked.
            chart = page.evaluate(
                """() => ({axes: state.chart.axes.map(a => a.label), points: state.chart.data[0].length,
                    canvas: document.querySelectorAll('#trend-chart canvas').length,
                    label: document.getElementById('trend-chart').getAttribute('aria-label')})"""
            )
            assert chart["axes"][0].startswith("quarter") and "%" in chart["axes"][1]
            assert chart["points"] == 12 and chart["canvas"] == 1 and str(quarter) in chart["label"]
            # Readable: nothing wider than the window at either width.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            if width == 1280:
                overflowing = page.evaluate(
                    """() => [...document.querySelectorAll('table')]
                        .filter(t => t.scrollWidth > t.parentElement.clientWidth).map(t => t.id)"""
                )
                assert overflowing == [], f"tables wider than their card: {overflowing}"
                with page.expect_download() as download:
                    page.click("#download")
                saved = tmp_path / "download.csv"
                download.value.save_as(saved)
                lines = list(csv.reader(io.StringIO(saved.read_text())))
                total = page.evaluate(
                    "() => [...document.querySelector('#flows tr.total').children].map(c => c.textContent)"
                )
                assert lines[1:] == [*table, total]
                assert lines[0][0] == "prison" and "rate %" in lines[0]
                page.screenshot(path=str(tmp_path / "continuity-report.png"), full_page=True)
            page.close()
        browser.close()
    assert {urlparse(u).hostname for u in requested if not u.startswith(("data:", "blob:"))} == {"127.0.0.1"}
