"""What the sync and async clients share: request description, retry policy, error mapping.

Nothing here does I/O; ``_client.py`` and ``_async_client.py`` run the same plan, one with
``httpx.Client`` and ``time.sleep``, the other with ``httpx.AsyncClient`` and ``anyio.sleep``.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import random
import time
import uuid
from urllib.parse import quote
from dataclasses import dataclass, field
from typing import (
    Any, AsyncIterator, Awaitable, Callable, Dict, Iterator, Mapping, Optional, Sequence, Union,
)

import httpx

from ._errors import KlaxonConnectionError, KlaxonError, KlaxonTimeoutError
from ._signing import sign_ingest

__all__ = ["Accepted", "RetryPolicy", "RequestPlan", "DEFAULT_BASE_URL"]

#: Where a Klaxon started with its defaults listens.
DEFAULT_BASE_URL = "http://127.0.0.1:5000"

#: Statuses worth another try: rate limited, or the server (or a proxy) is unhappy.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Connection failures that happen before a request is sent: safe to retry any request.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

OccurredAt = Union[_dt.datetime, str, None]


@dataclass(frozen=True)
class Accepted:
    """Klaxon's answer to an ingest: the event's id and whether it was already stored.

    Attributes:
        id: The event id (a UUID v7 string).
        duplicate: True when the idempotency key had been seen with the same body, so this
            call stored nothing new and ``id`` is the original event's.
    """

    id: str
    duplicate: bool


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the clients wait between attempts.

    The delay before retry ``n`` (0-based) is ``min(max_delay, base_delay * 2**n)`` scaled by
    a random factor in [0.5, 1.0] (jitter). A ``Retry-After`` header replaces it when
    present; one longer than ``max_retry_after`` is not waited for: the error is raised.

    Attributes:
        retries: Retries after the first attempt (0 disables retrying).
        base_delay: Seconds before the first retry, before jitter.
        max_delay: Cap on the exponential delay, seconds.
        max_retry_after: Longest ``Retry-After`` honoured, seconds.
    """

    retries: int = 3
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), with jitter."""
        exponential = min(self.max_delay, self.base_delay * (2.0 ** attempt))
        return exponential * random.uniform(0.5, 1.0)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass
class RequestPlan:
    """One API call as the clients send it, the same on every attempt but for signatures.

    Attributes:
        method: HTTP method.
        path: Path under the base URL, e.g. ``/v1/events``.
        params: Query parameters (``None`` values are dropped).
        body: Exact body bytes (signed ingest signs these very bytes).
        idempotent: Whether a retry after the request may have reached Klaxon is safe
            (GETs and keyed ingest). Non-idempotent calls are retried only when Klaxon
            certainly did not act: the connection was never made, or a 429.
        signing_secret: When set, the call is signed (``X-Klaxon-Signature``, fresh ``t``
            per attempt) and sent without the bearer token.
    """

    method: str
    path: str
    params: Dict[str, Any] = field(default_factory=dict)
    body: Optional[bytes] = None
    idempotent: bool = True
    signing_secret: Union[str, Sequence[str], None] = None

    def headers(self, token: Optional[str]) -> Dict[str, str]:
        """Headers for one attempt: auth (bearer or a fresh signature) and content type."""
        headers: Dict[str, str] = {"Accept": "application/json"}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        if self.signing_secret is not None:
            headers["X-Klaxon-Signature"] = sign_ingest(self.body or b"", self.signing_secret)
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def query(self) -> Dict[str, Any]:
        """The query parameters that have a value."""
        return {k: v for k, v in self.params.items() if v is not None}

    def retry_delay_after_error(
        self, policy: RetryPolicy, attempt: int, error: httpx.TransportError
    ) -> Optional[float]:
        """Seconds to wait before retrying after a transport error, or None to give up."""
        if attempt >= policy.retries:
            return None
        if self.idempotent or isinstance(error, _NOT_SENT_ERRORS):
            return policy.backoff(attempt)
        return None

    def retry_delay_after_response(
        self, policy: RetryPolicy, attempt: int, response: httpx.Response
    ) -> Optional[float]:
        """Seconds to wait before retrying after an error status, or None to give up."""
        if attempt >= policy.retries or response.status_code not in RETRYABLE_STATUSES:
            return None
        if not self.idempotent and response.status_code != 429:
            return None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            return policy.backoff(attempt)
        if retry_after > policy.max_retry_after:
            return None
        return retry_after


def ingest_plan(
    type: str,
    payload: Mapping[str, Any],
    *,
    idempotency_key: Optional[str],
    occurred_at: OccurredAt,
    signing_secret: Union[str, Sequence[str], None] = None,
) -> RequestPlan:
    """The plan of ``POST /v1/events``: a body with a key (generated when none is given).

    The key is fixed here, once, so every retry carries it and Klaxon answers a retry of a
    request it already stored as a duplicate instead of storing the event twice.
    """
    if not isinstance(type, str) or not type:
        raise ValueError("type must be a non-empty string such as 'support.ticket.created'")
    if not isinstance(payload, Mapping):
        raise TypeError("payload must be a mapping (a JSON object)")
    document: Dict[str, Any] = {
        "type": type,
        "payload": dict(payload),
        "idempotency_key": idempotency_key if idempotency_key is not None else str(uuid.uuid4()),
    }
    if occurred_at is not None:
        document["occurred_at"] = format_occurred_at(occurred_at)
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return RequestPlan("POST", "/v1/events", body=body, signing_secret=signing_secret)


def format_occurred_at(value: Union[_dt.datetime, str]) -> str:
    """RFC 3339 text of an event time; a datetime must carry a time zone."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "occurred_at must be timezone-aware, e.g. datetime.now(timezone.utc)"
        )
    return value.isoformat()


def accepted_from(response: httpx.Response) -> Accepted:
    """The ``Accepted`` of a 200/202 ingest answer."""
    document = response.json()
    return Accepted(id=str(document["id"]), duplicate=bool(document["duplicate"]))


def error_from(response: httpx.Response) -> KlaxonError:
    """A ``KlaxonError`` from an error answer, reading ``{"error": {"code", "message"}}``."""
    code = f"http_{response.status_code}"
    message = response.reason_phrase or "error"
    try:
        detail = response.json().get("error")
        if isinstance(detail, dict):
            code = str(detail.get("code", code))
            message = str(detail.get("message", message))
    except (ValueError, AttributeError):
        pass
    return KlaxonError(
        response.status_code,
        code,
        message,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def connection_error_from(error: httpx.TransportError, attempts: int) -> KlaxonConnectionError:
    """The SDK's exception for a transport error that retries did not overcome."""
    kind = KlaxonTimeoutError if isinstance(error, httpx.TimeoutException) else KlaxonConnectionError
    return kind(f"{type(error).__name__} after {attempts} attempt(s): {error}")


def path_segment(value: str) -> str:
    """An id made safe as one URL path segment."""
    return quote(str(value), safe="")


#: A page of ``GET /v1/…`` lists: ``{"data": [...], "next_cursor": str | None}``.
Page = Mapping[str, Any]


def walk_pages(list_page: Callable[[Optional[str]], Page]) -> Iterator[Any]:
    """Every item of every page, newest first: ``list_page(after)`` from ``after=None``,
    following ``next_cursor`` until it is ``null``. Lazy: a page is read when the loop gets
    to it."""
    after: Optional[str] = None
    while True:
        page = list_page(after)
        yield from page["data"]
        after = page.get("next_cursor")
        if not after:
            return


async def walk_pages_async(
    list_page: Callable[[Optional[str]], Awaitable[Page]],
) -> AsyncIterator[Any]:
    """:func:`walk_pages` for the async client."""
    after: Optional[str] = None
    while True:
        page = await list_page(after)
        for item in page["data"]:
            yield item
        after = page.get("next_cursor")
        if not after:
            return
