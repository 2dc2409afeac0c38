/**
 * Ingest against the real Klaxon binary: stored and duplicate answers, idempotency conflicts,
 * authentication (bearer token and signed ingest), retries (a lost answer, 503s with
 * Retry-After, timeouts, refused connections) and the module-level `ingest`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Klaxon, KlaxonConnectionError, KlaxonError, defaultClient, ingest, signIngest } from "@klaxon/sdk";
import { startKlaxon, type KlaxonServer } from "./harness.js";
import { answerLosingProxy, silentServer, unavailableFirstProxy } from "./proxies.js";

/** Asserts that `promise` rejects with a KlaxonError of `status` and `code`; returns it. */
async function rejectsWithKlaxonError(promise: Promise<unknown>, status: number, code: string): Promise<KlaxonError> {
  const error = await promise.then(
    () => assert.fail(`expected a ${status} ${code}, the call succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof KlaxonError, `expected a KlaxonError, got ${String(error)}`);
  assert.equal(error.status, status);
  assert.equal(error.code, code);
  return error;
}

describe("ingest", () => {
  let server: KlaxonServer;
  let klaxon: Klaxon;

  before(async () => {
    server = await startKlaxon();
    klaxon = new Klaxon({ baseUrl: server.baseUrl, token: server.token, retryBaseDelayMs: 20 });
  });
  after(async () => server?.stop());

  it("stores an event (202, not a duplicate) with its payload, key and occurred_at", async () => {
    const occurredAt = new Date("2026-01-02T03:04:05.000Z");
    const result = await klaxon.ingest("support.ticket.created", { subject: "Site down", priority: "urgent" }, { idempotencyKey: "ticket-1", occurredAt });
    assert.deepEqual(result, { id: result.id, duplicate: false, idempotencyKey: "ticket-1" });
    const stored = await klaxon.events.get(result.id);
    assert.equal(stored.type, "support.ticket.created");
    assert.deepEqual(stored.payload, { subject: "Site down", priority: "urgent" });
    assert.equal(stored.idempotency_key, "ticket-1");
    assert.equal(new Date(stored.occurred_at).getTime(), occurredAt.getTime());
  });

  it("generates a key when none is given, so two calls are two events", async () => {
    const first = await klaxon.ingest("support.ticket.created", { n: 1 });
    const second = await klaxon.ingest("support.ticket.created", { n: 1 });
    assert.notEqual(first.id, second.id);
    assert.notEqual(first.idempotencyKey, second.idempotencyKey);
    assert.match(first.idempotencyKey, /^[0-9a-f-]{36}$/);
  });

  it("answers a repeat with the same key and body as a duplicate with the same id", async () => {
    const first = await klaxon.ingest("billing.invoice.paid", { amount: 10 }, { idempotencyKey: "inv-7" });
    const again = await klaxon.ingest("billing.invoice.paid", { amount: 10 }, { idempotencyKey: "inv-7" });
    assert.equal(again.id, first.id);
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
  });

  it("surfaces the same key with another body as KlaxonError 409 idempotency_conflict", async () => {
    await klaxon.ingest("billing.invoice.paid", { amount: 10 }, { idempotencyKey: "inv-8" });
    const error = await rejectsWithKlaxonError(klaxon.ingest("billing.invoice.paid", { amount: 11 }, { idempotencyKey: "inv-8" }), 409, "idempotency_conflict");
    assert.equal(error.request, "POST /v1/events");
    assert.ok(error.message.length > 0);
  });

  it("surfaces an invalid event as a 422 without retrying it", async () => {
    const counter = await unavailableFirstProxy(server.baseUrl, []);
    try {
      const counted = new Klaxon({ baseUrl: counter.url, token: server.token, retryBaseDelayMs: 10 });
      const error = await counted.ingest("not a valid type!", {}).catch((caught: unknown) => caught);
      assert.ok(error instanceof KlaxonError);
      assert.equal(error.status, 422);
      assert.equal(counter.seen, 1);
    } finally {
      await counter.close();
    }
  });

  it("refuses a wrong token with 401, and never puts the token in the message", async () => {
    const wrongToken = "wrong-token-0123456789abcdef";
    const stranger = new Klaxon({ baseUrl: server.baseUrl, token: wrongToken });
    const error = await stranger.ingest("support.ticket.created", {}).catch((caught: unknown) => caught);
    assert.ok(error instanceof KlaxonError);
    assert.equal(error.status, 401);
    assert.ok(!error.message.includes(wrongToken));
    await rejectsWithKlaxonError(stranger.events.list(), 401, error.code);
  });

  describe("signed ingest", () => {
    it("is accepted without a token when signed with an ingest secret", async () => {
      const signer = new Klaxon({ baseUrl: server.baseUrl, signingSecret: server.ingestSecret });
      const result = await signer.signedIngest("build.failed", { build: 12 }, { idempotencyKey: "build-12" });
      assert.equal(result.duplicate, false);
      const stored = await klaxon.events.get(result.id);
      assert.equal(stored.type, "build.failed");
      assert.equal(stored.source, "signed");
      const again = await signer.signedIngest("build.failed", { build: 12 }, { idempotencyKey: "build-12" });
      assert.deepEqual([again.id, again.duplicate], [result.id, true]);
    });

    it("accepts a secret list during a rotation (one v1 per secret)", async () => {
      const signer = new Klaxon({ baseUrl: server.baseUrl, signingSecret: ["an-old-secret-no-longer-held", server.ingestSecret] });
      assert.equal((await signer.signedIngest("build.failed", { build: 13 })).duplicate, false);
    });

    it("is refused with a wrong secret (401)", async () => {
      const forger = new Klaxon({ baseUrl: server.baseUrl, signingSecret: "not-the-ingest-secret-at-all" });
      const error = await forger.signedIngest("build.failed", { build: 14 }).catch((caught: unknown) => caught);
      assert.ok(error instanceof KlaxonError);
      assert.equal(error.status, 401);
    });

    it("signIngest alone makes a header Klaxon accepts, over the exact bytes sent", async () => {
      const body = JSON.stringify({ type: "build.failed", payload: { build: 15 }, idempotency_key: "build-15" });
      const response = await fetch(`${server.baseUrl}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-klaxon-signature": signIngest(body, server.ingestSecret) },
        body,
      });
      assert.equal(response.status, 202);
      const tampered = await fetch(`${server.baseUrl}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-klaxon-signature": signIngest(body, server.ingestSecret) },
        body: body.replace("15", "16"),
      });
      assert.equal(tampered.status, 401);
    });

    it("needs the signingSecret option", () => {
      assert.throws(() => klaxon.signedIngest("build.failed", {}), TypeError);
    });
  });

  describe("retries", () => {
    it("retries with the same key after the connection dropped before the answer: one event, answered as a duplicate", async () => {
      const proxy = await answerLosingProxy(server.baseUrl);
      try {
        const client = new Klaxon({ baseUrl: proxy.url, token: server.token, retryBaseDelayMs: 20 });
        const result = await client.ingest("sdk.dropped", { attempt: "lost answer" }, { idempotencyKey: "dropped-1" });
        assert.equal(proxy.seen, 2, "one lost answer, one retry");
        assert.equal(result.duplicate, true, "the retry was answered as a duplicate of the stored event");
        const stored = (await klaxon.events.list({ type: "sdk.dropped" })).data;
        assert.equal(stored.length, 1);
        assert.equal(stored[0]!.id, result.id);
        assert.equal(stored[0]!.idempotency_key, "dropped-1");
      } finally {
        await proxy.close();
      }
    });

    it("does the same through a fetch passed in options (here the global one)", async () => {
      const proxy = await answerLosingProxy(server.baseUrl);
      try {
        let calls = 0;
        const countingFetch: typeof fetch = (input, init) => {
          calls += 1;
          return fetch(input, init);
        };
        const client = new Klaxon({ baseUrl: proxy.url, token: server.token, retryBaseDelayMs: 20, fetch: countingFetch });
        const result = await client.ingest("sdk.dropped.fetch", { attempt: "lost answer" }, { idempotencyKey: "dropped-fetch" });
        assert.equal(calls, 2, "both attempts went through the given fetch");
        assert.equal(result.duplicate, true);
        const stored = (await klaxon.events.list({ type: "sdk.dropped.fetch" })).data;
        assert.deepEqual(stored.map((event) => event.id), [result.id]);
      } finally {
        await proxy.close();
      }
    });

    it("retries a generated key the same way (the key is made once per call)", async () => {
      const proxy = await answerLosingProxy(server.baseUrl);
      try {
        const client = new Klaxon({ baseUrl: proxy.url, token: server.token, retryBaseDelayMs: 20 });
        const result = await client.ingest("sdk.dropped.generated", { attempt: "lost answer" });
        assert.equal(result.duplicate, true);
        const stored = (await klaxon.events.list({ type: "sdk.dropped.generated" })).data;
        assert.deepEqual(stored.map((event) => [event.id, event.idempotency_key]), [[result.id, result.idempotencyKey]]);
      } finally {
        await proxy.close();
      }
    });

    it("retries a signed ingest after a lost answer, signing again", async () => {
      const proxy = await answerLosingProxy(server.baseUrl);
      try {
        const signer = new Klaxon({ baseUrl: proxy.url, signingSecret: server.ingestSecret, retryBaseDelayMs: 20 });
        const result = await signer.signedIngest("sdk.dropped.signed", { n: 1 }, { idempotencyKey: "signed-drop-1" });
        assert.equal(result.duplicate, true);
        assert.equal((await klaxon.events.list({ type: "sdk.dropped.signed" })).data.length, 1);
      } finally {
        await proxy.close();
      }
    });

    it("retries on 503, waiting as long as Retry-After says", async () => {
      const proxy = await unavailableFirstProxy(server.baseUrl, [{ retryAfter: "1" }, {}]);
      try {
        const client = new Klaxon({ baseUrl: proxy.url, token: server.token, retryBaseDelayMs: 20 });
        const result = await client.ingest("sdk.unavailable", { n: 1 }, { idempotencyKey: "unavailable-1" });
        assert.equal(result.duplicate, false);
        assert.equal(proxy.seen, 3, "two 503s, then forwarded");
        assert.ok(proxy.arrivals[1]! - proxy.arrivals[0]! >= 1000, "the retry after `Retry-After: 1` came a second later at least");
        assert.equal((await klaxon.events.get(result.id)).idempotency_key, "unavailable-1");
      } finally {
        await proxy.close();
      }
    });

    it("gives up after `retries` retries with the last KlaxonError", async () => {
      const proxy = await unavailableFirstProxy(server.baseUrl, [{}, {}, {}]);
      try {
        const client = new Klaxon({ baseUrl: proxy.url, token: server.token, retries: 2, retryBaseDelayMs: 10 });
        await rejectsWithKlaxonError(client.ingest("sdk.unavailable", { n: 2 }), 503, "unavailable");
        assert.equal(proxy.seen, 3);
      } finally {
        await proxy.close();
      }
    });

    it("does not wait for a Retry-After beyond maxRetryDelayMs", async () => {
      const proxy = await unavailableFirstProxy(server.baseUrl, [{ retryAfter: "3600" }]);
      try {
        const client = new Klaxon({ baseUrl: proxy.url, token: server.token, maxRetryDelayMs: 5_000 });
        await rejectsWithKlaxonError(client.ingest("sdk.unavailable", { n: 3 }), 503, "unavailable");
        assert.equal(proxy.seen, 1);
      } finally {
        await proxy.close();
      }
    });

    it("throws KlaxonConnectionError code timeout when no answer comes in timeoutMs, after retrying", async () => {
      const silent = await silentServer();
      try {
        const client = new Klaxon({ baseUrl: silent.url, token: server.token, timeoutMs: 200, retries: 1, retryBaseDelayMs: 10 });
        const error = await client.ingest("sdk.timeout", {}).catch((caught: unknown) => caught);
        assert.ok(error instanceof KlaxonConnectionError, String(error));
        assert.equal(error.code, "timeout");
        assert.equal(error.attempts, 2);
        assert.equal(silent.seen, 2);
      } finally {
        await silent.close();
      }
    });

    it("stops at once, retries included, when the caller's signal aborts", async () => {
      const silent = await silentServer();
      try {
        const client = new Klaxon({ baseUrl: silent.url, token: server.token, timeoutMs: 60_000 });
        const reason = new Error("caller gave up");
        const controller = new AbortController();
        setTimeout(() => controller.abort(reason), 100);
        const started = Date.now();
        const error = await client.ingest("sdk.aborted", {}, { signal: controller.signal }).catch((caught: unknown) => caught);
        assert.equal(error, reason);
        assert.ok(Date.now() - started < 5_000, "did not wait for the timeout");
        assert.equal(silent.seen, 1, "no retry after the abort");
      } finally {
        await silent.close();
      }
    });

    it("throws KlaxonConnectionError code network_error when nothing listens", async () => {
      const silent = await silentServer();
      const deadUrl = silent.url;
      await silent.close(); // the port is free again: connections are refused
      const client = new Klaxon({ baseUrl: deadUrl, token: server.token, retries: 2, retryBaseDelayMs: 10 });
      const error = await client.ingest("sdk.refused", {}).catch((caught: unknown) => caught);
      assert.ok(error instanceof KlaxonConnectionError, String(error));
      assert.equal(error.code, "network_error");
      assert.equal(error.attempts, 3);
    });
  });

  it("the module-level ingest uses KLAXON_URL and KLAXON_API_TOKEN", async () => {
    process.env["KLAXON_URL"] = server.baseUrl;
    process.env["KLAXON_API_TOKEN"] = server.token;
    const result = await ingest("support.ticket.created", { subject: "from env" }, { idempotencyKey: "env-1" });
    assert.equal(result.duplicate, false);
    assert.equal(defaultClient(), defaultClient());
    assert.deepEqual((await klaxon.events.get(result.id)).payload, { subject: "from env" });
  });
});
