"""Which credential store the settings name: a database table or the file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ndtms.access import Credentials, CredentialStore

if TYPE_CHECKING:
    # Not at run time: reading any command line stays light (tests/unit/test_cli.py).
    from ndtms_contract.settings import PlatformSettings


def credential_store(settings: PlatformSettings) -> Credentials:
    """The store these settings name: a database table when one is configured (or the rehearsal
    shares one), else the file."""
    url = settings.credentials_url or settings.shared_local_database("access")
    if url:
        # Imported here: the file store needs no database driver (the CLI stays light).
        from ndtms.credential_table import CredentialTable  # noqa: PLC0415

        return CredentialTable(url)
    return CredentialStore(settings.credential_store_path)
