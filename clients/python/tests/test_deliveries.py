"""Deliveries and escalations through the SDK: real webhooks verified, replays, cancels."""

from __future__ import annotations

import time
from typing import List, Optional

import anyio
import pytest

from harness import KlaxonProcess, ReceivedRequest, wait_until
from klaxon import (
    AsyncKlaxon,
    Klaxon,
    KlaxonError,
    WebhookVerificationError,
    verify_webhook,
)
from klaxon.types import Delivery, Escalation


def delivered(
    klaxon_server: KlaxonProcess, path: str, event_id: str, count: int = 1
) -> List[ReceivedRequest]:
    """The requests the receiver got on ``path`` for the event ``event_id``."""

    def for_event(request: ReceivedRequest) -> bool:
        return request.path == path and request.json().get("id") == event_id

    return klaxon_server.receiver.wait_for(for_event, count=count)


def delivery_in_state(client: Klaxon, event_id: str, destination: str, state: str) -> Delivery:
    """Wait until the event's delivery to ``destination`` reaches ``state``."""

    def probe() -> Optional[Delivery]:
        for delivery in client.events.get(event_id)["deliveries"]:
            if delivery["destination"] == destination and delivery["state"] == state:
                return delivery
        return None

    found = wait_until(probe)
    assert isinstance(found, dict)
    return found  # type: ignore[return-value]


def test_real_deliveries_verify_in_both_schemes(
    client: Klaxon, klaxon_server: KlaxonProcess
) -> None:
    accepted = client.ingest("sdk.verify", {"check": "signatures"})
    standard = delivered(klaxon_server, "/standard", accepted.id)[0]
    stripe = delivered(klaxon_server, "/stripe", accepted.id)[0]
    assert "webhook-signature" in standard.headers
    assert "x-klaxon-signature" in stripe.headers

    body = verify_webhook(standard.body, standard.headers, klaxon_server.standard_secret)
    assert body["id"] == accepted.id and body["payload"] == {"check": "signatures"}
    body = verify_webhook(stripe.body, stripe.headers, klaxon_server.stripe_secret)
    assert body["type"] == "sdk.verify"
    # Rotation: the right secret anywhere in the list is enough.
    assert verify_webhook(
        stripe.body, stripe.headers, ["old-secret-0123456789", klaxon_server.stripe_secret]
    )
    # The event's deliveries, one per destination, the webhook-id being the delivery's id.
    of_event = client.deliveries.list(event_id=accepted.id)["data"]
    assert sorted(d["destination"] for d in of_event) == [
        "sdk-webhooks.standard", "sdk-webhooks.stripe",
    ]
    assert standard.headers["webhook-id"] in {d["id"] for d in of_event}
    assert [d["id"] for d in client.deliveries.iterate(event_id=accepted.id)] == [
        d["id"] for d in of_event
    ]


def test_tampered_wrong_secret_and_stale_deliveries_are_rejected(
    client: Klaxon, klaxon_server: KlaxonProcess
) -> None:
    accepted = client.ingest("sdk.tamper", {"amount": 100})
    for path, secret in (
        ("/standard", klaxon_server.standard_secret),
        ("/stripe", klaxon_server.stripe_secret),
    ):
        request = delivered(klaxon_server, path, accepted.id)[0]
        tampered = request.body.replace(b"100", b"999")
        assert tampered != request.body
        with pytest.raises(WebhookVerificationError) as caught:
            verify_webhook(tampered, request.headers, secret)
        assert caught.value.reason == "no_matching_signature"

        other = "whsec_" + "A" * 43 + "=" if path == "/standard" else "not-the-secret-0123"
        with pytest.raises(WebhookVerificationError) as caught:
            verify_webhook(request.body, request.headers, other)
        assert caught.value.reason == "no_matching_signature"

        with pytest.raises(WebhookVerificationError) as caught:
            verify_webhook(request.body, request.headers, secret, now=time.time() + 301)
        assert caught.value.reason == "timestamp_out_of_tolerance"


def test_replaying_a_succeeded_delivery_sends_the_same_webhook_id(
    client: Klaxon, klaxon_server: KlaxonProcess
) -> None:
    accepted = client.ingest("sdk.replay", {"replay": 1})
    first = delivered(klaxon_server, "/standard", accepted.id)[0]
    delivery = delivery_in_state(client, accepted.id, "sdk-webhooks.standard", "succeeded")
    assert delivery["id"] == first.headers["webhook-id"]

    replayed = client.deliveries.replay(delivery["id"])
    assert replayed["id"] == delivery["id"]
    both = delivered(klaxon_server, "/standard", accepted.id, count=2)
    assert both[1].headers["webhook-id"] == first.headers["webhook-id"]
    verify_webhook(both[1].body, both[1].headers, klaxon_server.standard_secret)

    detail = wait_until(
        lambda: (d := client.deliveries.get(delivery["id"]))["state"] == "succeeded"
        and len(d.get("attempt_log") or []) >= 2
        and d
    )
    assert isinstance(detail, dict)
    assert [a["status"] for a in detail["attempt_log"]][:2] == [200, 200]


def test_replaying_a_delivery_in_progress_is_a_409(
    client: Klaxon, klaxon_server: KlaxonProcess
) -> None:
    accepted = client.ingest("sdkfail.x", {"fails": True})
    dead = delivery_in_state(client, accepted.id, "sdk-failing.failing", "dead")
    assert client.deliveries.get(dead["id"])["attempt_log"]
    listed = [d["id"] for d in client.deliveries.iterate(state="dead", destination="sdk-failing.failing")]
    assert dead["id"] in listed

    requeued = client.deliveries.replay(dead["id"])  # dead: accepted, pending again
    assert requeued["state"] in ("pending", "failed")
    with pytest.raises(KlaxonError) as caught:
        client.deliveries.replay(dead["id"])
    assert caught.value.status == 409
    assert caught.value.code == "delivery_in_progress"


def test_unknown_delivery_is_a_404(client: Klaxon) -> None:
    with pytest.raises(KlaxonError) as caught:
        client.deliveries.get("msg_00000000000000000000000000000000")
    assert caught.value.status == 404


def test_escalation_list_get_and_cancel(client: Klaxon) -> None:
    accepted = client.ingest("page.sdk", {"subject": "Database down"})

    def escalation_of_event() -> Optional[Escalation]:
        for escalation in client.escalations.list(state="active")["data"]:
            if escalation["event_id"] == accepted.id:
                return escalation
        return None

    escalation = wait_until(escalation_of_event)
    assert isinstance(escalation, dict)
    assert escalation["status"] == "active"
    cancelled = client.escalations.cancel(escalation["id"])
    assert cancelled["status"] == "cancelled"

    detail = client.escalations.get(escalation["id"])
    assert detail["status"] == "cancelled"
    assert detail["timeline"]
    assert escalation["id"] in [e["id"] for e in client.escalations.iterate(state="cancelled")]
    with pytest.raises(KlaxonError) as caught:
        client.escalations.cancel(escalation["id"])
    assert caught.value.status == 409
    assert caught.value.code == "escalation_ended"


@pytest.mark.anyio
async def test_async_deliveries_and_escalations(
    async_client: AsyncKlaxon, klaxon_server: KlaxonProcess
) -> None:
    accepted = await async_client.ingest("sdk.async", {"async": True})
    request = delivered(klaxon_server, "/standard", accepted.id)[0]
    delivery_id = request.headers["webhook-id"]
    detail = await async_client.deliveries.get(delivery_id)
    assert detail["event_id"] == accepted.id
    of_event = (await async_client.deliveries.list(event_id=accepted.id))["data"]
    assert delivery_id in {d["id"] for d in of_event} and len(of_event) == 2
    page = await async_client.deliveries.list(destination="sdk-webhooks.standard", limit=5)
    assert page["data"]
    assert all(d["destination"] == "sdk-webhooks.standard" for d in page["data"])
    seen = [
        d["id"]
        async for d in async_client.deliveries.iterate(destination="sdk-webhooks.standard", limit=2)
    ]
    assert delivery_id in seen
    assert len(seen) == len(set(seen))  # pages do not overlap

    paged = await async_client.ingest("page.async", {"subject": "async page"})
    escalation_id = None
    for _ in range(200):
        async for escalation in async_client.escalations.iterate(state="active"):
            if escalation["event_id"] == paged.id:
                escalation_id = escalation["id"]
        if escalation_id:
            break
        await anyio.sleep(0.1)
    assert escalation_id is not None
    cancelled = await async_client.escalations.cancel(escalation_id)
    assert cancelled["status"] == "cancelled"
    assert (await async_client.escalations.get(escalation_id))["timeline"]
