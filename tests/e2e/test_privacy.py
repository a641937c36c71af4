"""Privacy on the running platform: attributors kept only as long as the setting says; an audit trail."""

from __future__ import annotations

import base64
import json
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from ndtms.localrun.services import SERVICES
from ndtms.localrun.topics import topic_config
from ndtms_apps.cli.reading import tail
from ndtms_apps.feeds.scenarios import continuity_feed
from ndtms_apps.feeds.synthetic import community_episode
from ndtms_contract.topics import (
    ATTRIBUTOR_STATE,
    CATALOGUE,
    DAY_MS,
    INTERNAL,
    MATCHING,
    RAW,
    VALID,
    WITH_ATTRIBUTORS,
)
from tests.e2e.pipeline import Ndtms, raw_records, settle, someone, write_jsonl

pytestmark = pytest.mark.broker


def retention_days(ndtms: Ndtms) -> dict[str, float]:
    admin = AdminClient(ndtms.settings.kafka_client_config())
    return {
        spec.name: int(topic_config(admin, spec.name)["retention.ms"]) / DAY_MS for spec in WITH_ATTRIBUTORS
    }


def test_init_bounds_the_raw_topic_as_the_setting_says(ndtms: Ndtms) -> None:
    original = ndtms.env.get("NDTMS_RAW_RETENTION_DAYS")
    try:
        ndtms.env["NDTMS_RAW_RETENTION_DAYS"] = "5"
        printed = ndtms("init").stdout
        assert (
            "Retention of ndtms.episodes.raw, ndtms.dlq and ndtms.matching.episodes "
            "(the only topics with attributors): 5 days" in printed
        )
        assert retention_days(ndtms) == dict.fromkeys((s.name for s in WITH_ATTRIBUTORS), 5)
        assert {"ndtms.episodes.raw", "ndtms.dlq", "ndtms.matching.episodes"} == {
            s.name for s in WITH_ATTRIBUTORS
        }
    finally:
        ndtms.env.pop("NDTMS_RAW_RETENTION_DAYS")
        if original is not None:
            ndtms.env["NDTMS_RAW_RETENTION_DAYS"] = original
        ndtms("init")
    assert retention_days(ndtms) == dict.fromkeys(
        (s.name for s in WITH_ATTRIBUTORS), ndtms.settings.raw_retention_days
    )


def test_keys_issued_and_revoked_and_people_viewed_are_on_the_audit_trail(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    ndtms.env["NDTMS_OPERATOR"] = "dpo-test"
    try:
        issued = json.loads(
            ndtms("credentials", "issue", "--name", "Vendor Q", "--provider", "CMTY031", "--json").stdout
        )
        ndtms("credentials", "revoke", issued["id"])
    finally:
        ndtms.env.pop("NDTMS_OPERATOR")
    who = someone(31)
    episode = community_episode(who, "CMTY031", "AUD-1", date(2024, 3, 6), date(2024, 3, 8))
    ndtms("publish", str(write_jsonl(tmp_path / "a.jsonl", [episode])))
    shown = ndtms("journeys", "show", "--provider", "CMTY031", "--episode", "AUD-1", "--json", check=False)
    deadline = time.monotonic() + 60
    while shown.returncode != 0 and time.monotonic() < deadline:  # the journey service is asynchronous
        time.sleep(1)
        shown = ndtms(
            "journeys", "show", "--provider", "CMTY031", "--episode", "AUD-1", "--json", check=False
        )
    client_key = json.loads(shown.stdout)["client_key"]

    events = json.loads(ndtms("audit", "--json").stdout)["events"]
    mine = [e for e in events if e["subject"] in (issued["id"], client_key)]
    assert [(e["actor"], e["action"]) for e in mine[:2]] == [
        ("dpo-test", "credential_issued"),
        ("dpo-test", "credential_revoked"),
    ]
    assert "providers: CMTY031; operations role: no" in mine[0]["detail"]
    [viewed] = [e for e in mine if e["action"] == "person_viewed"]
    assert viewed["actor"].startswith("local-operator (") and viewed["detail"] == "by episode CMTY031/AUD-1"
    trail = json.dumps(events)
    assert who.date_of_birth.isoformat() not in trail and f"{who.first_initial}|" not in trail
    assert "credential_issued" in ndtms("audit").stdout
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert json.loads(ndtms("audit", "--since", tomorrow, "--json").stdout) == {"events": []}


def test_no_attributors_anywhere_but_the_raw_topic(ndtms: Ndtms, tmp_path: Path) -> None:
    """Every topic but raw, every log line, the query API and every metrics page of a full run."""
    submissions = continuity_feed(ndtms.today(), people=60, seed=1414, label="PRIV")
    for n, submission in enumerate(submissions):
        ndtms(
            "publish", str(write_jsonl(tmp_path / f"p-{n}.jsonl", [r.data for r in submission])), check=False
        )
    settle(ndtms, timeout=180)
    people = {
        (
            r.data["client"]["first_initial"],
            r.data["client"]["second_initial"],
            r.data["client"]["date_of_birth"],
        )
        for submission in submissions
        for r in submission
        if r.data.get("client")
    }
    # A date of birth on its own, and the client key's input ("J|S|1985-03-02"), were it ever logged.
    births = {dob for _, _, dob in people}
    markers = births | {f"{a}|{b}|{dob}" for a, b, dob in people}
    ours = {r.episode_key for submission in submissions for r in submission}

    found: dict[str, set[str]] = {}

    def scan(where: str, text: str) -> None:
        hits = {m for m in markers if m in text}
        if hits:
            found.setdefault(where, set()).update(hits)

    # Every public topic but raw, decoded as its consumers see it (an Avro date is not text).
    client_keys: set[str] = set()
    for spec in CATALOGUE:
        if spec is RAW:
            continue
        for record in tail(ndtms.settings, spec, from_beginning=True, idle_timeout=3):
            value = record["value"] or {}
            if "bytes_base64" in value:
                value = {**value, "bytes": base64.b64decode(value["bytes_base64"]).decode("utf-8", "replace")}
            scan(spec.name, json.dumps(value) + str(record["key"]))
            if spec is VALID and f"{value.get('provider_id')}/{value.get('episode_id')}" in ours:
                client_keys.add(value["client_key"])
    # The stages' state changelogs, as bytes (msgpack writes dates as text), but for the places
    # that hold attributors by design (the probable-match search's input and state).
    kept = {s.name for s in (*WITH_ATTRIBUTORS, *ATTRIBUTOR_STATE)}
    for spec in INTERNAL:
        if spec.name not in kept:
            for text in _raw_records(ndtms, spec.name):
                scan(spec.name, text)
    for log in (ndtms.settings.state_dir / "logs").glob("*.log"):
        scan(log.name, log.read_text(errors="replace"))
    operator = {"Authorization": f"Bearer {(ndtms.settings.state_dir / 'operator.key').read_text().strip()}"}
    journeys = f"http://127.0.0.1:{ndtms.settings.journey_port}"
    assert client_keys, "the feed's people never reached ndtms.episodes.valid"
    for client_key in sorted(client_keys):
        scan("journey API", httpx.get(f"{journeys}/v1/clients/{client_key}/journeys", headers=operator).text)
    scan("journey API", httpx.get(f"{journeys}/v1/journeys?page_size=500", headers=operator).text)
    scan("/ops/data", httpx.get(f"{journeys}/ops/data").text)
    for service in SERVICES:
        scan(
            f"{service.name} /metrics",
            httpx.get(f"http://127.0.0.1:{service.port(ndtms.settings)}/metrics").text,
        )
    assert found == {}, f"attributors outside the raw topic: { {k: sorted(v)[:3] for k, v in found.items()} }"
    # The scan can find them: the raw topic, read the same way, has every one of them.
    for record in tail(ndtms.settings, RAW, from_beginning=True, idle_timeout=3):
        scan(RAW.name, json.dumps(record["value"]))
    assert births <= found.get(RAW.name, set())
    for spec in (MATCHING, *ATTRIBUTOR_STATE):
        for text in _raw_records(ndtms, spec.name):
            scan(spec.name, text)
        assert found.get(spec.name), f"{spec.name} should hold the attributors the search compares"


def _raw_records(ndtms: Ndtms, topic: str) -> list[str]:
    return [
        key.decode("utf-8", "replace") + (value or b"").decode("utf-8", "replace")
        # Aborted transactions' records too: a leak is a leak whether or not it was committed.
        for key, value in raw_records(ndtms, topic, committed=False)
    ]
