"""The time of `ndtms measures --by provider` over 100,000 people, on SQLite and on PostgreSQL.

    python -m benchmarks.measures [--people N]

No broker: a journey store (SQLite file, then a fresh database on a PostgreSQL server on port
27432) is filled with N made-up people's measure facts (`ndtms_apps.feeds.synthetic.treatment_histories`,
three years of episodes up to today), then timed in the same run:
  - reference: `SELECT count(*)` over the measure episodes table;
  - the measures (default period, by provider) counted in-process (`measuring.measure_rows`);
  - `ndtms measures --by provider --database URL --json` as a user runs it (a new process,
    Python start-up included), the median of three runs.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from benchmarks.running import timed
from ndtms.databases import engine_for
from ndtms.localrun.postgres import postgres_running
from ndtms_apps.feeds.synthetic import treatment_histories
from ndtms_contract.periods import year_to
from services.journey import measuring, store
from services.journey.measures import Breakdown

NDTMS = str(Path(sys.executable).parent / "ndtms")


def fill(url: str, people: int, today: date) -> int:
    engine = engine_for(url)
    store.migrate(engine)
    histories = treatment_histories(
        random.Random(2026), people, today - timedelta(days=3 * 365), 3 * 365 - 30
    )
    keys = sorted(histories)
    for start in range(0, len(keys), 5000):
        with Session(engine) as session, session.begin():
            measuring.save_facts(session, {k: histories[k] for k in keys[start : start + 5000]})
    with Session(engine) as session:
        rows = session.scalar(select(func.count()).select_from(store.MEASURE_EPISODES)) or 0
    engine.dispose()
    return rows


def measure(name: str, url: str, people: int, today: date, state: str) -> None:
    episodes = fill(url, people, today)
    engine = engine_for(url)
    period = year_to(today)
    with Session(engine) as session:
        count = timed(lambda: session.scalar(select(func.count()).select_from(store.MEASURE_EPISODES)))
        in_process = timed(lambda: measuring.measure_rows(session, period, Breakdown.PROVIDER))
        national = measuring.measure_rows(session, period, Breakdown.PROVIDER)[0]
    engine.dispose()
    environment = {**os.environ, "NDTMS_STATE_DIR": state}
    command = [NDTMS, "measures", "--by", "provider", "--database", url, "--json"]
    cli = timed(lambda: subprocess.run(command, env=environment, check=True, capture_output=True))
    print(f"{name}: {people:,} people, {episodes:,} community episodes")
    print(f"  national in treatment over the default period: {national.in_treatment:,}")
    print(f"  reference, SELECT count(*) FROM measure_episodes: {count * 1000:,.1f} ms")
    print(f"  the measures by provider, in-process: {in_process * 1000:,.0f} ms")
    print(f"  `ndtms measures --by provider` (a new process): {cli * 1000:,.0f} ms (target < 2,000)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()
    today = date.today()
    with tempfile.TemporaryDirectory() as state:
        measure("SQLite", f"sqlite:///{Path(state) / 'measures.db'}", args.people, today, state)
        with postgres_running(27432) as postgres_url:
            measure("PostgreSQL", postgres_url, args.people, today, state)


if __name__ == "__main__":
    main()
