"""The module-level ``klaxon.ingest(...)``: a shared client configured from the environment."""

from __future__ import annotations

import os
import threading
from typing import Any, Mapping, Optional

from ._client import Klaxon
from ._core import DEFAULT_BASE_URL, Accepted, OccurredAt

__all__ = ["ingest", "default_client", "reset_default_client"]

_lock = threading.Lock()
_client: Optional[Klaxon] = None


def default_client() -> Klaxon:
    """The shared client, made on first use from ``KLAXON_URL`` and ``KLAXON_API_TOKEN``.

    ``KLAXON_URL`` defaults to ``http://127.0.0.1:5000``; without ``KLAXON_API_TOKEN`` no
    bearer token is sent (Klaxon then accepts loopback callers only). The optional
    ``KLAXON_INGEST_SECRET`` becomes the client's ``signing_secret``.
    """
    global _client
    with _lock:
        if _client is None:
            _client = Klaxon(
                base_url=os.environ.get("KLAXON_URL") or DEFAULT_BASE_URL,
                token=os.environ.get("KLAXON_API_TOKEN") or None,
                signing_secret=os.environ.get("KLAXON_INGEST_SECRET") or None,
            )
        return _client


def reset_default_client() -> None:
    """Close the shared client, so the next call reads the environment again."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


def ingest(
    type: str,
    payload: Mapping[str, Any],
    *,
    idempotency_key: Optional[str] = None,
    occurred_at: OccurredAt = None,
) -> Accepted:
    """Send one event with the shared client; see :meth:`klaxon.Klaxon.ingest`.

    Example::

        import klaxon
        klaxon.ingest("support.ticket.created", {"subject": "Site down"},
                      idempotency_key=ticket.id)
    """
    return default_client().ingest(
        type, payload, idempotency_key=idempotency_key, occurred_at=occurred_at
    )
