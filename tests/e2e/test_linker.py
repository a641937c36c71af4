"""The linker on the real broker, through ingest and the validator: clock, warnings, kills, a messy feed."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ndtms.continuity.indicator import Grouping, indicator
from ndtms.localrun.kafka import LocalKafka
from ndtms.localrun.processes import ManagedProcess
from ndtms.localrun.services import PROJECT_ROOT, SERVICES
from ndtms_apps.cli.platform_status import collect
from ndtms_apps.feeds.scenarios import continuity_feed, final_accepted
from ndtms_apps.feeds.synthetic import community_episode, prison_release
from ndtms_contract.findings import ValidationReport
from ndtms_contract.links import TransferLink
from services.validator.quality import current_reports
from tests.e2e.pipeline import (
    Ndtms,
    current_by_key,
    kill_mid_replay,
    links_by_hand,
    links_once,
    records_of,
    settle,
    someone,
    stop_service,
    wait_for,
    write_jsonl,
)

pytestmark = pytest.mark.broker


def test_window_closes_on_the_clock_with_no_further_record(ndtms: Ndtms, tmp_path: Path) -> None:
    release = ndtms.today() - timedelta(days=20)
    feed = write_jsonl(
        tmp_path / "release.jsonl", [prison_release(someone(31), "PRISON07", "CLK-1", release)]
    )
    ndtms("publish", str(feed))
    wait_for(ndtms, "links", "PRISON07/CLK-1", lambda r: r["value"]["status"] == "pending")
    # Day 21 is still in the window; the day after it (no grace) decides not_engaged.
    ndtms.move_clock(timedelta(days=1))
    time.sleep(3)  # several sweeps
    assert current_by_key(records_of(ndtms, "links"))["PRISON07/CLK-1"]["status"] == "pending"
    ndtms.move_clock(timedelta(days=1))
    links = wait_for(ndtms, "links", "PRISON07/CLK-1", lambda r: r["value"]["status"] == "not_engaged")
    assert links[-1]["value"]["window_end_date"] == (release + timedelta(days=21)).isoformat()


def test_triage_before_the_recorded_exit_warns_the_prison_until_corrected(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    who = someone(32)
    release = ndtms.today() - timedelta(days=10)
    prison = prison_release(who, "PRISON08", "DBT-1", release)
    triage = community_episode(who, "CMTY009", "DBT-C", release - timedelta(days=3), None)
    ndtms("publish", str(write_jsonl(tmp_path / "doubt.jsonl", [prison, triage])))

    reports = wait_for(ndtms, "errors", "PRISON08/DBT-1", lambda r: r["value"]["checked_by"] == "linker")
    [finding] = reports[-1]["value"]["findings"]
    assert finding["rule"] == "LNK001" and finding["severity"] == "warning"
    assert finding["field"] == "custody.prison_exit_date" and "3 day(s) before" in finding["message"]
    assert who.date_of_birth.isoformat() not in json.dumps(reports)
    dq = json.loads(ndtms("dq", "--provider", "PRISON08", "--json").stdout)
    assert [r["rule"] for r in dq["providers"][0]["rules"]] == ["LNK001"]

    moved = release - timedelta(days=4)
    corrected = prison | {"revision": 2, "discharge_date": moved.isoformat()}
    corrected["custody"] = prison["custody"] | {"prison_exit_date": moved.isoformat()}
    ndtms("publish", str(write_jsonl(tmp_path / "corrected.jsonl", [corrected])))
    wait_for(
        ndtms,
        "errors",
        "PRISON08/DBT-1",
        lambda r: r["value"]["checked_by"] == "linker" and r["value"]["findings"] == [],
    )
    link = wait_for(ndtms, "links", "PRISON08/DBT-1", lambda r: r["value"]["status"] == "triaged")
    assert link[-1]["value"]["triage_date"] == (release - timedelta(days=3)).isoformat()
    assert json.loads(ndtms("dq", "--provider", "PRISON08", "--json").stdout)["providers"] == []


def test_messy_feed_with_linker_killed_mid_replay_gives_the_rulelinks_by_hand(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    submissions = continuity_feed(ndtms.today(), people=800)
    feed = [record for submission in submissions for record in submission]
    assert len(feed) > 2000
    stop_service(ndtms, "linker")  # down while the feed arrives: its restart is a replay

    for n, submission in enumerate(submissions):
        path = write_jsonl(tmp_path / f"submission-{n}.jsonl", [r.data for r in submission])
        summary = json.loads(ndtms("publish", str(path), "--json").stdout)
        assert summary["rejected"] == 0, summary["rejections"][:3]
    deadline = time.monotonic() + 120
    while collect(ndtms.settings)["services"]["validator"]["lag"]:
        assert time.monotonic() < deadline, "the validator did not catch up"
        time.sleep(0.5)

    lags_at_kill = [kill_mid_replay(ndtms, "linker", "links") for _ in range(2)]
    ndtms("up")
    settle(ndtms, timeout=180)
    time.sleep(2)

    expected, doubted = links_by_hand(ndtms, final_accepted(feed))
    ours = {r.episode_key for r in feed}
    links = links_once(ndtms, ours)  # killed twice mid-replay, and still none sent twice
    assert len(expected) > 500 and {v["status"] for v in expected.values()} == {
        "pending",
        "engaged",
        "triaged",
        "not_engaged",
    }
    missing = sorted(set(expected) - set(links))
    extra = sorted(set(links) - set(expected))
    wrong = sorted(k for k in set(expected) & set(links) if expected[k] != links[k])
    assert not (missing or extra or wrong), (
        f"killed at lags {lags_at_kill}; missing {missing[:5]}, extra {extra[:5]}, "
        f"wrong {[(k, expected[k], links[k]) for k in wrong[:3]]}"
    )

    _indicator_matches(ndtms, set(expected))

    reports = [
        ValidationReport.model_validate(r["value"])
        for r in records_of(ndtms, "errors")
        if r["value"] is not None and r["key"] in ours
    ]
    flagged = {
        f"{p}/{e}"
        for (p, e, by), report in current_reports(reports).items()
        if by == "linker" and report.findings
    }
    assert flagged == doubted


def _indicator_matches(ndtms: Ndtms, ours: set[str]) -> None:
    """`ndtms indicator` and the linker's gauges agree with the indicator over the links on the topic."""
    links = [TransferLink.model_validate(v) for k, v in current_by_key(records_of(ndtms, "links")).items()]
    today = ndtms.today()
    [national] = indicator(links, today, Grouping.NATIONAL)
    assert national.decided > 100 and sum(1 for link in links if link.transfer_id in ours) > 500
    printed = json.loads(ndtms("indicator", "--by", "prison", "--json", "--today", today.isoformat()).stdout)
    rates = {"rate": None, "rate_without_confirmed": None}
    counts = {"group": national.group, "transfers": national.transfers, "decided": national.decided}
    assert printed["national"][0] | rates == counts | asdict(national) | rates
    assert printed["national"][0]["rate"] == pytest.approx(national.rate)
    by_prison = {r.group: r for r in indicator(links, today, Grouping.PRISON)}
    assert {r["group"]: r["decided"] for r in printed["rows"]} == {g: r.decided for g, r in by_prison.items()}

    deadline = time.monotonic() + 30
    port = ndtms.settings.linker_port
    while True:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        line = 'ndtms_continuity_of_care_transfers{group="England",measure="decided",scope="national"}'
        shown = [float(m.split()[-1]) for m in metrics.splitlines() if m.startswith(line)]
        if shown == [national.decided]:
            return
        assert time.monotonic() < deadline, f"gauge shows {shown}, expected {national.decided}"
        time.sleep(1)


def _second_instance(ndtms: Ndtms, service: str, port: int) -> ManagedProcess:
    """Another instance of a stage in the same consumer group: partitions move to it and back."""
    spec = next(s for s in SERVICES if s.name == service)
    state = ndtms.settings.state_dir.resolve()
    process = ManagedProcess(f"{service}-second", state / "run", state / "logs")
    env = ndtms.env | {f"NDTMS_{service.upper()}_PORT": str(port), "NDTMS_STREAM_INSTANCE_ID": "second"}
    process.start([sys.executable, "-m", spec.module], env=env, cwd=PROJECT_ROOT)
    return process


def test_partitions_moving_and_a_broker_restart_mid_feed_change_no_outcome(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    submissions = continuity_feed(ndtms.today(), people=600, seed=4242, label="M")
    feed = [record for submission in submissions for record in submission]

    def publish(n: int) -> None:
        path = write_jsonl(tmp_path / f"m-{n}.jsonl", [r.data for r in submissions[n]])
        assert json.loads(ndtms("publish", str(path), "--json").stdout)["rejected"] == 0

    publish(0)
    seconds = [_second_instance(ndtms, "validator", 28711), _second_instance(ndtms, "linker", 28713)]
    try:
        publish(1)
        if ndtms.settings.uses_local_kafka or ndtms.settings.bootstrap_servers.endswith(":29092"):
            broker = LocalKafka(ndtms.settings.model_copy(update={"kafka_bootstrap_servers": None}))
            broker.stop()
            time.sleep(2)
            broker.start()
        publish(2)
    finally:
        for process in seconds:
            process.stop(timeout=30)  # a clean leave: partitions move back mid-feed
    publish(3)
    settle(ndtms, timeout=240)
    time.sleep(2)

    expected, _ = links_by_hand(ndtms, final_accepted(feed))
    links = links_once(ndtms, {r.episode_key for r in feed})
    assert len(expected) > 300 and links == expected
