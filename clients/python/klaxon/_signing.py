"""HMAC signatures: signing requests to Klaxon's ingest and verifying Klaxon's webhooks.

Implements docs/signatures.md §3 (Stripe-style ``X-Klaxon-Signature: t=...,v1=<hex>``) and
§4 (Standard Webhooks ``webhook-id``/``webhook-timestamp``/``webhook-signature``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, List, Mapping, Optional, Sequence, Union

from ._errors import WebhookVerificationError

__all__ = [
    "sign_ingest",
    "sign_standard_webhook",
    "verify_webhook",
    "DEFAULT_TOLERANCE_SECONDS",
]

#: How far (seconds, either way) a webhook's timestamp may be from now; the bound is inclusive.
DEFAULT_TOLERANCE_SECONDS = 300

_MAX_HEADER_BYTES = 4096
_MAX_SIGNATURES = 10
_MAX_TIMESTAMP_DIGITS = 12
_STANDARD_PREFIX = "whsec_"

Secrets = Union[str, Sequence[str]]


def _secret_list(secret: Secrets) -> List[str]:
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or any(not s for s in secrets):
        raise ValueError("at least one non-empty secret is required")
    return secrets


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def sign_ingest(body: bytes, secret: Secrets, timestamp: Optional[int] = None) -> str:
    """Compute the ``X-Klaxon-Signature`` header value for a signed ingest request.

    The MAC is ``hex(HMAC-SHA256(secret as UTF-8, "<t>.<body>"))``; the secret is used as is
    (a ``whsec_`` secret is not base64-decoded here). Give several secrets during a rotation
    to get one ``v1=`` each.

    Args:
        body: The exact bytes that will be sent as the request body.
        secret: One secret, or several during a rotation.
        timestamp: Unix seconds to sign with; defaults to now. Sign afresh on each attempt.

    Returns:
        ``"t=<unix>,v1=<hex>[,v1=<hex>...]"``.
    """
    t = int(time.time()) if timestamp is None else int(timestamp)
    signed = str(t).encode("ascii") + b"." + bytes(body)
    macs = [_hmac_sha256(s.encode("utf-8"), signed).hex() for s in _secret_list(secret)]
    return ",".join([f"t={t}"] + [f"v1={mac}" for mac in macs])


def _standard_key(secret: str) -> bytes:
    encoded = secret[len(_STANDARD_PREFIX):] if secret.startswith(_STANDARD_PREFIX) else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        # Never echo the secret itself.
        raise ValueError("a Standard Webhooks secret must be 'whsec_' + base64") from None


def sign_standard_webhook(
    msg_id: str, timestamp: int, body: bytes, secret: Secrets
) -> str:
    """Compute a Standard Webhooks ``webhook-signature`` header value.

    Klaxon signs its outbound webhooks this way; the SDK offers it to test webhook handlers.
    The HMAC key is the base64-decoded part of ``whsec_<base64>``.

    Args:
        msg_id: The ``webhook-id`` header.
        timestamp: The ``webhook-timestamp`` header (Unix seconds).
        body: The exact body bytes.
        secret: One ``whsec_`` secret, or several during a rotation.

    Returns:
        Space-separated ``v1,<base64>`` entries, one per secret.
    """
    signed = f"{msg_id}.{int(timestamp)}.".encode("utf-8") + bytes(body)
    return " ".join(
        "v1," + base64.b64encode(_hmac_sha256(_standard_key(s), signed)).decode("ascii")
        for s in _secret_list(secret)
    )


def _parse_timestamp(value: str, now: Optional[float], tolerance: float) -> None:
    text = value.strip()
    if not text.isdigit() or not text.isascii() or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookVerificationError("malformed_header", "the timestamp is not Unix seconds")
    current = time.time() if now is None else now
    if abs(current - int(text)) > tolerance:
        raise WebhookVerificationError(
            "timestamp_out_of_tolerance",
            f"the timestamp is more than {tolerance:g} s away from now",
        )


def _verify_standard(
    body: bytes, headers: Mapping[str, str], secrets: List[str], tolerance: float,
    now: Optional[float],
) -> None:
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signature = headers.get("webhook-signature")
    if msg_id is None or timestamp is None or signature is None:
        raise WebhookVerificationError(
            "missing_header", "webhook-id, webhook-timestamp and webhook-signature are required"
        )
    if len(signature) > _MAX_HEADER_BYTES:
        raise WebhookVerificationError("malformed_header", "webhook-signature is too long")
    _parse_timestamp(timestamp, now, tolerance)
    candidates: List[bytes] = []
    for entry in signature.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # v1a (Ed25519) and unknown versions are ignored, as the spec says
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
        if len(candidates) >= _MAX_SIGNATURES:
            break
    if not candidates:
        raise WebhookVerificationError("malformed_header", "webhook-signature has no v1 entry")
    signed = f"{msg_id}.{timestamp.strip()}.".encode("utf-8") + body
    for secret in secrets:
        expected = _hmac_sha256(_standard_key(secret), signed)
        for candidate in candidates:
            if hmac.compare_digest(expected, candidate):
                return
    raise WebhookVerificationError("no_matching_signature", "no signature matches a secret")


def _verify_stripe_style(
    body: bytes, header: str, secrets: List[str], tolerance: float, now: Optional[float]
) -> None:
    if len(header) > _MAX_HEADER_BYTES:
        raise WebhookVerificationError("malformed_header", "the signature header is too long")
    timestamps: List[str] = []
    candidates: List[bytes] = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "t":
            timestamps.append(value)
        elif key == "v1" and len(candidates) < _MAX_SIGNATURES:
            try:
                candidates.append(bytes.fromhex(value))
            except ValueError:
                continue  # entries that are not hex are skipped
    if len(timestamps) != 1 or not candidates:
        raise WebhookVerificationError(
            "malformed_header", "the signature header needs exactly one t= and a v1="
        )
    _parse_timestamp(timestamps[0], now, tolerance)
    signed = timestamps[0].encode("ascii") + b"." + body
    for secret in secrets:
        expected = _hmac_sha256(secret.encode("utf-8"), signed)
        for candidate in candidates:
            if hmac.compare_digest(expected, candidate):
                return
    raise WebhookVerificationError("no_matching_signature", "no signature matches a secret")


def verify_webhook(
    raw_body: Union[bytes, str],
    headers: Mapping[str, str],
    secret: Secrets,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: Optional[float] = None,
    signature_header: str = "x-klaxon-signature",
) -> Any:
    """Verify a webhook Klaxon delivered and return its parsed JSON body.

    The scheme is detected from the signature header present: Standard Webhooks when there is
    a ``webhook-signature``, otherwise the Stripe-style ``t=...,v1=...`` header named
    ``signature_header`` (Klaxon sends ``webhook-id`` and ``webhook-timestamp`` with both). Header names are matched case-insensitively; MACs are
    compared in constant time; any of several secrets may match (rotation).

    Pass the **raw** body exactly as received: JSON that was parsed and serialized again
    does not verify.

    Args:
        raw_body: The request body as received (a ``str`` is encoded as UTF-8).
        headers: The request headers (any mapping; Flask's, Starlette's and plain dicts work).
        secret: The destination's secret (``whsec_...`` for Standard Webhooks, the string as
            is for Stripe-style), or a sequence of them while rotating.
        tolerance: Seconds the timestamp may be away from ``now``, either way (inclusive).
        now: The current Unix time; defaults to the clock (set it in tests).
        signature_header: Name of the Stripe-style header (the destination's ``header``).

    Returns:
        The body parsed as JSON.

    Raises:
        WebhookVerificationError: with ``reason`` saying why the webhook is refused.
        ValueError: when a Standard Webhooks secret is not ``whsec_`` + base64.
    """
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    secrets = _secret_list(secret)
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if "webhook-signature" in lowered:
        _verify_standard(body, lowered, secrets, tolerance, now)
    elif signature_header.lower() in lowered:
        _verify_stripe_style(body, lowered[signature_header.lower()], secrets, tolerance, now)
    else:
        raise WebhookVerificationError(
            "missing_header",
            f"neither webhook-signature nor {signature_header} is present",
        )
    try:
        return json.loads(body)
    except ValueError:
        raise WebhookVerificationError("invalid_json", "the verified body is not JSON") from None
