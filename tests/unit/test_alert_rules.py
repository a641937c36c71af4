"""The alert rules, judged by Prometheus's own promtool: valid, and right with several replicas."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
SILENT = "ndtms_provider_last_published_timestamp_seconds"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is needed (Debian's prometheus package; .ci/run installs it)"
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False, timeout=120)


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_provider_is_silent_only_when_no_ingest_replica_has_heard_from_it(tmp_path: Path) -> None:
    # Two replicas: P0001's last extract went to ingest-1 (47 h before the evaluation), so
    # ingest-0's old time must not raise the alert; P0002 was heard by neither for 50 hours.
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'{SILENT}{{instance="ingest-0",provider="P0001"}}', "values": "0x3000"},
                    {"series": f'{SILENT}{{instance="ingest-1",provider="P0001"}}', "values": "10800x3000"},
                    {"series": f'{SILENT}{{instance="ingest-0",provider="P0002"}}', "values": "0x3000"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "50h",
                        "alertname": "NdtmsProviderSilent",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "ticket", "provider": "P0002"},
                                "exp_annotations": {
                                    "summary": "provider P0002 has published nothing for over 48 hours"
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "silent.yml"
    path.write_text(yaml.safe_dump(tests))
    tested = promtool("test", "rules", str(path))
    assert tested.returncode == 0, tested.stdout + tested.stderr
