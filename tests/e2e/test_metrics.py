"""Every service's /metrics, scraped before and after a feed: the expected series move."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ndtms_apps.feeds.synthetic import community_episode, prison_release
from tests.e2e.pipeline import Ndtms, settle, someone, write_jsonl

pytestmark = pytest.mark.broker

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(ndtms: Ndtms, service: str) -> Series:
    port = getattr(ndtms.settings, f"{service}_port")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def increased(
    before: dict[str, Series], after: dict[str, Series], source: str, name: str, by: float = 1, **labels: str
) -> bool:
    return value(after[source], name, **labels) >= value(before[source], name, **labels) + by


def test_series_move_after_a_feed(ndtms: Ndtms, tmp_path: Path) -> None:
    before = {s: scrape(ndtms, s) for s in ("ingest", "validator", "journey", "linker")}
    who, release = someone(71), ndtms.today() - timedelta(days=5)
    feed = [
        prison_release(who, "PRISON05", "MET-P", release),
        community_episode(who, "CMTY001", "MET-C", release + timedelta(days=1), release + timedelta(days=2)),
    ]
    ndtms("publish", str(write_jsonl(tmp_path / "metrics.jsonl", feed)))
    issued = json.loads(
        ndtms("credentials", "issue", "--name", "metrics", "--provider", "CMTY001", "--json").stdout
    )
    over_http = community_episode(who, "CMTY001", "MET-H", release + timedelta(days=3), None)
    response = httpx.post(
        f"http://127.0.0.1:{ndtms.settings.ingest_port}/v1/episodes",
        json=over_http,
        headers={"Authorization": f"Bearer {issued['key']}"},
        timeout=30,
    )
    assert response.status_code == 200
    settle(ndtms)

    deadline = time.monotonic() + 60
    raw = {"topic": "ndtms.episodes.raw"}
    while True:
        after = {s: scrape(ndtms, s) for s in ("ingest", "validator", "journey", "linker")}
        grew = partial(increased, before, after)
        moved = {
            "validator consumed raw": grew(
                "validator", "ndtms_records_consumed_total", 3, service="validator", **raw
            ),
            "validator append latency": grew(
                "validator", "ndtms_latency_from_append_seconds_count", service="validator"
            ),
            "validator lag sampled": any(
                name == "ndtms_consumer_lag" and ("service", "validator") in labels
                for name, labels in after["validator"]
            ),
            "linker produced links": grew(
                "linker", "ndtms_records_produced_total", service="linker", topic="ndtms.links"
            ),
            "journey consumed valid": grew(
                "journey", "ndtms_records_consumed_total", service="journey", topic="ndtms.episodes.valid"
            ),
            "journey store writes": grew("journey", "ndtms_journey_store_write_seconds_count"),
            "ingest provider last published": value(
                after["ingest"], "ndtms_provider_last_published_timestamp_seconds", provider="CMTY001"
            )
            > 0,
            "pending windows gauge": ("ndtms_linker_pending_transfers", frozenset()) in after["linker"],
        }
        if all(moved.values()):
            status = json.loads(ndtms("status", "--json").stdout)
            assert "CMTY001" in status["providers_last_published"] and status["silent_providers"] == {}
            return
        assert time.monotonic() < deadline, f"not moved: {[k for k, v in moved.items() if not v]}"
        time.sleep(2)
