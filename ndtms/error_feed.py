"""Publishing validation reports on the provider's error feed, counted by rule and severity."""

from __future__ import annotations

from prometheus_client import Counter

from ndtms.metrics import labelled
from ndtms.stream.processor import Transaction
from ndtms_contract.findings import ValidationReport
from ndtms_contract.topics import ERRORS
from ndtms_contract.transcoding import AvroTranscoder

FINDINGS = Counter(
    "ndtms_validator_findings_total", "Findings published, by rule and severity", ["rule", "severity"]
)


def publish(report: ValidationReport, codec: AvroTranscoder[ValidationReport], out: Transaction) -> None:
    for finding in report.findings:
        labelled(FINDINGS, finding.rule, finding.severity.value).inc()
    out.produce(ERRORS.name, f"{report.provider_id}/{report.episode_id}".encode(), codec.encode(report))
