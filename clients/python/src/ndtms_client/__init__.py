"""The publishing client a vendor system embeds: `pip install ./clients/python`.

    from ndtms_client import EpisodePublisher, EpisodeUpdate

It needs the contract (`ndtms_contract`, shipped with it), pydantic, httpx and confluent-kafka:
none of the platform's server side.
"""

from ndtms_client.publisher import (
    EpisodePublisher,
    NotAllowed,
    PublishError,
    PublishFailed,
    PublishRejected,
    Receipt,
    Rejection,
)
from ndtms_contract import __version__
from ndtms_contract.episodes import EpisodeUpdate

__all__ = [
    "EpisodePublisher",
    "EpisodeUpdate",
    "NotAllowed",
    "PublishError",
    "PublishFailed",
    "PublishRejected",
    "Receipt",
    "Rejection",
    "__version__",
]
