"""A small client a vendor system embeds to publish episode updates.

    from ndtms_client import EpisodePublisher, EpisodeUpdate

    with EpisodePublisher.over_http("https://ingest.example", api_key=KEY) as publisher:
        receipts = publisher.publish([EpisodeUpdate(...), ...])

Over HTTP it calls `POST /v1/episodes` (batches of up to 1,000); `EpisodePublisher.to_kafka`
writes to `ndtms.episodes.raw` directly with the Avro serializer, after the same shape checks.
Transient failures (connection errors, timeouts, HTTP 429/5xx, broker errors) are retried with
exponential backoff; a resend is safe because a repeated revision is applied once downstream.
Permanent failures raise at once: `PublishRejected` (some records failed the shape checks;
it lists them and the ones accepted), `NotAllowed` (401/403: the key, or a provider it is not
bound to), `PublishFailed` (still failing after the retries).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import httpx
from confluent_kafka import Producer

from ndtms_client.raw_topic import RawTopicWriter
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.parsing import parse_object
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import RAW
from ndtms_contract.transcoding import AvroTranscoder, registry_client

BATCH = 1000
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Receipt:
    provider_id: str
    episode_id: str
    revision: int


@dataclass(frozen=True)
class Rejection:
    index: int
    problems: tuple[str, ...]


class PublishError(Exception):
    pass


class PublishRejected(PublishError):
    def __init__(self, rejections: Sequence[Rejection], accepted: Sequence[Receipt]):
        self.rejections = tuple(rejections)
        self.accepted = tuple(accepted)
        first = rejections[0]
        super().__init__(
            f"{len(rejections)} update(s) rejected, {len(accepted)} accepted; "
            f"first: index {first.index}: {'; '.join(first.problems)}"
        )


class NotAllowed(PublishError):
    pass


class PublishFailed(PublishError):
    pass


class _Channel(Protocol):
    def send(self, updates: Sequence[EpisodeUpdate]) -> list[Receipt]: ...

    def close(self) -> None: ...


class _Transient(Exception):
    pass


class EpisodePublisher:
    def __init__(
        self,
        channel: _Channel,
        retries: int = 5,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._channel = channel
        self._retries = retries
        self._backoff = backoff_seconds
        self._sleep = sleep

    @classmethod
    def over_http(
        cls,
        base_url: str,
        api_key: str,
        timeout: float = 30,
        client: httpx.Client | None = None,
        **options: Any,
    ) -> EpisodePublisher:
        return cls(_Http(client or httpx.Client(base_url=base_url, timeout=timeout), api_key), **options)

    @classmethod
    def to_kafka(cls, settings: PlatformSettings, **options: Any) -> EpisodePublisher:
        codec = AvroTranscoder(registry_client(settings.registry_url), RAW, EpisodeUpdate)
        return cls(_Kafka(RawTopicWriter(Producer(settings.producer_config()), codec)), **options)

    def publish(self, updates: EpisodeUpdate | Sequence[EpisodeUpdate]) -> list[Receipt]:
        batch = [updates] if isinstance(updates, EpisodeUpdate) else list(updates)
        receipts: list[Receipt] = []
        for start in range(0, len(batch), BATCH):
            receipts.extend(self._with_retries(batch[start : start + BATCH]))
        return receipts

    def _with_retries(self, updates: Sequence[EpisodeUpdate]) -> list[Receipt]:
        for attempt in range(self._retries + 1):
            try:
                return self._channel.send(updates)
            except _Transient as exc:
                if attempt == self._retries:
                    raise PublishFailed(f"gave up after {attempt + 1} attempts: {exc}") from exc
                self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> EpisodePublisher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class _Http:
    def __init__(self, client: httpx.Client, api_key: str):
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def send(self, updates: Sequence[EpisodeUpdate]) -> list[Receipt]:
        body = json.dumps([u.model_dump(mode="json", exclude_none=True) for u in updates])
        try:
            response = self._client.post("/v1/episodes", content=body, headers=self._headers)
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in RETRYABLE_STATUS:
            raise _Transient(f"HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code in (401, 403):
            raise NotAllowed(f"HTTP {response.status_code}: {_detail(response)}")
        if response.status_code not in (200, 207, 422):
            raise PublishError(f"HTTP {response.status_code}: {_detail(response)}")
        results = response.json()["results"]
        accepted = [
            Receipt(r["provider_id"], r["episode_id"], r["revision"])
            for r in results
            if r["status"] == "accepted"
        ]
        rejected = [
            Rejection(r["index"], tuple(f"{p['path']}: {p['message']}" for p in r["problems"]))
            for r in results
            if r["status"] == "rejected"
        ]
        if rejected:
            raise PublishRejected(rejected, accepted)
        return accepted

    def close(self) -> None:
        self._client.close()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("error") or body.get("detail") or body)[:300]


class _Kafka:
    def __init__(self, writer: RawTopicWriter):
        self._writer = writer

    def send(self, updates: Sequence[EpisodeUpdate]) -> list[Receipt]:
        checked = [
            parse_object(i, u.model_dump(mode="json", exclude_none=True)) for i, u in enumerate(updates)
        ]
        rejected = [
            Rejection(p.position, tuple(str(x) for x in p.problems)) for p in checked if not p.accepted
        ]
        if rejected:
            raise PublishRejected(rejected, [])
        deliveries = self._writer.write(list(updates))
        failed = [d for d in deliveries if not d.ok]
        if failed:
            # Resending the whole batch is safe: a repeated revision is applied once downstream.
            raise _Transient(f"{len(failed)} of {len(deliveries)} not acknowledged: {failed[0].error}")
        return [Receipt(u.provider_id, u.episode_id, u.revision) for u in updates]

    def close(self) -> None:
        self._writer.producer.flush(30)
