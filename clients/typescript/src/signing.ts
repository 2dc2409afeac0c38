/**
 * The two HMAC-SHA256 signature schemes Klaxon speaks, written on node:crypto alone
 * (docs/signatures.md §3 and §4 of the Klaxon repository):
 *
 * - Stripe-style `t=<unix>,v1=<hex>`: what a client sends in `X-Klaxon-Signature` for signed
 *   ingest, and what a `signing = "stripe"` webhook destination sends. The HMAC key is the
 *   secret string's UTF-8 bytes, as is.
 * - Standard Webhooks `v1,<base64>`: what a `signing = "standard"` destination sends in
 *   `webhook-signature`. The HMAC key is the base64-decoded part of a `whsec_…` secret.
 */
import { standardWebhookKey, standardWebhookMac, stripeStyleMac, unixSeconds } from "./hmac.js";

/** Raw bytes or a string (taken as UTF-8), exactly as sent or received on the wire. */
export type RawBody = string | Uint8Array;

/**
 * Signs a body for Klaxon's signed ingest and returns the `X-Klaxon-Signature` header value,
 * `t=<unix seconds>,v1=<hex>`, with one `v1=` per secret (several during a rotation).
 *
 * Sign the exact bytes you send, and sign again (fresh `t`) for every attempt.
 *
 * @param body - the raw request body, exactly as it will be sent.
 * @param secret - one of Klaxon's `KLAXON_INGEST_SECRETS`, or several of them.
 * @param timestamp - Unix seconds (default: now) or a `Date`.
 * @returns the header value, e.g. `t=1717000000,v1=3e1f5a…`.
 *
 * @example
 * ```ts
 * const body = JSON.stringify({ type: "build.failed", payload: { id: 7 } });
 * await fetch(`${url}/v1/events`, {
 *   method: "POST",
 *   headers: { "content-type": "application/json", "x-klaxon-signature": signIngest(body, secret) },
 *   body,
 * });
 * ```
 */
export function signIngest(body: RawBody, secret: string | readonly string[], timestamp?: number | Date): string {
  const secrets = typeof secret === "string" ? [secret] : [...secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== "string" || s.length === 0)) {
    throw new TypeError("signIngest needs at least one non-empty secret");
  }
  const t = timestamp === undefined ? unixSeconds() : timestamp instanceof Date ? unixSeconds(timestamp) : timestamp;
  if (!Number.isSafeInteger(t) || t < 0) throw new TypeError("signIngest: timestamp must be a non-negative integer of Unix seconds");
  const entries = secrets.map((s) => `v1=${stripeStyleMac(s, t, body).toString("hex")}`);
  return [`t=${t}`, ...entries].join(",");
}

/**
 * Signs a message the way Klaxon signs its outbound webhooks (Standard Webhooks) and returns the
 * `webhook-signature` header value: space-separated `v1,<base64>` entries, one per secret.
 * Useful to test your own webhook receiver without a running Klaxon.
 *
 * @param id - the `webhook-id` header (must not contain `.`).
 * @param timestamp - the `webhook-timestamp` header, Unix seconds, or a `Date`.
 * @param body - the raw body, exactly as sent.
 * @param secret - a `whsec_<base64>` secret, or several.
 */
export function signStandardWebhook(
  id: string,
  timestamp: number | Date,
  body: RawBody,
  secret: string | readonly string[],
): string {
  if (id.includes(".")) throw new TypeError("a webhook-id must not contain '.'");
  const t = timestamp instanceof Date ? unixSeconds(timestamp) : timestamp;
  const secrets = typeof secret === "string" ? [secret] : [...secret];
  if (secrets.length === 0) throw new TypeError("signStandardWebhook needs at least one secret");
  return secrets.map((s) => `v1,${standardWebhookMac(standardWebhookKey(s), id, t, body).toString("base64")}`).join(" ");
}
