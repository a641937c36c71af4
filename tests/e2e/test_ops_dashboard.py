"""The operations page in real headless Chromium against the running pipeline, with a screenshot."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import sync_playwright

from ndtms_apps.feeds.synthetic import community_episode, prison_release
from tests.e2e.pipeline import Ndtms, settle, someone, write_jsonl

pytestmark = pytest.mark.broker
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_dashboard_shows_services_throughput_findings_and_the_indicator(ndtms: Ndtms, tmp_path: Path) -> None:
    assert CHROMIUM, "Debian's chromium is installed by .ci/run"
    who, release = someone(81), ndtms.today() - timedelta(days=30)
    feed = [
        prison_release(who, "PRISON06", "OPS-P", release),
        community_episode(who, "CMTY002", "OPS-C", release + timedelta(days=2), release + timedelta(days=4)),
        {**community_episode(who, "CMTY002", "OPS-BAD", release, None), "triage_date": "2000-01-01"},
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "ops.jsonl", feed)))
    settle(ndtms)
    requested: list[str] = []
    url = f"http://127.0.0.1:{ndtms.settings.journey_port}/ops"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url)
        page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
        deadline = time.monotonic() + 60
        while True:
            page.evaluate("refresh()")
            ready = page.evaluate(
                """() => document.querySelectorAll('#throughput .u-legend .u-series').length === 5
                && document.querySelectorAll('#throughput canvas').length === 1
                && document.querySelector('#by-prison').innerText.includes('PRISON06')
                && document.querySelector('#findings').innerText.includes('DAT002')
                && document.querySelector('#national').innerText.includes('%')
                && document.querySelector('#measures-national').innerText.includes('national')
                && document.querySelectorAll('#measures-providers tr').length > 1
                && !document.querySelector('#measures-providers').innerText.includes('none yet')"""
            )
            if ready:
                break
            assert time.monotonic() < deadline, page.inner_text("body")[:2000]
            time.sleep(2)
        # Charts have a time axis and their unit; every table fits its card at 1,400 pixels.
        axes = page.evaluate(
            """() => ['throughput', 'lag']
                .map(id => [charts[id].plot.scales.x.time, charts[id].plot.axes[1].label])"""
        )
        assert axes == [[True, "records/s"], [True, "records"]]
        overflowing = page.evaluate(
            """() => [...document.querySelectorAll('table')]
                .filter(t => t.scrollWidth > t.parentElement.clientWidth).map(t => t.id)"""
        )
        assert overflowing == [], f"tables wider than their card: {overflowing}"
        services = page.inner_text("#services")
        assert all(f"{name}: up" in services for name in ("ingest", "validator", "journey", "linker"))
        screenshot = tmp_path / "ops-dashboard.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert screenshot.stat().st_size > 20_000
    assert {urlparse(u).hostname for u in requested} == {"127.0.0.1"}, "the page must work with no internet"
