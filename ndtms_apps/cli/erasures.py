"""`ndtms erase --attributors "F|S|YYYY-MM-DD|sex" | --client-key KEY`: erase a person everywhere.

An operations key is needed. The erasure is audited and put on the ledger; the command then
waits for every service's receipt and prints what each removed, exiting 0 only when all of
them confirmed.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import date
from typing import TYPE_CHECKING, Any

from ndtms.access import Credential
from ndtms.credential_stores import credential_store
from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, audit_trail, operator_name, settings
from ndtms_apps.cli.credentials import operator_key

if TYPE_CHECKING:
    from ndtms_contract.episodes import Sex
    from ndtms_contract.erasures import ErasureTally
    from ndtms_contract.settings import PlatformSettings

ATTRIBUTORS_FORM = "FIRST|SECOND|YYYY-MM-DD|SEX (sex: male, female, other or not_known)"


def parse_attributors(text: str) -> tuple[str, str, date, Sex]:
    """Initials, date of birth and sex from `F|S|YYYY-MM-DD|sex`; the error never repeats them."""
    from ndtms_contract.episodes import Sex

    parts = [part.strip() for part in text.split("|")]
    if len(parts) != 4:
        raise CommandFailed(f"--attributors needs four parts separated by '|': {ATTRIBUTORS_FORM}")
    first, second, born, sex = parts
    if not (0 < len(first) <= 8 and 0 < len(second) <= 8):
        raise CommandFailed(f"--attributors: each initial is 1 to 8 characters: {ATTRIBUTORS_FORM}")
    try:
        date_of_birth = date.fromisoformat(born) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", born) else None
    except ValueError:
        date_of_birth = None
    if date_of_birth is None:
        raise CommandFailed(f"--attributors: the date of birth is not a date: {ATTRIBUTORS_FORM}")
    try:
        return first, second, date_of_birth, Sex(sex.lower())
    except ValueError:
        raise CommandFailed(f"--attributors: the sex is not one of the four: {ATTRIBUTORS_FORM}") from None


def operations_credential(platform: PlatformSettings) -> Credential:
    credential = credential_store(platform).authenticate(operator_key(platform))
    if credential is None:
        raise CommandFailed("the API key is unknown or revoked: erasing needs an operations key")
    if not credential.operations:
        raise CommandFailed(f"credential {credential.id} does not have the operations role: erasing needs it")
    return credential


def cmd_erase(args: argparse.Namespace) -> int:
    from ndtms.audit import AuditUnavailable
    from ndtms.clocks import clock_from
    from ndtms.erasing import ErasureLedger, ErasureNotRecorded, audit_end, await_receipts
    from ndtms_contract.erasures import ErasureOrigin
    from ndtms_contract.pseudonyms import CLIENT_KEY_PATTERN

    platform = settings()
    credential = operations_credential(platform)
    operator = operator_name()
    # The services' clock: receipts are written while an erasure is recent by it.
    ledger = ErasureLedger(platform, audit_trail(platform), clock_from(platform.clock_file))
    if args.client_key is not None:
        if not re.fullmatch(CLIENT_KEY_PATTERN, args.client_key):
            raise CommandFailed("--client-key is 32 lower-case hexadecimal characters")
        key = args.client_key
    else:
        key = ledger.key_of(*parse_attributors(args.attributors))
    audit_from = audit_end(platform)
    try:
        _, offset = ledger.record(
            key,
            operator,
            ErasureOrigin.OPERATOR,
            args.reason,
            f"{operator} with {credential.name} ({credential.id})",
        )
    except (ErasureNotRecorded, AuditUnavailable) as exc:
        raise CommandFailed(f"{exc}; nothing was erased") from exc
    finally:
        ledger.close()
    if not args.json:
        print(
            f"Erasing client {key} (ledger offset {offset}); waiting up to {args.timeout:g} s for receipts."
        )
    tally = await_receipts(platform, key, offset, audit_from, args.timeout)
    print(json.dumps(as_json(key, tally)) if args.json else "\n".join(report(tally)))
    return 0 if tally.complete else 1


def as_json(key: str, tally: ErasureTally) -> dict[str, Any]:
    return {
        "client_key": key,
        "ledger_offset": tally.ledger_offset,
        "complete": tally.complete,
        "waiting_for": tally.waiting_for(),
        "removed": tally.removed,
        "totals": tally.totals(),
    }


def report(tally: ErasureTally) -> list[str]:
    lines = []
    for service, counts in sorted(tally.removed.items()):
        listed = ", ".join(f"{what} {count}" for what, count in sorted(counts.items()))
        lines.append(f"  {service:<9} {listed}")
    totals = ", ".join(f"{what} {count}" for what, count in tally.totals().items())
    lines.append(f"In all: {totals or 'nothing was held'}.")
    if tally.complete:
        lines.append("Confirmed by every service: the person is erased.")
    else:
        lines.append(
            f"NOT confirmed by: {', '.join(tally.waiting_for())}. The erasure is on the ledger and "
            "will be applied when they run; run the command again to check."
        )
    return lines


def register(sub: Any) -> None:
    p = command(sub, "erase")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--attributors", metavar="F|S|YYYY-MM-DD|SEX", help="the person's initials, birth date and sex"
    )
    who.add_argument("--client-key", metavar="KEY", help="the person's client key")
    p.add_argument("--reason", default="erased by an operator", help="why (never attributors)")
    p.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="how long to wait for receipts"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_erase)
