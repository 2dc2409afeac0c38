/**
 * Webhooks and deliveries against the real Klaxon binary: the webhooks Klaxon actually delivers
 * to the test's receiver verify with `verifyWebhook` in both schemes (and tampering is caught),
 * deliveries are listed and read, a succeeded delivery is replayed (same `webhook-id` again),
 * a failing one cannot be, and replay is not retried once the request may have reached Klaxon.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  Klaxon,
  KlaxonConnectionError,
  KlaxonError,
  WebhookVerificationError,
  verifyWebhook,
  type Delivery,
  type WebhookVerificationReason,
} from "@klaxon/sdk";
import { eventually, startKlaxon, type KlaxonServer, type ReceivedRequest } from "./harness.js";
import { answerLosingProxy, silentServer } from "./proxies.js";

/** Asserts that `verify` throws a WebhookVerificationError with `reason`. */
function assertRejected(verify: () => unknown, reason: WebhookVerificationReason): void {
  assert.throws(verify, (error: unknown) => error instanceof WebhookVerificationError && error.reason === reason);
}

/** A single header value of a received request. */
function header(request: ReceivedRequest, name: string): string {
  const value = request.headers[name];
  assert.equal(typeof value, "string", `header ${name}`);
  return value as string;
}

describe("webhooks and deliveries", () => {
  let server: KlaxonServer;
  let klaxon: Klaxon;
  let eventId: string;
  let standard: ReceivedRequest;
  let stripe: ReceivedRequest;

  before(async () => {
    server = await startKlaxon();
    klaxon = new Klaxon({ baseUrl: server.baseUrl, token: server.token, retryBaseDelayMs: 20 });
    eventId = (await klaxon.ingest("sdk.order.created", { order: "A-1", total: 42 }, { idempotencyKey: "order-A-1" })).id;
    standard = (await server.receiver.waitFor((request) => request.path === "/standard"))[0]!;
    stripe = (await server.receiver.waitFor((request) => request.path === "/stripe"))[0]!;
  });
  after(async () => server?.stop());

  describe("verifyWebhook on real deliveries", () => {
    it("verifies the Standard Webhooks delivery and returns its payload", () => {
      const payload = verifyWebhook(standard.body, standard.headers, server.standardSecret);
      assert.equal(payload.id, eventId);
      assert.equal(payload.type, "sdk.order.created");
      assert.deepEqual(payload.payload, { order: "A-1", total: 42 });
      assert.ok(header(standard, "webhook-signature").startsWith("v1,"));
    });

    it("verifies the Stripe-style delivery", () => {
      assert.match(header(stripe, "x-klaxon-signature"), /^t=\d+,v1=[0-9a-f]{64}/);
      const payload = verifyWebhook(stripe.body, stripe.headers, server.stripeSecret);
      assert.equal(payload.id, eventId);
    });

    it("verifies from a WHATWG Headers and a string body too, and with the secret among others", () => {
      const headers = new Headers(Object.entries(standard.headers).map(([name, value]) => [name, String(value)]));
      verifyWebhook(standard.body.toString("utf8"), headers, ["whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX", server.standardSecret]);
    });

    it("rejects a tampered body in both schemes", () => {
      const tampered = Buffer.from(standard.body.toString("utf8").replace('"total":42', '"total":4200'));
      assert.notDeepEqual(tampered, standard.body);
      assertRejected(() => verifyWebhook(tampered, standard.headers, server.standardSecret), "no_matching_signature");
      const tamperedStripe = Buffer.from(stripe.body.toString("utf8").replace('"total":42', '"total":4200'));
      assertRejected(() => verifyWebhook(tamperedStripe, stripe.headers, server.stripeSecret), "no_matching_signature");
    });

    it("rejects a wrong secret in both schemes", () => {
      assertRejected(() => verifyWebhook(standard.body, standard.headers, "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"), "no_matching_signature");
      assertRejected(() => verifyWebhook(stripe.body, stripe.headers, "some-other-stripe-secret"), "no_matching_signature");
    });

    it("rejects a stale timestamp in both schemes (301 s later)", () => {
      const standardSentAt = Number(header(standard, "webhook-timestamp"));
      assertRejected(() => verifyWebhook(standard.body, standard.headers, server.standardSecret, { now: new Date((standardSentAt + 301) * 1000) }), "timestamp_out_of_tolerance");
      const stripeSentAt = Number(/t=(\d+)/.exec(header(stripe, "x-klaxon-signature"))![1]);
      assertRejected(() => verifyWebhook(stripe.body, stripe.headers, server.stripeSecret, { now: new Date((stripeSentAt + 301) * 1000) }), "timestamp_out_of_tolerance");
    });
  });

  describe("deliveries", () => {
    /** The event's delivery to `destination` (`<pipeline>.<destination name>`), once it is `succeeded`. */
    async function succeededDelivery(destination: string): Promise<Delivery> {
      return eventually(`the ${destination} delivery to succeed`, async () => {
        const page = await klaxon.deliveries.list({ eventId, destination });
        return page.data.find((delivery) => delivery.state === "succeeded");
      });
    }

    it("lists the event's deliveries, one per destination, and reads one with its attempt log", async () => {
      const delivery = await succeededDelivery("sdk-webhooks.standard");
      const all = await klaxon.deliveries.list({ eventId });
      assert.deepEqual(all.data.map((d) => d.destination).sort(), ["sdk-webhooks.standard", "sdk-webhooks.stripe"]);
      assert.equal(delivery.id, header(standard, "webhook-id"), "the delivery id is the webhook-id");
      const detail = await klaxon.deliveries.get(delivery.id);
      assert.equal(detail.event_id, eventId);
      assert.equal(detail.attempt_log?.[0]?.status, 200);
      const succeeded = await klaxon.deliveries.list({ state: "succeeded", limit: 500 });
      assert.ok(succeeded.data.some((d) => d.id === delivery.id));
      const event = await klaxon.events.get(eventId);
      assert.deepEqual(event.deliveries.map((d) => d.id).sort(), all.data.map((d) => d.id).sort());
    });

    it("replays a succeeded delivery: the receiver gets the same webhook-id again, and it verifies", async () => {
      const delivery = await succeededDelivery("sdk-webhooks.standard");
      const replayed = await klaxon.deliveries.replay(delivery.id);
      assert.equal(replayed.id, delivery.id);
      const copies = await server.receiver.waitFor((request) => request.path === "/standard" && request.headers["webhook-id"] === delivery.id, 2);
      assert.equal(verifyWebhook(copies[1]!.body, copies[1]!.headers, server.standardSecret).id, eventId);
    });

    it("refuses to replay a failing delivery: KlaxonError 409 delivery_in_progress", async () => {
      server.receiver.answer("/fail", { status: 500, headers: { "retry-after": "120" } }); // keeps it `failed` for a while
      const failingEventId = (await klaxon.ingest("sdkfail.x", { n: 1 })).id;
      const failing = await eventually("the delivery to be failed", async () => {
        const page = await klaxon.deliveries.list({ eventId: failingEventId });
        return page.data.find((delivery) => delivery.state === "failed");
      });
      const error = await klaxon.deliveries.replay(failing.id).catch((caught: unknown) => caught);
      assert.ok(error instanceof KlaxonError, String(error));
      assert.equal(error.status, 409);
      assert.equal(error.code, "delivery_in_progress");
    });

    it("does not retry a replay whose answer was lost (it may have been done), and it was done", async () => {
      const delivery = await succeededDelivery("sdk-webhooks.stripe");
      await eventually("the earlier replays to settle", async () => ((await klaxon.deliveries.get(delivery.id)).state === "succeeded" ? true : undefined));
      const before = server.receiver.matching((request) => request.path === "/stripe").length;
      const proxy = await answerLosingProxy(server.baseUrl);
      try {
        const client = new Klaxon({ baseUrl: proxy.url, token: server.token, retryBaseDelayMs: 10 });
        const error = await client.deliveries.replay(delivery.id).catch((caught: unknown) => caught);
        assert.ok(error instanceof KlaxonConnectionError, String(error));
        assert.equal(error.attempts, 1);
        assert.equal(proxy.seen, 1);
      } finally {
        await proxy.close();
      }
      await server.receiver.waitFor((request) => request.path === "/stripe", before + 1);
    });

    it("retries a replay whose connection was refused (it cannot have been done), with node:http and with fetch", async () => {
      const silent = await silentServer();
      const deadUrl = silent.url;
      await silent.close(); // the port is free again: connections are refused
      for (const fetchOption of [{}, { fetch }]) {
        const client = new Klaxon({ baseUrl: deadUrl, token: server.token, retries: 2, retryBaseDelayMs: 10, ...fetchOption });
        const error = await client.deliveries.replay("msg_00000000000000000000000000000000").catch((caught: unknown) => caught);
        assert.ok(error instanceof KlaxonConnectionError, String(error));
        assert.equal(error.attempts, 3, "every attempt was made: the request never left");
      }
    });

    it("answers an unknown delivery with KlaxonError 404 not_found", async () => {
      const error = await klaxon.deliveries.get("msg_00000000000000000000000000000000").catch((caught: unknown) => caught);
      assert.ok(error instanceof KlaxonError);
      assert.equal(error.status, 404);
      assert.equal(error.code, "not_found");
    });
  });
});
