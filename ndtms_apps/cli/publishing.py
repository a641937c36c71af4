"""`ndtms publish FILE`: a JSONL file of updates, or a provider's CSV extract, to the raw topic."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, audit_trail, operator_name, settings

if TYPE_CHECKING:
    from ndtms_contract.episodes import EpisodeUpdate
    from ndtms_contract.settings import PlatformSettings


def problem_line(where: str, problem: dict[str, str]) -> str:
    """`line 4: revision: got 0; ...`: the path only where the message does not already say it."""
    path, message = problem["path"], problem["message"]
    if path in ("", "$") or message.startswith(path):
        return f"  {where}: {message}"
    return f"  {where}: {path}: {message}"


def publish_file(platform: PlatformSettings, path: Path) -> dict[str, Any]:
    """Shape-check every line, publish the good ones, and summarise."""
    from confluent_kafka import Producer

    from ndtms_client.raw_topic import RawTopicWriter
    from ndtms_contract.episodes import EpisodeUpdate
    from ndtms_contract.parsing import parse_jsonl, reject_duplicates
    from ndtms_contract.topics import RAW
    from ndtms_contract.transcoding import AvroTranscoder, registry_client

    if not path.exists():
        raise CommandFailed(f"{path}: no such file")
    if path.suffix.lower() != ".jsonl":
        raise CommandFailed(
            f"{path}: expected a .jsonl file (one episode update per line) or a .csv extract with --provider"
        )
    codec = AvroTranscoder(registry_client(platform.registry_url), RAW, EpisodeUpdate)
    writer = RawTopicWriter(Producer(platform.producer_config()), codec)
    rejected: list[dict[str, Any]] = []
    counted = {"lines": 0, "sent": 0}

    def good_updates(lines: Iterable[bytes]) -> Iterator[tuple[int, EpisodeUpdate]]:
        for item in reject_duplicates(parse_jsonl(lines)):
            counted["lines"] += 1
            if item.accepted and item.update is not None:
                counted["sent"] += 1
                yield item.position, item.update
            else:
                problems = [{"path": p.path, "message": p.message} for p in item.problems]
                rejected.append({"line": item.position, "problems": problems})

    with path.open("rb") as lines:
        # Streamed: memory stays flat however long the file is, and the broker's
        # acknowledgements are awaited once, at the end, not between parts of the file.
        failures = writer.write_stream(good_updates(lines))
    writer.producer.close()
    seen = counted["lines"]
    accepted = counted["sent"] - len(failures)
    rejected += [
        {"line": line, "problems": [{"path": "$", "message": f"the broker did not acknowledge it: {error}"}]}
        for line, error in failures.items()
    ]
    rejected.sort(key=lambda r: int(r["line"]))
    if not seen:
        raise CommandFailed(f"{path}: the file is empty; expected one episode update (JSON object) per line")
    return {"file": str(path), "accepted": accepted, "rejected": len(rejected), "rejections": rejected}


def publish_csv(platform: PlatformSettings, path: Path, provider: str, show_progress: bool) -> dict[str, Any]:
    """Publish a provider's CSV extract: revisions from content, unchanged rows skipped."""
    from confluent_kafka import Producer
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from ndtms.erasing import ErasureLedger
    from ndtms_client.raw_topic import RawTopicWriter
    from ndtms_contract.episodes import EpisodeUpdate
    from ndtms_contract.topics import RAW
    from ndtms_contract.transcoding import AvroTranscoder, registry_client
    from services.ingest.extract_runs import publish_extract
    from services.ingest.extracts import BadExtract
    from services.ingest.ledger import ExtractLedger
    from services.ingest.objections import extract_objector
    from services.ingest.settings import IngestSettings

    if not path.exists():
        raise CommandFailed(f"{path}: no such file")
    ingest = IngestSettings(**platform.model_dump())
    codec = AvroTranscoder(registry_client(platform.registry_url), RAW, EpisodeUpdate)
    writer = RawTopicWriter(Producer(platform.producer_config()), codec)
    ledger = ExtractLedger(ingest.effective_ledger_url)

    def clock() -> datetime:
        return datetime.now(UTC)

    objector = extract_objector(
        ErasureLedger(platform, audit_trail(platform), clock), provider, operator_name()
    )
    with (
        path.open("rb") as lines,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            disable=not show_progress,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task(f"{path.name}", total=path.stat().st_size)
        try:
            summary = publish_extract(
                lines,
                provider,
                writer,
                ledger,
                clock(),
                objector,
                progress=lambda _rows: progress.update(task, completed=lines.tell()),
            )
        except BadExtract as exc:
            raise CommandFailed(f"{path}: {exc}") from exc
        finally:
            writer.producer.close()
    return {"file": str(path), **summary.as_json()}


def _print_extract(summary: dict[str, Any]) -> None:
    print(
        f"{summary['file']}: {summary['rows']} rows; published {summary['published']} "
        f"({summary['new']} new, {summary['changed']} changed), "
        f"unchanged {summary['unchanged']}, objections {summary['objections']}, "
        f"rejected {summary['rejected']}"
    )
    for rejection in summary["rejections"]:
        for problem in rejection["problems"]:
            print(problem_line(f"row {rejection['row']}", problem))
    if summary["missing_from_extract"]:
        missing = summary["missing_from_extract"]
        print(
            f"  {len(missing)} episode(s) published before are missing from this extract "
            f"(not deleted; withdraw them explicitly if they should go): {', '.join(missing[:20])}"
            + (" ..." if len(missing) > 20 else "")
        )


def cmd_publish(args: argparse.Namespace) -> int:
    if Path(args.file).suffix.lower() == ".csv":
        if not args.provider:
            raise CommandFailed("a CSV extract needs --provider CODE (the AGNCY it is for)")
        csv_summary = publish_csv(
            settings(), Path(args.file), args.provider, show_progress=sys.stdout.isatty() and not args.json
        )
        if args.json:
            print(json.dumps(csv_summary))
        else:
            _print_extract(csv_summary)
        return 1 if csv_summary["rejected"] else 0
    summary = publish_file(settings(), Path(args.file))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['file']}: accepted {summary['accepted']}, rejected {summary['rejected']}")
        for rejection in summary["rejections"]:
            for problem in rejection["problems"]:
                print(problem_line(f"line {rejection['line']}", problem))
    return 1 if summary["rejected"] else 0


def register(sub: Any) -> None:
    p = command(sub, "publish")
    p.add_argument("file")
    p.add_argument("--provider", help="for a .csv extract: the provider code (AGNCY) it is a snapshot of")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(func=cmd_publish)
