/**
 * Unit tests of the signer and the verifier against the test vectors of docs/signatures.md §3
 * (Stripe-style, our ingest) and §4 (Standard Webhooks, including the reference libraries'
 * interop vector). No server: these are pure functions.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { WebhookVerificationError, signIngest, signStandardWebhook, verifyWebhook, type WebhookVerificationReason } from "@klaxon/sdk";

/** Asserts that `verify` throws a WebhookVerificationError with `reason`. */
function assertRejected(verify: () => unknown, reason: WebhookVerificationReason): void {
  assert.throws(verify, (error: unknown) => {
    assert.ok(error instanceof WebhookVerificationError, `expected a WebhookVerificationError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    return true;
  });
}

/** A Date at Unix second `seconds`. */
const at = (seconds: number) => new Date(seconds * 1000);

describe("Stripe-style signatures (docs/signatures.md §3)", () => {
  const secretA = "klaxon-ingest-test-secret";
  const secretB = "klaxon-ingest-next-secret";
  const body = '{"id":"evt_1","type":"ticket.created","priority":"URGENT"}';
  const v1A = "3e1f5aadc6074b1647c510e7e6bbe0e1d3b0265a073a955235101fa87e69387c";
  const v1B = "1d668ce47ab019c269d6d1d6c0e1a234e45ba524bf7a5e1656f24218df9b558a";
  const single = `t=1717000000,v1=${v1A}`;
  const rotation = `t=1717000000,v1=${v1A},v1=${v1B}`;
  const headers = (value: string) => ({ "X-Klaxon-Signature": value });

  it("the body is the vector's (58 bytes, SHA-256 as documented)", () => {
    assert.equal(Buffer.byteLength(body), 58);
    assert.equal(createHash("sha256").update(body).digest("hex"), "ae16fea6f25041f090441c46934d7a5ba3970b7f951ca146756b43a694bb05c4");
  });

  it("signIngest reproduces the single and rotation headers", () => {
    assert.equal(signIngest(body, secretA, 1717000000), single);
    assert.equal(signIngest(body, [secretA, secretB], 1717000000), rotation);
    assert.equal(signIngest(Buffer.from(body), secretA, at(1717000000)), single);
  });

  it("uses a whsec_ secret as is, not base64-decoded (second vector)", () => {
    assert.equal(
      signIngest('{"id":"evt_1","type":"ticket.created"}', "whsec_test_secret", 1717000000),
      "t=1717000000,v1=d29623b800bf3f5cdbe1c2928f734869e71bc274e666d5f2c945f079aa64dc1f",
    );
  });

  it("signIngest takes the current time when no timestamp is given", () => {
    const before = Math.floor(Date.now() / 1000);
    const t = Number(/^t=(\d+),/.exec(signIngest(body, secretA))![1]);
    assert.ok(t >= before && t <= before + 1, `t=${t} is not now`);
  });

  it("accepts the table's valid cases", () => {
    assert.deepEqual(verifyWebhook(body, headers(single), secretA, { now: at(1717000010) }), JSON.parse(body));
    verifyWebhook(body, headers(rotation), [secretB], { now: at(1717000010) });
    verifyWebhook(body, headers(single), secretA, { now: at(1717000300) });
    verifyWebhook(body, headers(single), [secretB, secretA], { now: at(1717000010) });
  });

  it("rejects the table's invalid cases with the right reason", () => {
    assertRejected(() => verifyWebhook(body, headers(single), [secretB], { now: at(1717000010) }), "no_matching_signature");
    assertRejected(() => verifyWebhook(body, headers(single), secretA, { now: at(1717000301) }), "timestamp_out_of_tolerance");
    assertRejected(() => verifyWebhook(body, headers(single), secretA, { now: at(1716999699) }), "timestamp_out_of_tolerance");
    assertRejected(() => verifyWebhook(body + " ", headers(single), secretA, { now: at(1717000000) }), "no_matching_signature");
    assertRejected(() => verifyWebhook(body, headers(`v1=${v1A}`), secretA, { now: at(1717000000) }), "malformed_header");
    assertRejected(() => verifyWebhook(body, headers("t=1717000000"), secretA, { now: at(1717000000) }), "malformed_header");
    assertRejected(() => verifyWebhook(body, headers(`t=17170000.5,v1=${v1A}`), secretA, { now: at(1717000000) }), "malformed_header");
    assertRejected(() => verifyWebhook(body, {}, secretA, { now: at(1717000000) }), "missing_header");
  });

  it("honours a custom tolerance and a custom header name", () => {
    assertRejected(() => verifyWebhook(body, headers(single), secretA, { now: at(1717000011), toleranceSec: 10 }), "timestamp_out_of_tolerance");
    verifyWebhook(body, { "X-Acme-Sig": single }, secretA, { now: at(1717000000), signatureHeader: "x-acme-sig" });
    assertRejected(() => verifyWebhook(body, { "X-Acme-Sig": single }, secretA, { now: at(1717000000) }), "missing_header");
  });

  it("refuses more than 10 v1 entries", () => {
    const many = `t=1717000000${`,v1=${v1B}`.repeat(10)},v1=${v1A}`;
    assertRejected(() => verifyWebhook(body, headers(many), secretA, { now: at(1717000000) }), "malformed_header");
  });
});

describe("Standard Webhooks signatures (docs/signatures.md §4)", () => {
  const k1 = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
  const k2 = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
  const id = "msg_2kLx0n0000000000000001";
  const body = '{"type":"escalation.acknowledged","timestamp":"2024-05-29T16:26:40Z","data":{"incident_id":"inc_42","via":"dtmf"}}';
  const sigK1 = "v1,lnAZFR39bDh0LYm3swuoEFElr21z2NEQvkCF10FcZMg=";
  const sigK2 = "v1,gbu0a/5LxISrvY25CuVy/soDO6f6onAamO5wzlaI354=";
  const headers = (signature: string, webhookId = id) => ({ "webhook-id": webhookId, "webhook-timestamp": "1717000000", "webhook-signature": signature });

  it("the body is the vector's (114 bytes, SHA-256 as documented)", () => {
    assert.equal(Buffer.byteLength(body), 114);
    assert.equal(createHash("sha256").update(body).digest("hex"), "d3ae0d79175ac59ca11e3976fdfceee03e8c225c7dddd204805f8c9095179b0e");
  });

  it("signStandardWebhook reproduces K1, K2 and the rotation header", () => {
    assert.equal(signStandardWebhook(id, 1717000000, body, k1), sigK1);
    assert.equal(signStandardWebhook(id, 1717000000, body, k2), sigK2);
    assert.equal(signStandardWebhook(id, 1717000000, body, [k1, k2]), `${sigK1} ${sigK2}`);
  });

  it("reproduces the Standard Webhooks interop vector", () => {
    assert.equal(
      signStandardWebhook("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, '{"email":"test@example.com","username":"test_user"}', "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
      "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    );
    verifyWebhook(
      '{"email":"test@example.com","username":"test_user"}',
      { "webhook-id": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", "webhook-timestamp": "1649367553", "webhook-signature": "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=" },
      "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
      { now: at(1649367553) },
    );
  });

  it("accepts the table's valid cases, from every header shape", () => {
    assert.deepEqual(verifyWebhook(body, headers(sigK1), k1, { now: at(1717000000) }), JSON.parse(body));
    verifyWebhook(Buffer.from(body), new Headers(headers(`${sigK1} ${sigK2}`)), [k2], { now: at(1717000000) });
    verifyWebhook(new TextEncoder().encode(body), { "Webhook-Id": id, "WEBHOOK-TIMESTAMP": "1717000000", "Webhook-Signature": [sigK1] }, k1, { now: at(1717000300) });
  });

  it("ignores v1a and unknown versions, and needs a v1 match", () => {
    verifyWebhook(body, headers(`v1a,AAAA v2,BBBB ${sigK1}`), k1, { now: at(1717000000) });
    assertRejected(() => verifyWebhook(body, headers("v1a,AAAA"), k1, { now: at(1717000000) }), "no_matching_signature");
  });

  it("rejects the table's invalid cases with the right reason", () => {
    assertRejected(() => verifyWebhook(body, headers(sigK1), k1, { now: at(1717000301) }), "timestamp_out_of_tolerance");
    assertRejected(() => verifyWebhook(body, headers(sigK1, "msg_other"), k1, { now: at(1717000000) }), "no_matching_signature");
    assertRejected(() => verifyWebhook(body, headers(sigK1), k2, { now: at(1717000000) }), "no_matching_signature");
    assertRejected(() => verifyWebhook(body, { "webhook-id": id, "webhook-signature": sigK1 }, k1, { now: at(1717000000) }), "missing_header");
    assertRejected(() => verifyWebhook(body, { ...headers(sigK1), "webhook-timestamp": "-1717000000" }, k1, { now: at(1717000000) }), "malformed_header");
  });

  it("keys the HMAC with the decoded secret: a signature keyed with the string does not verify (the classic bug)", async () => {
    const { createHmac } = await import("node:crypto");
    const keyedWithString = createHmac("sha256", k1).update(`${id}.1717000000.${body}`).digest("base64");
    assert.notEqual(`v1,${keyedWithString}`, sigK1);
    assertRejected(() => verifyWebhook(body, headers(`v1,${keyedWithString}`), k1, { now: at(1717000000) }), "no_matching_signature");
  });

  it("rejects a body that verifies but is not JSON as invalid_payload", () => {
    const notJson = "not json";
    const signature = signStandardWebhook(id, 1717000000, notJson, k1);
    assertRejected(() => verifyWebhook(notJson, headers(signature), k1, { now: at(1717000000) }), "invalid_payload");
  });

  it("treats a secret that is not base64 as a configuration error, not a bad webhook", () => {
    assert.throws(() => verifyWebhook(body, headers(sigK1), "whsec_not base64!", { now: at(1717000000) }), TypeError);
  });

  it("pins the scheme when asked: a Stripe-style header is not accepted where Standard Webhooks is required", () => {
    assertRejected(
      () => verifyWebhook(body, { "x-klaxon-signature": signIngest(body, "plain-secret", 1717000000) }, "plain-secret", { now: at(1717000000), scheme: "standard" }),
      "missing_header",
    );
  });
});
