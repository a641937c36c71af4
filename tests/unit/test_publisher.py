"""The publishing client's answers: retries for transient failures, clear errors for permanent ones."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from ndtms_client import EpisodePublisher, NotAllowed, PublishFailed, PublishRejected
from tests.builders import community, update

Handler = Callable[[httpx.Request], httpx.Response]


def accepted_all(request: httpx.Request) -> httpx.Response:
    sent = json.loads(request.content)
    results = [
        {"index": i, "status": "accepted", **{k: r[k] for k in ("provider_id", "episode_id", "revision")}}
        for i, r in enumerate(sent)
    ]
    return httpx.Response(200, json={"accepted": len(sent), "rejected": 0, "results": results})


def publisher(*answers: Handler | httpx.Response) -> tuple[EpisodePublisher, list[float]]:
    queue = list(answers)
    waits: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer k"
        answer = queue.pop(0)
        return answer if isinstance(answer, httpx.Response) else answer(request)

    client = httpx.Client(base_url="http://ingest", transport=httpx.MockTransport(handle))
    return EpisodePublisher.over_http(
        "http://ingest", "k", client=client, retries=3, sleep=waits.append
    ), waits


def test_transient_failures_are_retried_with_backoff() -> None:
    client, waits = publisher(httpx.Response(503), httpx.Response(502), accepted_all)
    [receipt] = client.publish(update(community()))
    assert (receipt.episode_id, receipt.revision) == ("CE1", 1) and waits == [0.5, 1.0]


def test_gives_up_after_the_retries() -> None:
    client, waits = publisher(*[httpx.Response(503)] * 4)
    with pytest.raises(PublishFailed, match="gave up after 4 attempts"):
        client.publish(update(community()))
    assert len(waits) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_problems_are_permanent(status: int) -> None:
    client, waits = publisher(httpx.Response(status, json={"error": "nope"}))
    with pytest.raises(NotAllowed, match=f"HTTP {status}: nope"):
        client.publish(update(community()))
    assert waits == []


def test_rejections_list_what_failed_and_what_was_accepted() -> None:
    body = {
        "accepted": 1,
        "rejected": 1,
        "results": [
            {"index": 0, "status": "accepted", "provider_id": "CMTY001", "episode_id": "CE1", "revision": 1},
            {"index": 1, "status": "rejected", "problems": [{"path": "revision", "message": "duplicate"}]},
        ],
    }
    client, _ = publisher(httpx.Response(207, json=body))
    with pytest.raises(PublishRejected) as raised:
        client.publish([update(community()), update(community())])
    assert raised.value.rejections[0].index == 1 and len(raised.value.accepted) == 1
    assert "revision: duplicate" in str(raised.value)
