"""`ndtms credentials issue | list | revoke`: API keys for vendors and operators (see ndtms.access)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ndtms.access import Credential, Credentials, UnknownCredential
from ndtms.credential_stores import credential_store
from ndtms_apps.cli.catalogue import command
from ndtms_apps.cli.command import CommandFailed, audit_trail, operator_name, settings

if TYPE_CHECKING:
    from ndtms_contract.settings import PlatformSettings

LOCAL_OPERATOR = "local-operator"


def operator_key_file(settings: PlatformSettings) -> Path:
    return settings.state_dir / "operator.key"


def ensure_local_operator(settings: PlatformSettings) -> Path:
    """An operations key for this machine's `ndtms` commands, kept in state/operator.key (0600)."""
    store = credential_store(settings)
    path = operator_key_file(settings)
    if path.exists() and store.authenticate(path.read_text(encoding="utf-8").strip()) is not None:
        return path
    credential, key = store.issue(LOCAL_OPERATOR, (), operations=True, now=datetime.now(UTC))
    audited_issue(settings, store, credential)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return path


def operator_key(settings: PlatformSettings) -> str:
    """NDTMS_API_KEY, else the local operator key that `ndtms up` keeps."""
    key = os.environ.get("NDTMS_API_KEY")
    if key:
        return key
    path = operator_key_file(settings)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    raise CommandFailed(
        "no API key: set NDTMS_API_KEY to an operations key, or run `ndtms up` to make a local one"
    )


def describe(credential: Credential) -> str:
    role = "yes" if credential.operations else "no"
    return f"{credential.name}; providers: {', '.join(credential.providers) or '-'}; operations role: {role}"


def audited_issue(platform: PlatformSettings, store: Credentials, credential: Credential) -> None:
    """A key counts only once its issue is on the audit trail; otherwise it is revoked at once."""
    from ndtms.audit import AuditUnavailable
    from ndtms_contract.audit import AuditAction

    trail = audit_trail(platform)
    try:
        trail(operator_name(), AuditAction.CREDENTIAL_ISSUED, credential.id, describe(credential))
    except AuditUnavailable as exc:
        store.revoke(credential.id, datetime.now(UTC))
        raise CommandFailed(f"{exc}; the key was revoked at once, so nothing was issued") from exc
    finally:
        trail.close()


def cmd_credentials(args: argparse.Namespace) -> int:
    platform = settings()
    store = credential_store(platform)
    now = datetime.now(UTC)
    if args.action == "issue":
        try:
            credential, key = store.issue(args.name, tuple(args.provider or ()), args.operations, now)
        except ValueError as exc:
            raise CommandFailed(str(exc)) from exc
        audited_issue(platform, store, credential)
        shown: dict[str, Any] = {**credential.public(), "key": key}
        if args.json:
            print(json.dumps(shown))
        else:
            print(f"Issued credential {credential.id} ({credential.name}).")
            role = "yes" if credential.operations else "no"
            print(f"  providers: {', '.join(credential.providers) or '-'}; operations role: {role}")
            print(f"  key (shown once, store it now): {key}")
        return 0
    if args.action == "revoke":
        try:
            revoked = store.revoke(args.id, now)
        except UnknownCredential as exc:
            raise CommandFailed(f"no credential {args.id}; see `ndtms credentials list`") from exc
        print(f"Revoked credential {revoked.id} ({revoked.name}); services refuse it from now on.")
        from ndtms.audit import AuditUnavailable
        from ndtms_contract.audit import AuditAction

        # Revoking is never held up by the trail: a leaked key must stop working whatever else fails.
        trail = audit_trail(platform)
        try:
            trail(operator_name(), AuditAction.CREDENTIAL_REVOKED, revoked.id, describe(revoked))
        except AuditUnavailable as exc:
            raise CommandFailed(f"the key is revoked, but {exc}; record the revocation by hand") from exc
        finally:
            trail.close()
        return 0
    listed = [c.public() for c in store.all()]
    if args.json:
        print(json.dumps({"credentials": listed}))
        return 0
    print(f"{'id':<14} {'name':<24} {'operations':<10} {'revoked':<26} providers")
    for c in store.all():
        print(
            f"{c.id:<14} {c.name:<24} {'yes' if c.operations else 'no':<10} {c.revoked_at or '-':<26} "
            f"{', '.join(c.providers) or '-'}"
        )
    return 0


def register(sub: Any) -> None:
    p = command(sub, "credentials")
    actions = p.add_subparsers(dest="action", required=True)
    issue = actions.add_parser("issue", help="a new key, shown once")
    issue.add_argument("--name", required=True, help="who it is for, e.g. the vendor system")
    issue.add_argument(
        "--provider", action="append", metavar="CODE", help="a provider code it may publish for"
    )
    issue.add_argument("--operations", action="store_true", help="may use the operations (query) APIs")
    issue.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="stop a key working")
    revoke.add_argument("id")
    listing = actions.add_parser("list", help="every credential, without keys")
    listing.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_credentials)
