"""What every `ndtms` command shares: the one-line failure and the settings it runs with."""

from __future__ import annotations

from ndtms.contract.settings import PlatformSettings


class CommandFailed(Exception):
    """A failure to report in one line and exit non-zero."""


def settings() -> PlatformSettings:
    return PlatformSettings()
