"""The module-level ``klaxon.ingest`` and its client configured from the environment."""

from __future__ import annotations

from typing import Iterator

import pytest

import klaxon
from harness import KlaxonProcess


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, klaxon_server: KlaxonProcess) -> Iterator[None]:
    monkeypatch.setenv("KLAXON_URL", klaxon_server.url)
    monkeypatch.setenv("KLAXON_API_TOKEN", klaxon_server.token)
    klaxon.reset_default_client()
    yield
    klaxon.reset_default_client()


def test_module_level_ingest_uses_the_environment(
    environment: None, klaxon_server: KlaxonProcess
) -> None:
    ticket_id = "T-module-level-1"
    first = klaxon.ingest(
        "support.ticket.created", {"subject": "Site down"}, idempotency_key=ticket_id
    )
    again = klaxon.ingest(
        "support.ticket.created", {"subject": "Site down"}, idempotency_key=ticket_id
    )
    assert again.duplicate and again.id == first.id
    assert klaxon.default_client().base_url == klaxon_server.url
    assert klaxon.default_client().events.get(first.id)["idempotency_key"] == ticket_id


def test_module_level_ingest_without_the_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, klaxon_server: KlaxonProcess
) -> None:
    monkeypatch.setenv("KLAXON_URL", klaxon_server.url)
    monkeypatch.delenv("KLAXON_API_TOKEN", raising=False)
    klaxon.reset_default_client()
    try:
        with pytest.raises(klaxon.KlaxonError) as caught:
            klaxon.ingest("support.ticket.created", {})
        assert caught.value.status == 401
    finally:
        klaxon.reset_default_client()
