/**
 * The API's data types, named for SDK users. Every shape Klaxon answers with comes from the
 * types generated from Klaxon's OpenAPI document (src/generated/openapi.ts, `npm run generate`);
 * this file only gives them short names and adds the few unions the document leaves as strings.
 */
import type { components } from "./generated/openapi.js";

type Schemas = components["schemas"];

/** The answer to `POST /v1/events`: `{ id, duplicate }`. */
export type IngestResponse = Schemas["Accepted"];
/** The body of `POST /v1/events`. */
export type EventEnvelope = Schemas["EventEnvelope"];
/** A stored event, as listed by `GET /v1/events`. */
export type Event = Schemas["Event"];
/** One event with its deliveries, from `GET /v1/events/{id}`. */
export type EventDetail = Schemas["EventDetail"];
/** A page of events: `data` and `next_cursor` (`null` or absent on the last page). */
export type EventPage = Schemas["EventPage"];
/** A delivery of an event to one destination. */
export type Delivery = Schemas["Delivery"];
/** A delivery from `GET /v1/deliveries/{id}`, whose `attempt_log` is filled in. */
export type DeliveryDetail = Schemas["Delivery"];
/** A page of deliveries. */
export type DeliveryPage = Schemas["DeliveryPage"];
/** Where a delivery stands: `pending`, `failed` (a retry is scheduled), `succeeded`, `dead`. */
export type DeliveryState = Schemas["DeliveryState"];
/** One attempt of a delivery, in its `attempt_log`. */
export type DeliveryAttempt = Schemas["Attempt"];
/** A phone escalation. */
export type Escalation = Schemas["Escalation"];
/** An escalation from `GET /v1/escalations/{id}`, whose `timeline` is filled in. */
export type EscalationDetail = Schemas["Escalation"];
/** A page of escalations. */
export type EscalationPage = Schemas["EscalationPage"];
/** One line of an escalation's timeline. */
export type TimelineEntry = Schemas["TimelineEntry"];
/** Klaxon's error body, `{"error":{"code","message"}}`. */
export type ErrorBody = Schemas["ErrorBody"];

/**
 * An escalation's `status`, as a filter of `GET /v1/escalations?state=`: `active`, or how it
 * ended. (The document types it as a plain string.)
 */
export type EscalationState = "active" | "connected" | "acknowledged" | "unreached" | "cancelled" | "failed";

/**
 * The JSON body of a webhook Klaxon delivers (after redaction):
 * `{"id","type","occurred_at","labels","payload"}`. `verifyWebhook` returns this by default.
 */
export interface WebhookPayload {
  /** The event's id in Klaxon. */
  id: string;
  /** The event type, e.g. `support.ticket.created`. */
  type: string;
  /** RFC 3339. */
  occurred_at: string;
  /** The labels the pipeline gave it (classification and such). */
  labels: Record<string, unknown>;
  /** The event's fields. */
  payload: Record<string, unknown>;
}
