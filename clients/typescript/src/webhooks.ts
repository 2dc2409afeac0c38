/**
 * Verification of the webhooks Klaxon delivers, for receivers written in TypeScript/Node.
 * Handles both signing styles a Klaxon webhook destination can use: Standard Webhooks
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and Stripe-style
 * (`X-Klaxon-Signature: t=…,v1=…`), following docs/signatures.md §3, §4 and its "rules for all".
 */
import { timingSafeEqual } from "node:crypto";
import { WebhookVerificationError } from "./errors.js";
import type { RawBody } from "./signing.js";
import {
  bodyBytes,
  standardWebhookKey,
  standardWebhookMac,
  stripeStyleMac,
  unixSeconds,
} from "./hmac.js";
import type { WebhookPayload } from "./types.js";

/**
 * Request headers in any of the shapes Node code has at hand: a WHATWG `Headers` (fetch,
 * Next.js, Hono…), Node's `IncomingHttpHeaders` (`req.headers` of node:http and Express), or a
 * plain object whose names may be in any case.
 */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

/** Which signing style a webhook uses; see {@link VerifyWebhookOptions.scheme}. */
export type WebhookScheme = "standard" | "stripe";

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** How far (seconds) the signed timestamp may be from now, either way. Default 300. */
  toleranceSec?: number;
  /** The current time, for tests. Default: the clock. */
  now?: Date;
  /**
   * The header carrying a Stripe-style signature, i.e. the destination's `header` setting.
   * Default `x-klaxon-signature`. Case does not matter.
   */
  signatureHeader?: string;
  /**
   * Accept only this scheme. By default the scheme is detected from the headers: a
   * `webhook-signature` header means Standard Webhooks, otherwise the Stripe-style header.
   */
  scheme?: WebhookScheme;
}

/** At most this many signature entries are looked at (docs/signatures.md, rules for all, 5). */
const MAX_SIGNATURE_ENTRIES = 10;
/** A signature header longer than this is refused before parsing. */
const MAX_HEADER_BYTES = 4096;
/** A timestamp is a plain integer of at most 12 digits: no sign, no decimals. */
const TIMESTAMP_PATTERN = /^[0-9]{1,12}$/;

/**
 * Verifies a webhook delivered by Klaxon and returns its parsed JSON body.
 *
 * Pass the **raw** body, exactly the bytes received, before any JSON parsing: a body parsed and
 * serialized again does not verify. The timestamp is checked first, then every signature entry
 * against every secret in constant time; any match passes.
 *
 * @param rawBody - the request body as received (a `Buffer` or `Uint8Array`, or a string).
 * @param headers - the request headers (`Headers`, `req.headers`, or a plain object).
 * @param secret - the destination's secret, or several during a rotation: `whsec_…` for
 *   Standard Webhooks, the plain string for Stripe-style.
 * @param options - tolerance, clock, header name, pinned scheme.
 * @returns the parsed body, `{"id","type","occurred_at","labels","payload"}` for Klaxon's deliveries.
 * @throws {@link WebhookVerificationError} with a `reason` when the webhook must be rejected.
 * @throws `TypeError` when a Standard Webhooks secret is not `whsec_<base64>` (a configuration bug).
 *
 * @example
 * ```ts
 * const payload = verifyWebhook(rawBody, req.headers, process.env.KLAXON_WEBHOOK_SECRET!);
 * console.log(payload.type, payload.payload);
 * ```
 */
export function verifyWebhook<T = WebhookPayload>(
  rawBody: RawBody,
  headers: HeadersLike,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): T {
  const secrets = typeof secret === "string" ? [secret] : [...secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== "string" || s.length === 0)) {
    throw new TypeError("verifyWebhook needs at least one non-empty secret");
  }
  const toleranceSec = options.toleranceSec ?? 300;
  if (!Number.isFinite(toleranceSec) || toleranceSec < 0) throw new TypeError("toleranceSec must be a non-negative number");
  const now = unixSeconds(options.now ?? new Date());
  const stripeHeaderName = (options.signatureHeader ?? "x-klaxon-signature").toLowerCase();

  const standardSignature = headerValue(headers, "webhook-signature");
  const stripeSignature = headerValue(headers, stripeHeaderName);
  const scheme: WebhookScheme | undefined =
    options.scheme ?? (standardSignature !== undefined ? "standard" : stripeSignature !== undefined ? "stripe" : undefined);

  if (scheme === "standard") {
    verifyStandard(rawBody, headers, standardSignature, secrets, now, toleranceSec);
  } else if (scheme === "stripe") {
    verifyStripeStyle(rawBody, stripeSignature, stripeHeaderName, secrets, now, toleranceSec);
  } else {
    throw new WebhookVerificationError(
      "missing_header",
      `no webhook signature header: expected webhook-signature (Standard Webhooks) or ${stripeHeaderName}`,
    );
  }
  return parseJson<T>(rawBody);
}

/** Checks a Standard Webhooks signature (docs/signatures.md §4); throws when it does not verify. */
function verifyStandard(
  rawBody: RawBody,
  headers: HeadersLike,
  signatureHeader: string | undefined,
  secrets: readonly string[],
  now: number,
  toleranceSec: number,
): void {
  const id = headerValue(headers, "webhook-id");
  const timestamp = headerValue(headers, "webhook-timestamp");
  for (const [name, value] of [["webhook-id", id], ["webhook-timestamp", timestamp], ["webhook-signature", signatureHeader]] as const) {
    if (value === undefined) throw new WebhookVerificationError("missing_header", `the ${name} header is missing`);
  }
  if (id!.length === 0 || id!.includes(".")) throw new WebhookVerificationError("malformed_header", "the webhook-id header is empty or contains '.'");
  checkTimestamp(timestamp!, "webhook-timestamp", now, toleranceSec);
  if (signatureHeader!.length > MAX_HEADER_BYTES) throw new WebhookVerificationError("malformed_header", "the webhook-signature header is too long");

  const entries = signatureHeader!.split(" ").filter((entry) => entry.length > 0);
  if (entries.length > MAX_SIGNATURE_ENTRIES) throw new WebhookVerificationError("malformed_header", "the webhook-signature header has too many entries");
  const candidates: Buffer[] = [];
  for (const entry of entries) {
    const comma = entry.indexOf(",");
    if (comma <= 0) throw new WebhookVerificationError("malformed_header", "a webhook-signature entry is not <version>,<signature>");
    if (entry.slice(0, comma) !== "v1") continue; // v1a (Ed25519) and unknown versions are ignored
    const encoded = entry.slice(comma + 1);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) continue;
    candidates.push(Buffer.from(encoded, "base64"));
  }
  const keys = secrets.map(standardWebhookKey);
  const matched = keys.some((key) => {
    const expected = standardWebhookMac(key, id!, timestamp!, rawBody);
    return candidates.some((candidate) => constantTimeEqual(expected, candidate));
  });
  if (!matched) throw new WebhookVerificationError("no_matching_signature", "no v1 signature matches the body under the given secrets");
}

/** Checks a Stripe-style `t=…,v1=…` signature (docs/signatures.md §3); throws when it does not verify. */
function verifyStripeStyle(
  rawBody: RawBody,
  signatureHeader: string | undefined,
  headerName: string,
  secrets: readonly string[],
  now: number,
  toleranceSec: number,
): void {
  if (signatureHeader === undefined) throw new WebhookVerificationError("missing_header", `the ${headerName} header is missing`);
  if (signatureHeader.length > MAX_HEADER_BYTES) throw new WebhookVerificationError("malformed_header", `the ${headerName} header is too long`);
  let timestamp: string | undefined;
  const candidates: Buffer[] = [];
  let v1Entries = 0;
  for (const item of signatureHeader.split(",")) {
    const eq = item.indexOf("=");
    if (eq < 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === "t") {
      if (timestamp !== undefined) throw new WebhookVerificationError("malformed_header", `the ${headerName} header has more than one t=`);
      timestamp = value;
    } else if (key === "v1") {
      v1Entries += 1;
      if (v1Entries > MAX_SIGNATURE_ENTRIES) throw new WebhookVerificationError("malformed_header", `the ${headerName} header has too many v1= entries`);
      if (/^[0-9a-fA-F]{64}$/.test(value)) candidates.push(Buffer.from(value, "hex"));
    } // other keys (v0, …) are ignored
  }
  if (timestamp === undefined) throw new WebhookVerificationError("malformed_header", `the ${headerName} header has no t=`);
  if (v1Entries === 0) throw new WebhookVerificationError("malformed_header", `the ${headerName} header has no v1=`);
  checkTimestamp(timestamp, `${headerName} t=`, now, toleranceSec);
  const matched = secrets.some((secret) => {
    const expected = stripeStyleMac(secret, timestamp!, rawBody);
    return candidates.some((candidate) => constantTimeEqual(expected, candidate));
  });
  if (!matched) throw new WebhookVerificationError("no_matching_signature", "no v1= signature matches the body under the given secrets");
}

/** Throws unless `value` is a plain integer timestamp within `toleranceSec` of `now` (inclusive). */
function checkTimestamp(value: string, what: string, now: number, toleranceSec: number): void {
  if (!TIMESTAMP_PATTERN.test(value)) throw new WebhookVerificationError("malformed_header", `${what} is not a plain integer timestamp`);
  const skew = Math.abs(now - Number(value));
  if (skew > toleranceSec) {
    throw new WebhookVerificationError("timestamp_out_of_tolerance", `${what} is ${skew} s from now, more than the tolerance of ${toleranceSec} s`);
  }
}

/** Compares two MACs in constant time (for equal lengths; different lengths never match). */
function constantTimeEqual(expected: Buffer, candidate: Buffer): boolean {
  return expected.length === candidate.length && timingSafeEqual(expected, candidate);
}

/** Reads one header, case-insensitively, from any {@link HeadersLike}; several values are refused. */
function headerValue(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === "function") {
    const value = (headers as { get(name: string): string | null }).get(name);
    return value ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let found: string | readonly string[] | undefined = record[name];
  if (found === undefined) {
    for (const key of Object.keys(record)) {
      if (key.toLowerCase() === name) {
        found = record[key];
        break;
      }
    }
  }
  if (found === undefined) return undefined;
  if (typeof found === "string") return found;
  if (found.length === 1) return found[0];
  if (found.length === 0) return undefined;
  throw new WebhookVerificationError("malformed_header", `the ${name} header appears more than once`);
}

/** Parses the verified body as UTF-8 JSON. */
function parseJson<T>(rawBody: RawBody): T {
  try {
    const text = typeof rawBody === "string" ? rawBody : new TextDecoder("utf-8", { fatal: true }).decode(bodyBytes(rawBody));
    return JSON.parse(text) as T;
  } catch {
    throw new WebhookVerificationError("invalid_payload", "the webhook body verified but is not UTF-8 JSON");
  }
}
