/**
 * The Klaxon client: {@link Klaxon} ingests events (with a bearer token or signed), and reads
 * events, deliveries and escalations, replaying and cancelling where the API allows it.
 */
import { randomUUID } from "node:crypto";
import { nodeHttpFetch, type FetchLike } from "./node-fetch.js";
import { signIngest } from "./signing.js";
import { Transport, type RetryPolicy } from "./transport.js";
import type {
  Delivery,
  DeliveryDetail,
  DeliveryPage,
  DeliveryState,
  Escalation,
  EscalationDetail,
  EscalationPage,
  EscalationState,
  Event,
  EventDetail,
  EventPage,
  IngestResponse,
} from "./types.js";

/** The package version (kept equal to package.json's by a test), sent in the `User-Agent` header. */
export const SDK_VERSION = "0.1.0";

/** Options of the {@link Klaxon} constructor. Every field is optional. */
export interface KlaxonOptions {
  /** Where Klaxon listens. Default `http://127.0.0.1:5000`. */
  baseUrl?: string;
  /** Klaxon's `KLAXON_API_TOKEN`, sent as `Authorization: Bearer …` (not on signed ingest). */
  token?: string;
  /** The limit for one attempt, answer body included, in milliseconds. Default 10000. */
  timeoutMs?: number;
  /** How many times a failed request may be sent again (so `retries + 1` attempts at most). Default 3. */
  retries?: number;
  /** The first retry waits about this long (ms); each further one twice as long. Default 250. */
  retryBaseDelayMs?: number;
  /**
   * The longest wait between attempts (ms), for the backoff and for a `Retry-After`; an answer
   * asking to wait longer is thrown at once instead. Default 30000.
   */
  maxRetryDelayMs?: number;
  /** One of Klaxon's `KLAXON_INGEST_SECRETS` (or several), for {@link Klaxon.signedIngest}. */
  signingSecret?: string | readonly string[];
  /**
   * A `fetch` to send requests with (the global one, or a proxy-aware one). Default: `node:http`
   * and `node:https` with keep-alive connections, several times faster than Node's global
   * `fetch` per request.
   */
  fetch?: typeof globalThis.fetch;
}

/** Options of {@link Klaxon.ingest} and {@link Klaxon.signedIngest}. */
export interface IngestOptions {
  /**
   * What makes two sends the same event, e.g. your ticket's id: Klaxon stores the first and
   * answers later ones `duplicate: true` with the same id. Default: a random UUID, generated
   * once per call and sent again on each retry of that call.
   */
  idempotencyKey?: string;
  /** When the event happened. A `Date`, or an RFC 3339 string sent as is. Default: when Klaxon receives it. */
  occurredAt?: Date | string;
  /** Aborts the call, retries included. */
  signal?: AbortSignal;
}

/** What ingesting an event answers. */
export interface IngestResult {
  /** The event's id in Klaxon (a UUID v7); the original event's id for a duplicate. */
  id: IngestResponse["id"];
  /** `true` when the key had been used before with the same body, so nothing new was stored. */
  duplicate: IngestResponse["duplicate"];
  /** The idempotency key that was sent (yours, or the generated one). */
  idempotencyKey: string;
}

/** Options common to reads. */
export interface RequestOptions {
  /** Aborts the call, retries included. */
  signal?: AbortSignal;
}

/** A page request: `after` is the `next_cursor` of the previous page, `limit` 1–500 (Klaxon's default 50). */
export interface PageParams extends RequestOptions {
  /** The `next_cursor` of the previous page; omit for the first (newest) page. */
  after?: string;
  /** Items per page, 1–500; Klaxon's default when omitted. */
  limit?: number;
}

/** Filters of {@link EventsResource.list}. */
export interface EventListParams extends PageParams {
  /** Only events of this type, e.g. `support.ticket.created`. */
  type?: string;
}

/** Filters of {@link DeliveriesResource.list}. */
export interface DeliveryListParams extends PageParams {
  /** Only deliveries in this state; `dead` is the dead letter queue. */
  state?: DeliveryState;
  /** Only deliveries to this destination, named `<pipeline>.<destination>` (e.g. `alerts.standard`). */
  destination?: string;
  /** Only the deliveries of this event. */
  eventId?: string;
}

/** Filters of {@link EscalationsResource.list}. */
export interface EscalationListParams extends PageParams {
  /** Only escalations with this status: `active`, or how they ended. */
  state?: EscalationState;
}

/**
 * A client of one Klaxon server.
 *
 * @example
 * ```ts
 * const klaxon = new Klaxon({ baseUrl: "https://klaxon.example.com", token: process.env.KLAXON_API_TOKEN });
 * const { id, duplicate } = await klaxon.ingest("support.ticket.created", { subject: "Site down" }, { idempotencyKey: "ticket-42" });
 * for await (const event of klaxon.events.iterate({ type: "support.ticket.created" })) console.log(event.id);
 * ```
 */
export class Klaxon {
  /** Events: list, get, iterate. */
  readonly events: EventsResource;
  /** Webhook and other deliveries: list, get, iterate, replay. */
  readonly deliveries: DeliveriesResource;
  /** Phone escalations: list, get, iterate, cancel. */
  readonly escalations: EscalationsResource;

  private readonly transport: Transport;
  private readonly signingSecrets: readonly string[];

  /** Creates a client; nothing is sent until a method is called. */
  constructor(options: KlaxonOptions = {}) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const retries = options.retries ?? 3;
    if (!(timeoutMs > 0)) throw new TypeError("timeoutMs must be positive");
    if (!Number.isInteger(retries) || retries < 0) throw new TypeError("retries must be a non-negative integer");
    if (options.fetch !== undefined && typeof options.fetch !== "function") throw new TypeError("fetch must be a function");
    const fetchImpl: FetchLike = options.fetch ?? nodeHttpFetch();
    this.transport = new Transport({
      baseUrl: options.baseUrl ?? "http://127.0.0.1:5000",
      token: options.token,
      timeoutMs,
      retries,
      retryBaseDelayMs: options.retryBaseDelayMs ?? 250,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
      fetch: fetchImpl,
      userAgent: `klaxon-sdk-typescript/${SDK_VERSION} node/${process.versions.node}`,
    });
    const secret = options.signingSecret;
    this.signingSecrets = secret === undefined ? [] : typeof secret === "string" ? [secret] : [...secret];
    this.events = new EventsResource(this.transport);
    this.deliveries = new DeliveriesResource(this.transport);
    this.escalations = new EscalationsResource(this.transport);
  }

  /**
   * Stores an event in Klaxon (`POST /v1/events`, bearer token), which runs it through the
   * pipelines that take its type.
   *
   * Always sends an idempotency key (yours or a generated one) and the same key on every retry,
   * so a retry after a lost answer is answered as a duplicate instead of storing twice.
   *
   * @param type - the event type, e.g. `support.ticket.created`.
   * @param payload - the event's data, a JSON object.
   * @returns the event id and whether it was a duplicate.
   * @throws {@link KlaxonError} for an HTTP error, e.g. code `idempotency_conflict` (409) when the
   *   key was used before with another body, `unauthorized` (401) for a wrong token.
   * @throws {@link KlaxonConnectionError} when no answer came after the retries.
   */
  ingest(type: string, payload: Record<string, unknown>, options: IngestOptions = {}): Promise<IngestResult> {
    return this.sendEvent(type, payload, options, false);
  }

  /**
   * Like {@link Klaxon.ingest}, but authenticated by an `X-Klaxon-Signature` made with
   * `signingSecret` instead of the bearer token (signed again, with a fresh timestamp, on every
   * attempt). Klaxon keeps signed events' idempotency keys apart from the token's.
   *
   * @throws `TypeError` when the client has no `signingSecret`.
   */
  signedIngest(type: string, payload: Record<string, unknown>, options: IngestOptions = {}): Promise<IngestResult> {
    if (this.signingSecrets.length === 0) throw new TypeError("signedIngest needs the client option signingSecret");
    return this.sendEvent(type, payload, options, true);
  }

  /** The request behind `ingest` and `signedIngest`. */
  private async sendEvent(type: string, payload: Record<string, unknown>, options: IngestOptions, signed: boolean): Promise<IngestResult> {
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const occurredAt = options.occurredAt instanceof Date ? options.occurredAt.toISOString() : options.occurredAt;
    const body = JSON.stringify({ type, payload, idempotency_key: idempotencyKey, occurred_at: occurredAt });
    const secrets = this.signingSecrets;
    const response = await this.transport.send<IngestResponse>({
      method: "POST",
      path: "/v1/events",
      body,
      bearer: !signed,
      headersPerAttempt: signed ? () => ({ "x-klaxon-signature": signIngest(body, secrets) }) : undefined,
      retry: "idempotent",
      signal: options.signal,
    });
    return { id: response.body.id, duplicate: response.body.duplicate, idempotencyKey };
  }
}

/** What every listing resource shares: a page, and an async iterator over all pages. */
abstract class ListingResource<Item, Page extends { data: Item[]; next_cursor?: string | null }, Params extends PageParams> {
  constructor(
    protected readonly transport: Transport,
    private readonly path: string,
  ) {}

  /** The query parameters of a listing, from its params. */
  protected abstract query(params: Params): Record<string, string | number | undefined>;

  /** One page, newest first; pass its `next_cursor` as `after` for the next one (`null` at the end). */
  async list(params: Params = {} as Params): Promise<Page> {
    const response = await this.transport.send<Page>({
      method: "GET",
      path: this.path,
      query: { ...this.query(params), after: params.after, limit: params.limit },
      retry: "idempotent",
      signal: params.signal,
    });
    return response.body;
  }

  /**
   * Every item, newest first, fetching pages of `limit` as the loop goes (starting after
   * `params.after` if given). Stop early with `break`.
   */
  async *iterate(params: Params = {} as Params): AsyncGenerator<Item, void, undefined> {
    let after = params.after;
    for (;;) {
      const page = await this.list({ ...params, after });
      yield* page.data;
      if (!page.next_cursor) return;
      after = page.next_cursor;
    }
  }

  /** `GET <path>/<id>`. */
  protected async getOne<T>(id: string, options: RequestOptions): Promise<T> {
    return (await this.transport.send<T>({ method: "GET", path: `${this.path}/${encodeId(id)}`, retry: "idempotent", signal: options.signal })).body;
  }

  /** `POST <path>/<id>/<action>` with the given retry policy. */
  protected async act<T>(id: string, action: string, retry: RetryPolicy, options: RequestOptions): Promise<T> {
    return (await this.transport.send<T>({ method: "POST", path: `${this.path}/${encodeId(id)}/${action}`, retry, signal: options.signal })).body;
  }
}

/** `/v1/events`: the stored events. Reach it as `klaxon.events`. */
export class EventsResource extends ListingResource<Event, EventPage, EventListParams> {
  /** @internal */
  constructor(transport: Transport) {
    super(transport, "/v1/events");
  }

  /** @internal */
  protected query(params: EventListParams) {
    return { type: params.type };
  }

  /**
   * One event with its pipeline trace and its deliveries.
   * @throws {@link KlaxonError} code `not_found` (404) when there is no such event.
   */
  get(id: string, options: RequestOptions = {}): Promise<EventDetail> {
    return this.getOne<EventDetail>(id, options);
  }
}

/** `/v1/deliveries`: one row per event and destination. Reach it as `klaxon.deliveries`. */
export class DeliveriesResource extends ListingResource<Delivery, DeliveryPage, DeliveryListParams> {
  /** @internal */
  constructor(transport: Transport) {
    super(transport, "/v1/deliveries");
  }

  /** @internal */
  protected query(params: DeliveryListParams) {
    return { state: params.state, destination: params.destination, event_id: params.eventId };
  }

  /**
   * One delivery with its `attempt_log`.
   * @throws {@link KlaxonError} code `not_found` (404).
   */
  get(id: string, options: RequestOptions = {}): Promise<DeliveryDetail> {
    return this.getOne<DeliveryDetail>(id, options);
  }

  /**
   * Queues a `dead` or `succeeded` delivery again, due now (the receiver sees the same
   * `webhook-id` again). Not retried after a request may have reached Klaxon: on a
   * {@link KlaxonConnectionError}, `get` the delivery to see whether it was queued.
   * @throws {@link KlaxonError} code `delivery_in_progress` (409) when it is `pending` or `failed`.
   */
  replay(id: string, options: RequestOptions = {}): Promise<Delivery> {
    return this.act<Delivery>(id, "replay", "not_idempotent", options);
  }
}

/** `/v1/escalations`: phone escalations. Reach it as `klaxon.escalations`. */
export class EscalationsResource extends ListingResource<Escalation, EscalationPage, EscalationListParams> {
  /** @internal */
  constructor(transport: Transport) {
    super(transport, "/v1/escalations");
  }

  /** @internal */
  protected query(params: EscalationListParams) {
    return { state: params.state };
  }

  /**
   * One escalation with its `timeline`.
   * @throws {@link KlaxonError} code `not_found` (404).
   */
  get(id: string, options: RequestOptions = {}): Promise<EscalationDetail> {
    return this.getOne<EscalationDetail>(id, options);
  }

  /**
   * Stops ringing and hangs up the live legs. Not retried after a request may have reached
   * Klaxon (a second cancel answers `409 escalation_ended`).
   * @throws {@link KlaxonError} code `escalation_ended` (409) when it is over already.
   */
  cancel(id: string, options: RequestOptions = {}): Promise<Escalation> {
    return this.act<Escalation>(id, "cancel", "not_idempotent", options);
  }
}

/** Percent-encodes an id for a path segment; an empty id is a programming error. */
function encodeId(id: string): string {
  if (typeof id !== "string" || id.length === 0) throw new TypeError("an id must be a non-empty string");
  return encodeURIComponent(id);
}
