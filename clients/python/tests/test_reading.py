"""Reading events back through the SDK: list, get, pages and iteration, sync and async."""

from __future__ import annotations

import uuid
from typing import List

import pytest

from klaxon import AsyncKlaxon, Klaxon, KlaxonError


def fresh_type() -> str:
    return f"pagination.t{uuid.uuid4().hex[:12]}"


def test_pages_follow_next_cursor(client: Klaxon) -> None:
    event_type = fresh_type()
    ids = [client.ingest(event_type, {"n": n}).id for n in range(5)]
    first = client.events.list(type=event_type, limit=2)
    assert [e["id"] for e in first["data"]] == ids[::-1][:2]  # newest first
    assert first["next_cursor"]
    second = client.events.list(type=event_type, limit=2, after=first["next_cursor"])
    assert [e["id"] for e in second["data"]] == ids[::-1][2:4]
    everything = [e["id"] for e in client.events.iterate(type=event_type, limit=2)]
    assert everything == ids[::-1]


def test_type_filter_and_bad_limit(client: Klaxon) -> None:
    event_type = fresh_type()
    client.ingest(event_type, {})
    assert {e["type"] for e in client.events.list(type=event_type)["data"]} == {event_type}
    with pytest.raises(KlaxonError) as caught:
        client.events.list(limit=0)
    assert caught.value.status == 400


def test_unknown_event_is_a_404(client: Klaxon) -> None:
    with pytest.raises(KlaxonError) as caught:
        client.events.get("00000000-0000-7000-8000-000000000000")
    assert caught.value.status == 404
    assert caught.value.code == "not_found"


@pytest.mark.anyio
async def test_async_iterate_over_pages(async_client: AsyncKlaxon) -> None:
    event_type = fresh_type()
    ids = [(await async_client.ingest(event_type, {"n": n})).id for n in range(3)]
    seen: List[str] = [e["id"] async for e in async_client.events.iterate(type=event_type, limit=1)]
    assert seen == ids[::-1]
    page = await async_client.events.list(type=event_type, limit=3)
    assert page["next_cursor"] is None
