"""The exceptions the Klaxon SDK raises: API errors, transport failures, bad webhooks."""

from __future__ import annotations

from typing import Optional

__all__ = [
    "KlaxonError",
    "KlaxonConnectionError",
    "KlaxonTimeoutError",
    "WebhookVerificationError",
]


class KlaxonError(Exception):
    """Klaxon answered with an error status.

    Built from the service's error body ``{"error": {"code": ..., "message": ...}}``.
    When the body is not in that shape (a proxy's HTML page, say), ``code`` is
    ``"http_<status>"`` and ``message`` the reason phrase.

    Attributes:
        status: The HTTP status code, e.g. 409.
        code: Klaxon's machine-readable error code, e.g. ``"idempotency_conflict"``.
        message: The human-readable message Klaxon sent.
        retry_after: Seconds the server asked to wait (``Retry-After``), when it said.
    """

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: Optional[float] = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class KlaxonConnectionError(Exception):
    """Klaxon could not be reached, or the connection broke, and retries were exhausted.

    The underlying ``httpx`` exception is available as ``__cause__``.
    """


class KlaxonTimeoutError(KlaxonConnectionError):
    """A request to Klaxon timed out on every attempt."""


class WebhookVerificationError(Exception):
    """A webhook's signature did not verify; the request must be refused (answer 401/400).

    Attributes:
        reason: Why, one of ``"missing_header"``, ``"malformed_header"``,
            ``"timestamp_out_of_tolerance"``, ``"no_matching_signature"`` or
            ``"invalid_json"`` (the signature was valid but the body is not JSON).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
