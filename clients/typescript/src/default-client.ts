/**
 * The module-level `ingest` convenience: a shared {@link Klaxon} client configured from the
 * environment (`KLAXON_URL`, `KLAXON_API_TOKEN`), created on first use.
 */
import { Klaxon, type IngestOptions, type IngestResult } from "./client.js";

let shared: Klaxon | undefined;

/**
 * The shared client used by the module-level {@link ingest}: base URL from `KLAXON_URL`
 * (default `http://127.0.0.1:5000`), token from `KLAXON_API_TOKEN`. Created on the first call
 * and reused after, so set the environment before.
 */
export function defaultClient(): Klaxon {
  if (shared === undefined) {
    const baseUrl = process.env["KLAXON_URL"] || undefined;
    const token = process.env["KLAXON_API_TOKEN"] || undefined;
    shared = new Klaxon({ ...(baseUrl ? { baseUrl } : {}), ...(token ? { token } : {}) });
  }
  return shared;
}

/**
 * Stores an event with the shared client, configured from `KLAXON_URL` and `KLAXON_API_TOKEN`.
 * Same behaviour as {@link Klaxon.ingest}.
 *
 * @example
 * ```ts
 * import { ingest } from "@klaxon/sdk";
 * await ingest("support.ticket.created", { subject: ticket.subject, priority: "urgent" }, { idempotencyKey: ticket.id });
 * ```
 */
export function ingest(type: string, payload: Record<string, unknown>, options?: IngestOptions): Promise<IngestResult> {
  return defaultClient().ingest(type, payload, options);
}
