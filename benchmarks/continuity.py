"""The continuity-of-care companion report over 3 years of national releases.

    python -m benchmarks.continuity [--releases N]

A broker and registry of the benchmark's own; N made-up link records (`ndtms_apps.feeds.synthetic.
transfer_links`: exits over the 3 years to today, 120 prisons, every listed area) published to
`ndtms.links` as the linker publishes them; the journey service started as `ndtms up` runs it,
reading them. Timed in the same run, each the median of several:
  - reference: `GET /v1/live` (an HTTP round trip to the same service) and `ndtms --help`;
  - `GET /v1/reports/continuity`: the first answer after the links arrive (the releases are
    worked out once per change of the links), then national, one prison, one area, a quarter;
  - `ndtms report continuity --json` as a user runs it (a new process, start-up included).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from confluent_kafka import Producer

from benchmarks.running import benchmark_settings, instances_running, parser_for, timed
from ndtms.access import CredentialStore
from ndtms.clocks import today_in_england
from ndtms.localrun.platform import platform_running
from ndtms_apps.feeds.synthetic import transfer_links
from ndtms_contract.links import TransferLink
from ndtms_contract.periods import Quarter
from ndtms_contract.topics import LINKS
from ndtms_contract.transcoding import AvroTranscoder, registry_client

NDTMS = str(Path(sys.executable).parent / "ndtms")


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--releases", type=int, default=60_000)
    args = parser.parse_args()
    today = today_in_england(lambda: datetime.now(UTC))
    links = transfer_links(random.Random(2026), args.releases, today - timedelta(days=3 * 365), 3 * 365)
    with tempfile.TemporaryDirectory(prefix="ndtms-bench-continuity-") as state:
        base = benchmark_settings(state)
        credentials = CredentialStore(Path(state) / "credentials.json")
        _, key = credentials.issue("benchmark", (), operations=True, now=datetime.now(UTC))
        with platform_running(base) as settings:
            codec = AvroTranscoder(registry_client(settings.registry_url), LINKS, TransferLink)
            producer = Producer(settings.producer_config())
            for link in links:
                producer.produce(LINKS.name, key=link.transfer_id.encode(), value=codec.encode(link))
                producer.poll(0)
            producer.flush(60)
            with instances_running("journey", settings, 1):
                url = f"http://127.0.0.1:{settings.journey_port}"
                client = httpx.Client(base_url=url, timeout=60)
                began = time.perf_counter()
                while True:
                    answer = client.get(
                        "/v1/reports/continuity",
                        params={"exact": "true"},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    if answer.status_code == 200 and answer.json()["national"]["transfers"] >= 1:
                        total = answer.json()["national"]["transfers"]
                        if total == sum(1 for x in links if x.prison_exit_date > today - timedelta(days=365)):
                            break
                    time.sleep(0.2)
                first = time.perf_counter() - began
                document = answer.json()
                prison = document["flows"][0]["prison"]
                area = document["flows"][0]["la"]
                quarter = str(Quarter.of(today).previous)
                live = timed(lambda: client.get("/v1/live"), 20)
                asked = {
                    "national": {},
                    "national, largest 100": {"limit": "100"},
                    f"prison {prison}": {"prison": prison},
                    f"area {area}": {"la": area},
                    f"quarter {quarter}": {"quarter": quarter},
                    "national, exact": {"exact": "true"},
                }
                timings = {
                    name: timed(
                        lambda p=params: client.get(  # type: ignore[misc]
                            "/v1/reports/continuity", params=p, headers={"Authorization": f"Bearer {key}"}
                        ).raise_for_status(),
                        5,
                    )
                    for name, params in asked.items()
                }
                # One release more: the next answer works out only what changed, then counts.
                changed = transfer_links(random.Random(7), 1, today - timedelta(days=1), 1)[0]
                producer.produce(LINKS.name, key=b"NEW/1", value=codec.encode(changed))
                producer.flush(30)
                time.sleep(2)  # the service follows ndtms.links within a second
                began = time.perf_counter()
                operations = {"Authorization": f"Bearer {key}"}
                after = client.get(
                    "/v1/reports/continuity", params={"exact": "true"}, headers=operations
                ).json()["national"]["transfers"]
                after_change = time.perf_counter() - began
                env = {
                    **os.environ,
                    "NDTMS_STATE_DIR": state,
                    "NDTMS_JOURNEY_PORT": str(settings.journey_port),
                    "NDTMS_API_KEY": key,
                }
                helped = timed(lambda: subprocess.run([NDTMS, "--help"], capture_output=True, check=True), 3)
                command = timed(
                    lambda: subprocess.run(
                        [NDTMS, "report", "continuity", "--json"], env=env, capture_output=True, check=True
                    ),
                    3,
                )
    print(
        f"continuity report over {args.releases:,} releases in 3 years ({total:,} in the last 12 months), "
        f"{len({x.prison_provider_id for x in links})} prisons; 2-core machine, same run"
    )
    print(f"  reference GET /v1/live                      {1000 * live:8.1f} ms")
    print(f"  first answer once the links were read       {1000 * first:8.1f} ms (includes reading them)")
    for name, seconds in timings.items():
        print(f"  GET /v1/reports/continuity {name:<18} {1000 * seconds:8.1f} ms")
    print(f"  the first answer after one more release     {1000 * after_change:8.1f} ms ({after} releases)")
    print(f"  reference ndtms --help                      {1000 * helped:8.1f} ms")
    print(f"  ndtms report continuity --json              {1000 * command:8.1f} ms")


if __name__ == "__main__":
    main()
