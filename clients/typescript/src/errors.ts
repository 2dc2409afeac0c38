/**
 * The errors this SDK throws: {@link KlaxonError} when Klaxon (or something in front of it)
 * answered with an HTTP error, {@link KlaxonConnectionError} when no answer came at all, and
 * {@link WebhookVerificationError} when a received webhook does not verify.
 *
 * No error message ever contains a token, a secret or a signature.
 */

/**
 * Klaxon answered with an HTTP error status (after any retries the SDK was allowed to make).
 *
 * Klaxon's error bodies are `{"error":{"code":"…","message":"…"}}`; `code` and `message` come
 * from there. When the body is not in that shape (a proxy's HTML page, say), `code` is
 * `http_<status>` and `message` says what the status means.
 */
export class KlaxonError extends Error {
  override readonly name = "KlaxonError";
  /** The HTTP status, e.g. `409`. */
  readonly status: number;
  /** Klaxon's machine-readable error code, e.g. `idempotency_conflict`, `unauthorized`, `not_found`. */
  readonly code: string;
  /** The request id from the `x-request-id` response header, when the server sent one. */
  readonly requestId: string | undefined;
  /** The HTTP method and path of the request that failed, e.g. `POST /v1/events`. */
  readonly request: string;

  /** @internal Built by the client from a response; not meant to be constructed by callers. */
  constructor(init: { status: number; code: string; message: string; requestId?: string | undefined; request: string }) {
    super(`${init.request} answered ${init.status} ${init.code}: ${init.message}`);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.request = init.request;
  }
}

/** Why a request got no HTTP answer: see {@link KlaxonConnectionError.code}. */
export type ConnectionErrorCode = "network_error" | "timeout";

/**
 * No HTTP answer came from Klaxon: the connection failed or dropped, or the attempt took longer
 * than `timeoutMs`, and the retries (if the request was safe to retry) were used up.
 *
 * For a `POST /v1/events` the SDK always sends an idempotency key, so sending the same event
 * again later with the same key cannot store it twice.
 */
export class KlaxonConnectionError extends Error {
  override readonly name = "KlaxonConnectionError";
  /** `timeout` when an attempt exceeded `timeoutMs`, `network_error` otherwise. */
  readonly code: ConnectionErrorCode;
  /** How many attempts were made in total. */
  readonly attempts: number;
  /** The HTTP method and path of the request, e.g. `GET /v1/events`. */
  readonly request: string;

  /** @internal Built by the client; not meant to be constructed by callers. */
  constructor(init: { code: ConnectionErrorCode; attempts: number; request: string; cause: unknown }) {
    const what = init.code === "timeout" ? "timed out" : `failed (${describeCause(init.cause)})`;
    super(`${init.request} ${what} after ${init.attempts} attempt${init.attempts === 1 ? "" : "s"}`, {
      cause: init.cause,
    });
    this.code = init.code;
    this.attempts = init.attempts;
    this.request = init.request;
  }
}

/** The reason a webhook was rejected by {@link verifyWebhook}. */
export type WebhookVerificationReason =
  /** A header the scheme needs is absent (or no signature header of either scheme is present). */
  | "missing_header"
  /** A header is present but cannot be parsed: no `t=`, a non-numeric timestamp, too long, too many entries. */
  | "malformed_header"
  /** The signed timestamp is further from now than the tolerance, in the past or the future. */
  | "timestamp_out_of_tolerance"
  /** No signature in the header matches the body under any of the secrets. */
  | "no_matching_signature"
  /** The signature verified but the body is not valid UTF-8 JSON. */
  | "invalid_payload";

/**
 * A received webhook failed verification. Answer the sender with `401` (or `400` for
 * `invalid_payload`) and do not act on the body.
 */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  /** Why verification failed; stable, meant for code and logs. */
  readonly reason: WebhookVerificationReason;

  /** @internal Built by the verifier; not meant to be constructed by callers. */
  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A short description of a fetch failure's cause, e.g. `ECONNREFUSED` or `other side closed`. */
function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause;
    const innerCode = inner && typeof inner === "object" ? (inner as { code?: unknown }).code : undefined;
    if (typeof innerCode === "string") return innerCode;
    if (inner instanceof Error) return inner.message;
    return cause.message;
  }
  return String(cause);
}
