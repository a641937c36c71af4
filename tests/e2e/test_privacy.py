"""Privacy on the running platform: attributors kept only as long as the setting says; an audit trail."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from ndtms.contract.topics import DAY_MS, WITH_ATTRIBUTORS
from ndtms.localrun.topics import topic_config
from ndtms.synthetic import community_episode
from tests.e2e.pipeline import Ndtms, someone, write_jsonl

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
            "Retention of ndtms.episodes.raw and ndtms.dlq (the only topics with attributors): 5 days"
            in printed
        )
        assert retention_days(ndtms) == {"ndtms.episodes.raw": 5, "ndtms.dlq": 5}
    finally:
        ndtms.env.pop("NDTMS_RAW_RETENTION_DAYS")
        if original is not None:
            ndtms.env["NDTMS_RAW_RETENTION_DAYS"] = original
        ndtms("init")
    assert retention_days(ndtms) == dict.fromkeys(
        ("ndtms.episodes.raw", "ndtms.dlq"), ndtms.settings.raw_retention_days
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
