/**
 * The HMAC-SHA256 primitives under the signer and the verifier (node:crypto): the MAC of each
 * scheme, the Standard Webhooks key from a `whsec_` secret, and the byte and clock helpers.
 * Internal to the package: not exported from its entry point.
 */
import { createHmac } from "node:crypto";
import type { RawBody } from "./signing.js";

/** The current Unix time in whole seconds. */
export function unixSeconds(now: Date = new Date()): number {
  return Math.floor(now.getTime() / 1000);
}

/** The bytes of a body: a string is encoded as UTF-8, bytes are used as they are. */
export function bodyBytes(body: RawBody): Buffer {
  return typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** HMAC-SHA256 of `prefix` followed by `body` under `key`. */
function hmacSha256(key: Buffer | string, prefix: string, body: RawBody): Buffer {
  return createHmac("sha256", key).update(prefix, "utf8").update(bodyBytes(body)).digest();
}

/**
 * The Stripe-style MAC of one body: hex HMAC-SHA256 keyed with the secret's UTF-8 bytes over
 * `"<timestamp>.<body>"`.
 * Shared by the signer and the verifier.
 */
export function stripeStyleMac(secret: string, timestamp: number | string, body: RawBody): Buffer {
  return hmacSha256(Buffer.from(secret, "utf8"), `${timestamp}.`, body);
}

/**
 * The HMAC key of a Standard Webhooks secret: `whsec_<base64>` (the prefix is optional) decoded
 * to its bytes. Throws a `TypeError` (a configuration mistake, not a bad webhook) when the
 * secret is not base64.
 * Shared by the signer and the verifier.
 */
export function standardWebhookKey(secret: string): Buffer {
  const encoded = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
  if (encoded.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new TypeError("a Standard Webhooks secret must be whsec_ followed by standard base64");
  }
  const key = Buffer.from(encoded, "base64");
  if (key.length === 0) throw new TypeError("a Standard Webhooks secret must decode to at least one byte");
  return key;
}

/**
 * The Standard Webhooks MAC of one message: HMAC-SHA256 keyed with the decoded secret over
 * `"<id>.<timestamp>.<body>"`.
 * Shared by the signer and the verifier.
 */
export function standardWebhookMac(key: Buffer, id: string, timestamp: number | string, body: RawBody): Buffer {
  return hmacSha256(key, `${id}.${timestamp}.`, body);
}

