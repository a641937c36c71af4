"""Accepted updates per second through the ingest API, for HTTP batches and for a CSV extract.

    python -m benchmarks.ingest [--updates N]

Starts its own broker and registry (ports 27092/27081) and the ingest service as a process
(port 27700), then measures on N synthetic updates:
  - reference: a confluent-kafka producer sending the same records, already Avro-encoded,
    with the platform's producer settings (idempotent, acks=all, zstd): the ceiling;
  - HTTP: `POST /v1/episodes` in batches of 1,000 from one client, each answered only after
    the broker acknowledged every record;
  - CSV: one `POST /v1/extracts` of an N-row extract (revisions derived, ledger written).
"""

from __future__ import annotations

import io
import tempfile
import time
from datetime import UTC, datetime

import httpx
from confluent_kafka import Producer

from benchmarks.feeds import updates
from benchmarks.running import benchmark_settings, parser_for, service_running
from ndtms.credential_stores import credential_store
from ndtms.localrun.platform import platform_running
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import RAW
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.ingest.extracts import COLUMNS, csv_row


def reference(settings: PlatformSettings, feed: list[EpisodeUpdate]) -> float:
    codec = AvroTranscoder(registry_client(settings.registry_url), RAW, EpisodeUpdate)
    encoded = [(u.episode_key.encode(), codec.encode(u)) for u in feed]
    producer = Producer(settings.producer_config())
    started = time.perf_counter()
    for key, value in encoded:
        while True:
            try:
                producer.produce(RAW.name, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)
    return time.perf_counter() - started


def http_batches(base: str, key: str, feed: list[EpisodeUpdate]) -> float:
    bodies = [
        "[" + ",".join(u.model_dump_json(exclude_none=True) for u in feed[i : i + 1000]) + "]"
        for i in range(0, len(feed), 1000)
    ]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, timeout=120) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/episodes", content=body, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"HTTP batch answered {response.status_code}: {response.text[:300]}")
        return time.perf_counter() - started


def csv_extract(base: str, key: str, feed: list[EpisodeUpdate], provider: str) -> float:
    lines = io.StringIO()
    lines.write(",".join(COLUMNS) + "\n")
    for update in feed:
        lines.write(csv_row(update.model_copy(update={"provider_id": provider})) + "\n")
    body = lines.getvalue().encode()
    with httpx.Client(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        response = client.post(
            f"/v1/extracts?provider={provider}", content=body, headers={"Authorization": f"Bearer {key}"}
        )
        elapsed = time.perf_counter() - started
    summary = response.json()
    if response.status_code != 200 or summary["new"] != len(feed):
        raise SystemExit(f"extract answered {response.status_code}: {str(summary)[:300]}")
    return elapsed


def main() -> None:
    parser = parser_for(__doc__)
    args = parser.parse_args()
    feed = updates(args.updates, invalid_share=0)
    csv_feed = [
        u.model_copy(update={"episode_id": f"X{u.episode_id}"}) for u in feed if u.setting is not None
    ]
    with tempfile.TemporaryDirectory() as state:
        base_settings = benchmark_settings(state)
        with platform_running(base_settings) as settings:
            providers = tuple(sorted({u.provider_id for u in feed} | {"BENCH01"}))
            _, key = credential_store(settings).issue(
                "benchmark", providers, operations=False, now=datetime.now(UTC)
            )
            ceiling = reference(settings, feed)
            with service_running("ingest", settings):
                base = f"http://127.0.0.1:{settings.ingest_port}"
                over_http = http_batches(base, key, feed)
                extract = csv_extract(base, key, csv_feed, "BENCH01")
    print(f"updates: {args.updates}")
    print(
        f"reference, confluent-kafka producer of pre-encoded records: {args.updates / ceiling:,.0f} updates/s"
    )
    print(f"HTTP POST /v1/episodes, batches of 1,000: {args.updates / over_http:,.0f} updates/s")
    print(f"CSV POST /v1/extracts, one {len(csv_feed):,}-row file: {len(csv_feed) / extract:,.0f} rows/s")


if __name__ == "__main__":
    main()
