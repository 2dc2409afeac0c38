/**
 * `@klaxon/sdk`: the TypeScript client of Klaxon. Ingest events, read events, deliveries and
 * escalations, and verify the webhooks Klaxon delivers. No runtime dependencies; Node 18+.
 */
export {
  Klaxon,
  SDK_VERSION,
  EventsResource,
  DeliveriesResource,
  EscalationsResource,
  type KlaxonOptions,
  type IngestOptions,
  type IngestResult,
  type RequestOptions,
  type PageParams,
  type EventListParams,
  type DeliveryListParams,
  type EscalationListParams,
} from "./client.js";
export { ingest, defaultClient } from "./default-client.js";
export {
  KlaxonError,
  KlaxonConnectionError,
  WebhookVerificationError,
  type ConnectionErrorCode,
  type WebhookVerificationReason,
} from "./errors.js";
export { signIngest, signStandardWebhook, type RawBody } from "./signing.js";
export { verifyWebhook, type HeadersLike, type VerifyWebhookOptions, type WebhookScheme } from "./webhooks.js";
export type { RetryPolicy } from "./transport.js";
export type * from "./types.js";
