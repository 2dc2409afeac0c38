"""The TypedDicts Klaxon's API answers with, generated from its OpenAPI document.

``klaxon.types.Event``, ``EventPage``, ``EventDetail``, ``Delivery`` (with ``attempt_log``
from ``deliveries.get``), ``DeliveryPage``, ``DeliveryState``, ``Attempt``, ``Escalation``
(with ``timeline`` from ``escalations.get``), ``EscalationPage``, ``TimelineEntry``,
``ErrorBody``. The ingest answer is the dataclass :class:`klaxon.Accepted`, not a dict.
"""

from ._openapi import (
    Attempt,
    Delivery,
    DeliveryPage,
    DeliveryState,
    ErrorBody,
    ErrorDetail,
    Escalation,
    EscalationPage,
    Event,
    EventDetail,
    EventEnvelope,
    EventPage,
    TimelineEntry,
)

__all__ = [
    "Attempt",
    "Delivery",
    "DeliveryPage",
    "DeliveryState",
    "ErrorBody",
    "ErrorDetail",
    "Escalation",
    "EscalationPage",
    "Event",
    "EventDetail",
    "EventEnvelope",
    "EventPage",
    "TimelineEntry",
]
