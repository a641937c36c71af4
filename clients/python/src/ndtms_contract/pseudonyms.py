"""The pseudonymous client key that stands for a person on every downstream topic."""

from __future__ import annotations

import hmac
from datetime import date

from ndtms_contract.episodes import Sex

CLIENT_KEY_LENGTH = 32
CLIENT_KEY_PATTERN = r"^[0-9a-f]{32}$"


def client_key(
    secret: bytes, first_initial: str, second_initial: str, date_of_birth: date, sex: Sex | str
) -> str:
    """First 32 hex characters of HMAC-SHA256 over `FIRST|SECOND|YYYY-MM-DD|sex`.

    Local authority is left out on purpose: people move on release, and NDTMS links a
    prison record to a community one on initials, date of birth and sex alone.
    """
    message = "|".join(
        (
            first_initial.strip().upper(),
            second_initial.strip().upper(),
            date_of_birth.isoformat(),
            Sex(sex).value,
        )
    )
    # hmac.digest: the one-shot C path, several times faster than building an HMAC object.
    return hmac.digest(secret, message.encode("utf-8"), "sha256").hex()[:CLIENT_KEY_LENGTH]
