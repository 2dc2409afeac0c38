"""The synchronous Klaxon client (``Klaxon``) and its ``events``/``deliveries``/``escalations``."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Iterator, Mapping, Optional, Sequence, Type, Union, cast

import httpx

from ._core import (
    DEFAULT_BASE_URL,
    Accepted,
    OccurredAt,
    RequestPlan,
    RetryPolicy,
    accepted_from,
    connection_error_from,
    error_from,
    ingest_plan,
    path_segment,
    walk_pages,
)
from ._openapi import (
    Delivery,
    DeliveryPage,
    Escalation,
    EscalationPage,
    Event,
    EventDetail,
    EventPage,
)

__all__ = ["Klaxon", "Events", "Deliveries", "Escalations"]


class Klaxon:
    """A synchronous client of the Klaxon API.

    Retries 429 (honouring ``Retry-After``), 5xx answers and network errors or timeouts with
    exponential backoff and jitter, for calls that are safe to repeat: reads, and ingest,
    whose idempotency key stays the same on every attempt. Replaying a delivery and
    cancelling an escalation are retried only when Klaxon cannot have acted (the connection
    was refused, or a 429): repeating one that did reach Klaxon would answer 409.

    Use it as a context manager, or call :meth:`close`.

    Args:
        base_url: Where Klaxon listens.
        token: The API token (``KLAXON_API_TOKEN``), sent as a bearer token.
        timeout: Seconds per attempt (connect, read, write and pool each).
        retries: Retries after the first attempt.
        signing_secret: Secret(s) of ``KLAXON_INGEST_SECRETS``, for :meth:`signed_ingest`.
        transport: An ``httpx`` transport to send through (tests, proxies).
        http_client: An ``httpx.Client`` to use instead of one the SDK makes; it is not
            closed by :meth:`close`.
        retry_policy: Full control over the backoff; ``retries`` is ignored when given.
        max_connections: Connections open at most (threads sharing the client).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: Optional[str] = None,
        timeout: float = 10.0,
        retries: int = 3,
        signing_secret: Union[str, Sequence[str], None] = None,
        transport: Optional[httpx.BaseTransport] = None,
        http_client: Optional[httpx.Client] = None,
        *,
        retry_policy: Optional[RetryPolicy] = None,
        max_connections: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._signing_secret = signing_secret
        self.retry_policy = retry_policy or RetryPolicy(retries=retries)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self.events = Events(self)
        self.deliveries = Deliveries(self)
        self.escalations = Escalations(self)

    def __repr__(self) -> str:
        return f"Klaxon(base_url={self.base_url!r})"

    def __enter__(self) -> "Klaxon":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (unless the ``http_client`` was passed in)."""
        if self._owns_http:
            self._http.close()

    def ingest(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        idempotency_key: Optional[str] = None,
        occurred_at: OccurredAt = None,
    ) -> Accepted:
        """Send one event (``POST /v1/events``) with the bearer token.

        Args:
            type: The event type, e.g. ``"support.ticket.created"``.
            payload: The event's fields (a JSON object).
            idempotency_key: Your id for the event (a ticket id, say). A UUID4 is made when
                omitted; either way it is reused on every retry.
            occurred_at: When it happened: an aware ``datetime`` or RFC 3339 text.

        Returns:
            ``Accepted(id, duplicate)``.

        Raises:
            KlaxonError: e.g. 409 ``idempotency_conflict`` (the key was used with another
                body), 401/403, 422.
            KlaxonConnectionError: the network failed on every attempt.
        """
        plan = ingest_plan(
            type, payload, idempotency_key=idempotency_key, occurred_at=occurred_at
        )
        return accepted_from(self._send(plan))

    def signed_ingest(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        idempotency_key: Optional[str] = None,
        occurred_at: OccurredAt = None,
    ) -> Accepted:
        """Like :meth:`ingest`, but signed with ``signing_secret`` instead of the token.

        Each attempt carries ``X-Klaxon-Signature: t=<now>,v1=<hex>`` over the exact body.

        Raises:
            ValueError: when the client has no ``signing_secret``.
        """
        if self._signing_secret is None:
            raise ValueError("signed_ingest needs a client made with signing_secret=...")
        plan = ingest_plan(
            type,
            payload,
            idempotency_key=idempotency_key,
            occurred_at=occurred_at,
            signing_secret=self._signing_secret,
        )
        return accepted_from(self._send(plan))

    def _send(self, plan: RequestPlan) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    plan.method,
                    self.base_url + plan.path,
                    params=plan.query(),
                    content=plan.body,
                    headers=plan.headers(self._token),
                )
            except httpx.TransportError as error:
                delay = plan.retry_delay_after_error(self.retry_policy, attempt, error)
                if delay is None:
                    raise connection_error_from(error, attempt + 1) from error
            else:
                if response.is_success:
                    return response
                delay = plan.retry_delay_after_response(self.retry_policy, attempt, response)
                if delay is None:
                    raise error_from(response)
            time.sleep(delay)
            attempt += 1

    def _get(self, path: str, **params: Any) -> Any:
        return self._send(RequestPlan("GET", path, params=params)).json()

    def _post(self, path: str) -> Any:
        return self._send(RequestPlan("POST", path, idempotent=False)).json()


class Events:
    """Reading stored events: ``client.events``."""

    def __init__(self, client: Klaxon) -> None:
        self._client = client

    def list(
        self, *, type: Optional[str] = None, after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> EventPage:
        """One page of events, newest first (``GET /v1/events``).

        Args:
            type: Only events of this type.
            after: The ``next_cursor`` of the previous page.
            limit: Page size, 1–500 (Klaxon's default 50).
        """
        return cast(EventPage, self._client._get("/v1/events", type=type, after=after, limit=limit))

    def get(self, id: str) -> EventDetail:
        """One event with its pipeline trace and deliveries (``GET /v1/events/{id}``)."""
        return cast(EventDetail, self._client._get(f"/v1/events/{path_segment(id)}"))

    def iterate(self, *, type: Optional[str] = None, limit: Optional[int] = None) -> Iterator[Event]:
        """Every event, newest first, fetching page after page; ``limit`` is the page size."""
        return walk_pages(lambda after: self.list(type=type, after=after, limit=limit))


class Deliveries:
    """Webhook and other deliveries: ``client.deliveries``."""

    def __init__(self, client: Klaxon) -> None:
        self._client = client

    def list(
        self, *, state: Optional[str] = None, destination: Optional[str] = None,
        event_id: Optional[str] = None,
        after: Optional[str] = None, limit: Optional[int] = None,
    ) -> DeliveryPage:
        """One page of deliveries, newest first (``GET /v1/deliveries``).

        Args:
            state: ``pending``, ``failed``, ``succeeded`` or ``dead``.
            destination: Only this destination's, named ``<pipeline>.<destination>``.
            event_id: Only this event's.
            after: The ``next_cursor`` of the previous page.
            limit: Page size.
        """
        return cast(DeliveryPage, self._client._get(
            "/v1/deliveries", state=state, destination=destination, event_id=event_id,
            after=after, limit=limit
        ))

    def iterate(
        self, *, state: Optional[str] = None, destination: Optional[str] = None,
        event_id: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Iterator[Delivery]:
        """Every matching delivery, newest first, page after page."""
        return walk_pages(
            lambda after: self.list(
                state=state, destination=destination, event_id=event_id, after=after, limit=limit
            )
        )

    def get(self, id: str) -> Delivery:
        """One delivery with its ``attempt_log`` (``GET /v1/deliveries/{id}``)."""
        return cast(Delivery, self._client._get(f"/v1/deliveries/{path_segment(id)}"))

    def replay(self, id: str) -> Delivery:
        """Queue a dead or succeeded delivery again (``POST /v1/deliveries/{id}/replay``).

        Not retried once the request may have reached Klaxon (a second replay would answer
        409 ``delivery_in_progress``); check with :meth:`get` after a connection error.

        Raises:
            KlaxonError: 409 ``delivery_in_progress`` when it is pending or failed; 404.
        """
        return cast(Delivery, self._client._post(f"/v1/deliveries/{path_segment(id)}/replay"))


class Escalations:
    """Phone escalations: ``client.escalations``."""

    def __init__(self, client: Klaxon) -> None:
        self._client = client

    def list(
        self, *, state: Optional[str] = None, after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> EscalationPage:
        """One page of escalations, newest first (``GET /v1/escalations``).

        Args:
            state: ``active``, ``connected``, ``acknowledged``, ``unreached``,
                ``cancelled`` or ``failed``.
            after: The ``next_cursor`` of the previous page.
            limit: Page size.
        """
        return cast(EscalationPage, self._client._get(
            "/v1/escalations", state=state, after=after, limit=limit
        ))

    def iterate(
        self, *, state: Optional[str] = None, limit: Optional[int] = None
    ) -> Iterator[Escalation]:
        """Every matching escalation, newest first, page after page."""
        return walk_pages(lambda after: self.list(state=state, after=after, limit=limit))

    def get(self, id: str) -> Escalation:
        """One escalation with its ``timeline`` (``GET /v1/escalations/{id}``)."""
        return cast(Escalation, self._client._get(f"/v1/escalations/{path_segment(id)}"))

    def cancel(self, id: str) -> Escalation:
        """Stop ringing and hang up (``POST /v1/escalations/{id}/cancel``).

        Not retried once the request may have reached Klaxon (a repeat would answer 409
        ``escalation_ended``); check with :meth:`get` after a connection error.

        Raises:
            KlaxonError: 409 ``escalation_ended``; 404.
        """
        return cast(Escalation, self._client._post(f"/v1/escalations/{path_segment(id)}/cancel"))

