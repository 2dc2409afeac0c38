"""Unit tests of the signer and verifier with the vectors of docs/signatures.md §3 and §4."""

from __future__ import annotations

import hashlib
import hmac
import base64
from typing import Dict

import pytest

from klaxon import WebhookVerificationError, sign_ingest, sign_standard_webhook, verify_webhook

# §3 (Stripe-style X-Klaxon-Signature)
SECRET_A = "klaxon-ingest-test-secret"
SECRET_B = "klaxon-ingest-next-secret"
INGEST_BODY = b'{"id":"evt_1","type":"ticket.created","priority":"URGENT"}'
V1_A = "3e1f5aadc6074b1647c510e7e6bbe0e1d3b0265a073a955235101fa87e69387c"
V1_B = "1d668ce47ab019c269d6d1d6c0e1a234e45ba524bf7a5e1656f24218df9b558a"
SINGLE = f"t=1717000000,v1={V1_A}"
ROTATION = f"t=1717000000,v1={V1_A},v1={V1_B}"

# §4 (Standard Webhooks)
K1 = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
K2 = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
MSG_ID = "msg_2kLx0n0000000000000001"
STANDARD_BODY = (
    b'{"type":"escalation.acknowledged","timestamp":"2024-05-29T16:26:40Z",'
    b'"data":{"incident_id":"inc_42","via":"dtmf"}}'
)
SIG_K1 = "v1,lnAZFR39bDh0LYm3swuoEFElr21z2NEQvkCF10FcZMg="
SIG_K2 = "v1,gbu0a/5LxISrvY25CuVy/soDO6f6onAamO5wzlaI354="


def standard_headers(signature: str, msg_id: str = MSG_ID) -> Dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": "1717000000",
        "webhook-signature": signature,
    }


def reason_of(body: bytes, headers: Dict[str, str], secret: object, now: float) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(body, headers, secret, now=now)  # type: ignore[arg-type]
    return caught.value.reason


def test_bodies_are_the_documented_bytes() -> None:
    assert len(INGEST_BODY) == 58
    assert hashlib.sha256(INGEST_BODY).hexdigest() == (
        "ae16fea6f25041f090441c46934d7a5ba3970b7f951ca146756b43a694bb05c4"
    )
    assert len(STANDARD_BODY) == 114
    assert hashlib.sha256(STANDARD_BODY).hexdigest() == (
        "d3ae0d79175ac59ca11e3976fdfceee03e8c225c7dddd204805f8c9095179b0e"
    )


def test_sign_ingest_reproduces_the_vectors() -> None:
    assert sign_ingest(INGEST_BODY, SECRET_A, timestamp=1717000000) == SINGLE
    assert sign_ingest(INGEST_BODY, [SECRET_A, SECRET_B], timestamp=1717000000) == ROTATION
    # The secret is used as is, even when it looks like a whsec_ secret.
    assert sign_ingest(
        b'{"id":"evt_1","type":"ticket.created"}', "whsec_test_secret", timestamp=1717000000
    ) == "t=1717000000,v1=d29623b800bf3f5cdbe1c2928f734869e71bc274e666d5f2c945f079aa64dc1f"


def test_sign_ingest_defaults_to_now() -> None:
    import time

    header = sign_ingest(INGEST_BODY, SECRET_A)
    t = int(header.split(",")[0][2:])
    assert abs(t - time.time()) < 5


@pytest.mark.parametrize(
    ("header", "secrets", "now"),
    [
        (SINGLE, [SECRET_A], 1717000010),
        (ROTATION, [SECRET_B], 1717000010),
        (SINGLE, [SECRET_A], 1717000300),
        (SINGLE, SECRET_A, 1716999700),
        (SINGLE, [SECRET_B, SECRET_A], 1717000000),
    ],
)
def test_stripe_style_valid_cases(header: str, secrets: object, now: int) -> None:
    payload = verify_webhook(INGEST_BODY, {"X-Klaxon-Signature": header}, secrets, now=now)  # type: ignore[arg-type]
    assert payload == {"id": "evt_1", "type": "ticket.created", "priority": "URGENT"}


@pytest.mark.parametrize(
    ("body", "header", "secrets", "now", "reason"),
    [
        (INGEST_BODY, SINGLE, [SECRET_B], 1717000010, "no_matching_signature"),
        (INGEST_BODY, SINGLE, [SECRET_A], 1717000301, "timestamp_out_of_tolerance"),
        (INGEST_BODY, SINGLE, [SECRET_A], 1716999699, "timestamp_out_of_tolerance"),
        (INGEST_BODY + b" ", SINGLE, [SECRET_A], 1717000000, "no_matching_signature"),
        (INGEST_BODY, f"v1={V1_A}", [SECRET_A], 1717000000, "malformed_header"),
        (INGEST_BODY, "t=1717000000", [SECRET_A], 1717000000, "malformed_header"),
        (INGEST_BODY, f"t=17170000.5,v1={V1_A}", [SECRET_A], 1717000000, "malformed_header"),
        (INGEST_BODY, f"t=1,t=2,v1={V1_A}", [SECRET_A], 1717000000, "malformed_header"),
    ],
)
def test_stripe_style_rejections(
    body: bytes, header: str, secrets: object, now: int, reason: str
) -> None:
    assert reason_of(body, {"x-klaxon-signature": header}, secrets, now) == reason


def test_stripe_style_header_name_is_configurable() -> None:
    payload = verify_webhook(
        INGEST_BODY, {"X-Signature": SINGLE}, SECRET_A, now=1717000000,
        signature_header="x-signature",
    )
    assert payload["id"] == "evt_1"


def test_standard_signer_reproduces_the_vectors() -> None:
    assert sign_standard_webhook(MSG_ID, 1717000000, STANDARD_BODY, K1) == SIG_K1
    assert sign_standard_webhook(MSG_ID, 1717000000, STANDARD_BODY, [K1, K2]) == (
        f"{SIG_K1} {SIG_K2}"
    )


def test_standard_interop_vector() -> None:
    secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    body = b'{"email":"test@example.com","username":"test_user"}'
    signature = sign_standard_webhook("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body, secret)
    assert signature == "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    headers = {
        "webhook-id": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        "webhook-timestamp": "1649367553",
        "webhook-signature": signature,
    }
    assert verify_webhook(body, headers, secret, now=1649367553)["username"] == "test_user"


def test_standard_valid_cases() -> None:
    assert verify_webhook(STANDARD_BODY, standard_headers(SIG_K1), K1, now=1717000000)["data"] == {
        "incident_id": "inc_42",
        "via": "dtmf",
    }
    rotation = f"{SIG_K1} {SIG_K2}"
    assert verify_webhook(STANDARD_BODY, standard_headers(rotation), [K2], now=1717000000)
    # Other versions (v1a is Ed25519) are ignored, not fatal.
    assert verify_webhook(
        STANDARD_BODY, standard_headers(f"v1a,AAAA {SIG_K1}"), K1, now=1717000000
    )
    # Header names are case-insensitive; a str body is taken as UTF-8.
    mixed_case = {k.title(): v for k, v in standard_headers(SIG_K1).items()}
    assert verify_webhook(STANDARD_BODY.decode(), mixed_case, K1, now=1717000300)


def test_standard_rejections() -> None:
    assert reason_of(STANDARD_BODY, standard_headers(SIG_K1), K1, 1717000301) == (
        "timestamp_out_of_tolerance"
    )
    assert reason_of(STANDARD_BODY, standard_headers(SIG_K1, "msg_other"), K1, 1717000000) == (
        "no_matching_signature"
    )
    assert reason_of(STANDARD_BODY, standard_headers(SIG_K1), K2, 1717000000) == (
        "no_matching_signature"
    )
    assert reason_of(STANDARD_BODY + b"\n", standard_headers(SIG_K1), K1, 1717000000) == (
        "no_matching_signature"
    )
    missing = standard_headers(SIG_K1)
    del missing["webhook-timestamp"]
    assert reason_of(STANDARD_BODY, missing, K1, 1717000000) == "missing_header"
    assert reason_of(STANDARD_BODY, standard_headers("v2,abc"), K1, 1717000000) == (
        "malformed_header"
    )
    assert reason_of(STANDARD_BODY, {"content-type": "application/json"}, K1, 1717000000) == (
        "missing_header"
    )


def test_keying_with_the_secret_string_is_the_classic_bug() -> None:
    signed = f"{MSG_ID}.1717000000.".encode() + STANDARD_BODY
    wrong = base64.b64encode(hmac.new(K1.encode(), signed, hashlib.sha256).digest()).decode()
    assert f"v1,{wrong}" != SIG_K1
    assert reason_of(STANDARD_BODY, standard_headers(f"v1,{wrong}"), K1, 1717000000) == (
        "no_matching_signature"
    )


def test_valid_signature_over_a_body_that_is_not_json() -> None:
    body = b"not json"
    headers = {"x-klaxon-signature": sign_ingest(body, SECRET_A, timestamp=1717000000)}
    assert reason_of(body, headers, SECRET_A, 1717000000) == "invalid_json"


def test_a_standard_secret_that_is_not_base64_is_a_configuration_error() -> None:
    with pytest.raises(ValueError) as caught:
        verify_webhook(STANDARD_BODY, standard_headers(SIG_K1), "whsec_***", now=1717000000)
    assert "***" not in str(caught.value)
