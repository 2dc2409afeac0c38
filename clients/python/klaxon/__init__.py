"""Klaxon's Python SDK: send events to Klaxon, read them back, verify its webhooks.

Quick use::

    import klaxon
    klaxon.ingest("support.ticket.created", {"subject": "Site down"}, idempotency_key="T-42")

See ``Klaxon`` / ``AsyncKlaxon`` for clients, ``verify_webhook`` for receivers.
"""

from ._async_client import AsyncDeliveries, AsyncEscalations, AsyncEvents, AsyncKlaxon
from ._client import Deliveries, Escalations, Events, Klaxon
from ._core import DEFAULT_BASE_URL, Accepted, RetryPolicy
from ._default import default_client, ingest, reset_default_client
from ._errors import (
    KlaxonConnectionError,
    KlaxonError,
    KlaxonTimeoutError,
    WebhookVerificationError,
)
from ._signing import (
    DEFAULT_TOLERANCE_SECONDS,
    sign_ingest,
    sign_standard_webhook,
    verify_webhook,
)

__version__ = "0.1.0"

__all__ = [
    "Accepted",
    "AsyncDeliveries",
    "AsyncEscalations",
    "AsyncEvents",
    "AsyncKlaxon",
    "DEFAULT_BASE_URL",
    "DEFAULT_TOLERANCE_SECONDS",
    "Deliveries",
    "Escalations",
    "Events",
    "Klaxon",
    "KlaxonConnectionError",
    "KlaxonError",
    "KlaxonTimeoutError",
    "RetryPolicy",
    "WebhookVerificationError",
    "default_client",
    "ingest",
    "reset_default_client",
    "sign_ingest",
    "sign_standard_webhook",
    "verify_webhook",
]
