"""NDTMS streams: the shared contract, the `ndtms` command, and the publishing client.

`from ndtms import EpisodePublisher, EpisodeUpdate` is the vendor-facing entry point; it is
loaded on first use so that importing the contract alone stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ndtms.contract.episodes import EpisodeUpdate
    from ndtms.publisher import EpisodePublisher, NotAllowed, PublishFailed, PublishRejected

__all__ = ["EpisodePublisher", "EpisodeUpdate", "NotAllowed", "PublishFailed", "PublishRejected"]


def __getattr__(name: str) -> Any:
    if name == "EpisodeUpdate":
        from ndtms.contract.episodes import EpisodeUpdate  # noqa: PLC0415

        return EpisodeUpdate
    if name in __all__:
        from ndtms import publisher  # noqa: PLC0415

        return getattr(publisher, name)
    raise AttributeError(f"module 'ndtms' has no attribute {name!r}")
