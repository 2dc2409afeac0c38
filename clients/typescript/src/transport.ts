/**
 * The HTTP layer under {@link Klaxon}: one request with a per-attempt timeout, Klaxon's error
 * bodies turned into {@link KlaxonError}, and retries with exponential backoff and jitter,
 * limited to what is safe to send twice (see {@link RetryPolicy}).
 */
import { KlaxonConnectionError, KlaxonError } from "./errors.js";
import type { FetchLike, FetchResponse } from "./node-fetch.js";

/**
 * Which failures a request may be retried after.
 *
 * - `idempotent`: GETs, and `POST /v1/events`, which always carries an idempotency key (a
 *   second copy is answered as a duplicate, never stored twice). Retried on network errors,
 *   timeouts, `429` and every `5xx`.
 * - `not_idempotent`: replay and cancel. Sending them twice is not harmless (a second replay of
 *   a delivery that the first one re-queued answers `409 delivery_in_progress`), so they are
 *   retried only when the request surely did nothing: the connection could not be opened
 *   (refused, unknown host, unreachable), or Klaxon answered `429` or `503`, which it sends
 *   before acting. A timeout or a dropped connection after sending is not retried.
 */
export type RetryPolicy = "idempotent" | "not_idempotent";

/** The settings of the transport, resolved from {@link KlaxonOptions}. */
export interface TransportSettings {
  baseUrl: string;
  token: string | undefined;
  timeoutMs: number;
  retries: number;
  retryBaseDelayMs: number;
  maxRetryDelayMs: number;
  fetch: FetchLike;
  userAgent: string;
}

/** One request as the resources describe it. */
export interface TransportRequest {
  method: "GET" | "POST";
  /** The path under the base URL, e.g. `/v1/events`, already percent-encoded. */
  path: string;
  query?: Record<string, string | number | undefined> | undefined;
  /** A JSON body, already serialized (signed ingest signs exactly this string). */
  body?: string | undefined;
  /** Headers computed again for every attempt (a fresh signature timestamp, say). */
  headersPerAttempt?: (() => Record<string, string>) | undefined;
  /** Whether to send `Authorization: Bearer <token>` (signed ingest does not). Default true. */
  bearer?: boolean | undefined;
  retry: RetryPolicy;
  signal?: AbortSignal | undefined;
}

/** A successful (2xx) answer. */
export interface TransportResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** Connection error codes meaning the request never left this machine, so it cannot have acted. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** Sends requests to Klaxon; see the module comment. */
export class Transport {
  constructor(private readonly settings: TransportSettings) {}

  /** Sends `request`, retrying as its {@link RetryPolicy} allows; resolves with a 2xx answer's JSON. */
  async send<T>(request: TransportRequest): Promise<TransportResponse<T>> {
    const label = `${request.method} ${request.path}`;
    const url = this.url(request);
    const maxAttempts = this.settings.retries + 1;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(url, request, label);
      const last = attempt >= maxAttempts;
      if (outcome.kind === "response") {
        const { response, text } = outcome;
        if (response.ok) return { status: response.status, body: parseJsonBody<T>(text, label, response), headers: response.headers };
        const error = toKlaxonError(response, text, label);
        const retryable = response.status === 429 || response.status === 503 || (request.retry === "idempotent" && response.status >= 500);
        if (last || !retryable) throw error;
        const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
        if (retryAfterMs !== undefined && retryAfterMs > this.settings.maxRetryDelayMs) throw error; // too long to wait here
        await sleep(Math.max(retryAfterMs ?? 0, this.backoff(attempt)), request.signal);
      } else {
        if (request.signal?.aborted) throw request.signal.reason;
        const retryable = request.retry === "idempotent" || (outcome.code === "network_error" && neverSent(outcome.cause));
        if (last || !retryable) {
          throw new KlaxonConnectionError({ code: outcome.code, attempts: attempt, request: label, cause: outcome.cause });
        }
        await sleep(this.backoff(attempt), request.signal);
      }
    }
  }

  /** One attempt: the answer with its whole body, or why there was none. */
  private async attempt(
    url: string,
    request: TransportRequest,
    label: string,
  ): Promise<{ kind: "response"; response: FetchResponse; text: string } | { kind: "failure"; code: "timeout" | "network_error"; cause: unknown }> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`${label} took longer than ${this.settings.timeoutMs} ms`));
    }, this.settings.timeoutMs);
    const onCallerAbort = () => controller.abort(request.signal?.reason);
    request.signal?.addEventListener("abort", onCallerAbort, { once: true });
    try {
      const headers: Record<string, string> = { accept: "application/json", "user-agent": this.settings.userAgent };
      if (request.body !== undefined) headers["content-type"] = "application/json";
      if (request.bearer !== false && this.settings.token) headers["authorization"] = `Bearer ${this.settings.token}`;
      Object.assign(headers, request.headersPerAttempt?.());
      const response = await this.settings.fetch(url, {
        method: request.method,
        headers,
        body: request.body,
        signal: controller.signal,
      });
      const text = await response.text(); // inside the timer: a stalled body is a timeout too
      return { kind: "response", response, text };
    } catch (cause) {
      return { kind: "failure", code: timedOut ? "timeout" : "network_error", cause };
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onCallerAbort);
    }
  }

  /** The wait before retry number `attempt`: exponential from the base, capped, with full jitter on the upper half. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.settings.maxRetryDelayMs, this.settings.retryBaseDelayMs * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  /** The absolute URL of a request, with its query string (undefined values left out). */
  private url(request: TransportRequest): string {
    const url = new URL(request.path.replace(/^\//, ""), this.settings.baseUrl.replace(/\/*$/, "/"));
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }
}

/**
 * Milliseconds to wait from a `Retry-After` header: delay-seconds or an HTTP date.
 * `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined; // every HTTP date form starts with the day's name
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Whether a failure happened before anything was sent (the connection never opened). `node:http`
 * puts the code on the error itself, `fetch` on its `cause`; trying several addresses gives an
 * `AggregateError` with one error each.
 */
function neverSent(cause: unknown): boolean {
  const codes: unknown[] = [];
  const collect = (error: unknown) => {
    if (!error || typeof error !== "object") return;
    const errors = (error as { errors?: unknown }).errors;
    if (Array.isArray(errors)) codes.push(...errors.map((e) => (e as { code?: unknown })?.code));
    else codes.push((error as { code?: unknown }).code);
  };
  if (cause && typeof cause === "object" && "code" in cause) collect(cause);
  else collect(cause instanceof Error ? (cause as { cause?: unknown }).cause : undefined);
  return codes.length > 0 && codes.every((code) => typeof code === "string" && NOT_SENT_CODES.has(code));
}

/** A `KlaxonError` from a non-2xx answer, reading Klaxon's `{"error":{"code","message"}}` when it is there. */
function toKlaxonError(response: FetchResponse, text: string, label: string): KlaxonError {
  let code = `http_${response.status}`;
  let message = response.statusText || "HTTP error";
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed?.error?.code === "string") code = parsed.error.code;
    if (typeof parsed?.error?.message === "string") message = parsed.error.message;
  } catch {
    // not JSON: keep the status-based code and message
  }
  return new KlaxonError({
    status: response.status,
    code,
    message,
    requestId: response.headers.get("x-request-id") ?? undefined,
    request: label,
  });
}

/** Parses a 2xx answer's JSON body; an unreadable one is a `KlaxonError` with code `invalid_response`. */
function parseJsonBody<T>(text: string, label: string, response: FetchResponse): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new KlaxonError({
      status: response.status,
      code: "invalid_response",
      message: "the answer is not JSON",
      requestId: response.headers.get("x-request-id") ?? undefined,
      request: label,
    });
  }
}

/** Waits `ms`, or rejects early with the signal's reason when it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
