"""Ingest through the SDK against the real Klaxon: keys, conflicts, auth, signing, retries."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from conftest import FAST_RETRIES
from harness import FaultProxy, KlaxonProcess
from klaxon import (
    AsyncKlaxon,
    Klaxon,
    KlaxonConnectionError,
    KlaxonError,
    KlaxonTimeoutError,
    RetryPolicy,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_ingest_stores_then_answers_a_repeat_as_duplicate(client: Klaxon) -> None:
    key = unique("ticket")
    first = client.ingest("support.ticket.created", {"subject": "Site down"}, idempotency_key=key)
    again = client.ingest("support.ticket.created", {"subject": "Site down"}, idempotency_key=key)
    assert first.duplicate is False
    assert again.duplicate is True
    assert again.id == first.id
    stored = client.events.get(first.id)
    assert stored["type"] == "support.ticket.created"
    assert stored["payload"] == {"subject": "Site down"}
    assert stored["idempotency_key"] == key


def test_occurred_at_is_sent_as_rfc3339(client: Klaxon) -> None:
    when = datetime(2024, 5, 29, 16, 26, 40, tzinfo=timezone.utc)
    accepted = client.ingest("support.ticket.created", {"n": 1}, occurred_at=when)
    assert client.events.get(accepted.id)["occurred_at"].startswith("2024-05-29T16:26:40")
    text = client.ingest("support.ticket.created", {"n": 2}, occurred_at="2024-01-02T03:04:05Z")
    assert client.events.get(text.id)["occurred_at"].startswith("2024-01-02T03:04:05")
    with pytest.raises(ValueError):
        client.ingest("support.ticket.created", {}, occurred_at=datetime(2024, 1, 1))


def test_without_a_key_each_call_is_a_new_event(client: Klaxon) -> None:
    first = client.ingest("support.ticket.created", {"same": True})
    second = client.ingest("support.ticket.created", {"same": True})
    assert first.id != second.id
    assert not first.duplicate and not second.duplicate
    assert client.events.get(first.id)["idempotency_key"] != (
        client.events.get(second.id)["idempotency_key"]
    )


def test_same_key_other_payload_is_a_conflict(client: Klaxon) -> None:
    key = unique("conflict")
    client.ingest("support.ticket.created", {"v": 1}, idempotency_key=key)
    with pytest.raises(KlaxonError) as caught:
        client.ingest("support.ticket.created", {"v": 2}, idempotency_key=key)
    assert caught.value.status == 409
    assert caught.value.code == "idempotency_conflict"
    assert caught.value.message


def test_invalid_event_is_a_422(client: Klaxon) -> None:
    with pytest.raises(KlaxonError) as caught:
        client.ingest("not a valid type!", {})
    assert caught.value.status == 422


def test_wrong_token_is_a_401_and_the_error_does_not_show_it(klaxon_server: KlaxonProcess) -> None:
    wrong = "wrong-token-0123456789"
    with Klaxon(klaxon_server.url, token=wrong, retry_policy=FAST_RETRIES) as bad:
        with pytest.raises(KlaxonError) as caught:
            bad.ingest("support.ticket.created", {})
        with pytest.raises(KlaxonError) as listing:
            bad.events.list()
    assert caught.value.status == 401
    assert listing.value.status == 401
    assert wrong not in str(caught.value)


def test_signed_ingest_needs_no_token(klaxon_server: KlaxonProcess) -> None:
    with Klaxon(
        klaxon_server.url, signing_secret=klaxon_server.ingest_secret, retry_policy=FAST_RETRIES
    ) as signer:
        key = unique("signed")
        accepted = signer.signed_ingest("support.ticket.created", {"s": 1}, idempotency_key=key)
        repeat = signer.signed_ingest("support.ticket.created", {"s": 1}, idempotency_key=key)
    assert accepted.duplicate is False
    assert repeat.duplicate is True and repeat.id == accepted.id
    with Klaxon(klaxon_server.url, token=klaxon_server.token) as reader:
        assert reader.events.get(accepted.id)["source"] == "signed"


def test_signed_ingest_with_a_wrong_secret_is_refused(klaxon_server: KlaxonProcess) -> None:
    with Klaxon(
        klaxon_server.url, signing_secret="not-the-secret-0123", retry_policy=FAST_RETRIES
    ) as signer:
        with pytest.raises(KlaxonError) as caught:
            signer.signed_ingest("support.ticket.created", {"s": 1})
    assert caught.value.status == 401
    with pytest.raises(ValueError):
        Klaxon(klaxon_server.url).signed_ingest("support.ticket.created", {})


def test_signed_ingest_signs_each_attempt_afresh(klaxon_server: KlaxonProcess) -> None:
    # A 429 with Retry-After: 1 puts the retry at least a second later: a new t.
    with FaultProxy(klaxon_server.url, ["429"]) as proxy:
        with Klaxon(
            proxy.url, signing_secret=klaxon_server.ingest_secret, retry_policy=FAST_RETRIES
        ) as signer:
            accepted = signer.signed_ingest("support.ticket.created", {"fresh": True})
    assert accepted.duplicate is False
    signatures = [headers["X-Klaxon-Signature"] for _, _, _, headers in proxy.seen]
    assert len(signatures) == 2 and signatures[0] != signatures[1]
    assert all("Authorization" not in headers for _, _, _, headers in proxy.seen)


def test_retry_after_a_dropped_connection_reuses_the_key(
    client: Klaxon, klaxon_server: KlaxonProcess
) -> None:
    event_type = unique("dropped").replace("-", ".")
    with FaultProxy(klaxon_server.url, ["drop"]) as proxy:
        with Klaxon(proxy.url, token=klaxon_server.token, retry_policy=FAST_RETRIES) as flaky:
            accepted = flaky.ingest(event_type, {"once": True})
    assert proxy.upstream_answers == [202, 200]  # stored by the first, duplicate on the retry
    assert proxy.seen[0][2] == proxy.seen[1][2]  # the same body, key included
    assert accepted.duplicate is True
    stored = client.events.list(type=event_type)["data"]
    assert [event["id"] for event in stored] == [accepted.id]


def test_retries_503_then_succeeds(klaxon_server: KlaxonProcess) -> None:
    with FaultProxy(klaxon_server.url, ["503", "503"]) as proxy:
        with Klaxon(proxy.url, token=klaxon_server.token, retry_policy=FAST_RETRIES) as flaky:
            accepted = flaky.ingest("support.ticket.created", {"retried": True})
    assert len(proxy.seen) == 3
    assert len({body for _, _, body, _ in proxy.seen}) == 1
    assert accepted.duplicate is False  # the 503s never reached Klaxon


def test_503_beyond_the_retries_raises_the_last_error(klaxon_server: KlaxonProcess) -> None:
    with FaultProxy(klaxon_server.url, ["503"] * 5) as proxy:
        policy = RetryPolicy(retries=2, base_delay=0.01, max_delay=0.01)
        with Klaxon(proxy.url, token=klaxon_server.token, retry_policy=policy) as flaky:
            with pytest.raises(KlaxonError) as caught:
                flaky.ingest("support.ticket.created", {})
    assert caught.value.status == 503 and caught.value.code == "unavailable"
    assert len(proxy.seen) == 3


def test_429_waits_for_retry_after(klaxon_server: KlaxonProcess) -> None:
    with FaultProxy(klaxon_server.url, ["429"]) as proxy:
        with Klaxon(proxy.url, token=klaxon_server.token, retry_policy=FAST_RETRIES) as limited:
            started = time.monotonic()
            limited.ingest("support.ticket.created", {"limited": True})
            elapsed = time.monotonic() - started
    assert len(proxy.seen) == 2
    assert elapsed >= 1.0  # Retry-After: 1, not the 0.05 s backoff


def test_replay_is_not_retried_after_a_503(client: Klaxon, klaxon_server: KlaxonProcess) -> None:
    with FaultProxy(klaxon_server.url, ["503"]) as proxy:
        with Klaxon(proxy.url, token=klaxon_server.token, retry_policy=FAST_RETRIES) as flaky:
            with pytest.raises(KlaxonError) as caught:
                flaky.deliveries.replay("msg_00000000000000000000000000000000")
    assert caught.value.status == 503
    assert len(proxy.seen) == 1


def test_unreachable_server_raises_connection_error() -> None:
    policy = RetryPolicy(retries=2, base_delay=0.01, max_delay=0.01)
    with Klaxon("http://127.0.0.1:1", token="x" * 16, retry_policy=policy) as nowhere:
        with pytest.raises(KlaxonConnectionError) as caught:
            nowhere.ingest("support.ticket.created", {})
    assert "3 attempt(s)" in str(caught.value)


def test_timeouts_raise_timeout_error_after_retries(klaxon_server: KlaxonProcess) -> None:
    with FaultProxy(klaxon_server.url, ["stall", "stall"]) as proxy:
        policy = RetryPolicy(retries=1, base_delay=0.01, max_delay=0.01)
        with Klaxon(proxy.url, token=klaxon_server.token, timeout=0.3, retry_policy=policy) as slow:
            with pytest.raises(KlaxonTimeoutError):
                slow.events.list()
    assert len(proxy.seen) == 2


@pytest.mark.anyio
async def test_async_ingest_duplicate_and_conflict(async_client: AsyncKlaxon) -> None:
    key = unique("async")
    first = await async_client.ingest("support.ticket.created", {"a": 1}, idempotency_key=key)
    again = await async_client.ingest("support.ticket.created", {"a": 1}, idempotency_key=key)
    assert (first.duplicate, again.duplicate, again.id) == (False, True, first.id)
    with pytest.raises(KlaxonError) as caught:
        await async_client.ingest("support.ticket.created", {"a": 2}, idempotency_key=key)
    assert caught.value.code == "idempotency_conflict"
    assert (await async_client.events.get(first.id))["payload"] == {"a": 1}


@pytest.mark.anyio
async def test_async_retry_after_a_dropped_connection(
    async_client: AsyncKlaxon, klaxon_server: KlaxonProcess
) -> None:
    event_type = unique("asyncdropped").replace("-", ".")
    with FaultProxy(klaxon_server.url, ["drop"]) as proxy:
        async with AsyncKlaxon(
            proxy.url, token=klaxon_server.token, retry_policy=FAST_RETRIES
        ) as flaky:
            accepted = await flaky.ingest(event_type, {"once": True})
    assert proxy.upstream_answers == [202, 200]
    assert accepted.duplicate is True
    stored = (await async_client.events.list(type=event_type))["data"]
    assert [event["id"] for event in stored] == [accepted.id]


@pytest.mark.anyio
async def test_async_retries_503_and_signs(klaxon_server: KlaxonProcess) -> None:
    with FaultProxy(klaxon_server.url, ["503", "503"]) as proxy:
        async with AsyncKlaxon(
            proxy.url, signing_secret=klaxon_server.ingest_secret, retry_policy=FAST_RETRIES
        ) as flaky:
            accepted = await flaky.signed_ingest("support.ticket.created", {"async": True})
    assert len(proxy.seen) == 3 and accepted.duplicate is False
    async with AsyncKlaxon(klaxon_server.url, signing_secret="wrong-secret-0123456") as wrong:
        with pytest.raises(KlaxonError) as caught:
            await wrong.signed_ingest("support.ticket.created", {})
    assert caught.value.status == 401


def test_ingest_body_is_the_documented_envelope(klaxon_server: KlaxonProcess) -> None:
    with FaultProxy(klaxon_server.url, []) as proxy:
        with Klaxon(proxy.url, token=klaxon_server.token) as via_proxy:
            via_proxy.ingest("support.ticket.created", {"k": "v"}, idempotency_key="T-1-envelope")
    method, path, body, headers = proxy.seen[0]
    assert (method, path) == ("POST", "/v1/events")
    assert json.loads(body) == {
        "type": "support.ticket.created",
        "payload": {"k": "v"},
        "idempotency_key": "T-1-envelope",
    }
    assert headers["Authorization"] == f"Bearer {klaxon_server.token}"


class CountingTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, counting the requests it sends and how often it is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await super().handle_async_request(request)

    async def aclose(self) -> None:
        self.closed += 1
        await super().aclose()


@pytest.mark.anyio
async def test_async_client_sends_through_a_given_transport_and_closes_it_once(
    klaxon_server: KlaxonProcess,
) -> None:
    transport = CountingTransport()
    async with AsyncKlaxon(klaxon_server.url, token=klaxon_server.token, transport=transport) as own:
        accepted = await own.ingest("support.ticket.created", {"via": "transport"})
        assert (await own.events.get(accepted.id))["payload"] == {"via": "transport"}
    assert (transport.requests, transport.closed) == (2, 1)
