"""What every `ndtms` command shares: the one-line failure and the settings it runs with.

Imports of the platform are made when a command asks for them, not when the command line is
read, so that `--help` and short commands start quickly.
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ndtms.audit import AuditTrail
    from ndtms_contract.settings import PlatformSettings


class CommandFailed(Exception):
    """A failure to report in one line and exit non-zero."""


def settings() -> PlatformSettings:
    from ndtms_contract.settings import PlatformSettings

    return PlatformSettings()


def operator_name() -> str:
    """Who is running the command, for the audit trail: NDTMS_OPERATOR, else the login name."""
    return os.environ.get("NDTMS_OPERATOR") or getpass.getuser()


def audit_trail(platform: PlatformSettings) -> AuditTrail:
    from ndtms.audit import AuditTrail

    return AuditTrail(platform, lambda: datetime.now(UTC))
