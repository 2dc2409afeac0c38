/**
 * Reading against the real Klaxon binary: event pages and the async iterator over them,
 * not-found errors, phone escalations (list, get with its timeline, cancel), and the API
 * document the binary serves compared with the committed ../openapi.json.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { Klaxon, KlaxonError, type Escalation } from "@klaxon/sdk";
import { PACKAGE_ROOT, eventually, startKlaxon, type KlaxonServer } from "./harness.js";
import { unavailableFirstProxy } from "./proxies.js";

describe("reading", () => {
  let server: KlaxonServer;
  let klaxon: Klaxon;

  before(async () => {
    server = await startKlaxon();
    klaxon = new Klaxon({ baseUrl: server.baseUrl, token: server.token, retryBaseDelayMs: 20 });
  });
  after(async () => server?.stop());

  describe("events", () => {
    const type = "list.item.created"; // no pipeline takes it: nothing but the events themselves
    const ingested: string[] = [];

    before(async () => {
      for (let n = 0; n < 7; n++) ingested.push((await klaxon.ingest(type, { n }, { idempotencyKey: `item-${n}` })).id);
      await klaxon.ingest("other.type", { n: 99 });
    });

    it("pages through a type with next_cursor until it is null", async () => {
      const sizes: number[] = [];
      const seen: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await klaxon.events.list({ type, limit: 3, ...(cursor ? { after: cursor } : {}) });
        sizes.push(page.data.length);
        seen.push(...page.data.map((event) => event.id));
        assert.ok(page.data.every((event) => event.type === type));
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      assert.deepEqual(sizes, [3, 3, 1]);
      assert.deepEqual([...seen].sort(), [...ingested].sort());
      assert.equal(new Set(seen).size, 7);
    });

    it("iterates over every page in the same order as the pages", async () => {
      const iterated: string[] = [];
      for await (const event of klaxon.events.iterate({ type, limit: 2 })) iterated.push(event.id);
      const oneBigPage = (await klaxon.events.list({ type, limit: 500 })).data.map((event) => event.id);
      assert.deepEqual(iterated, oneBigPage);
      assert.equal(iterated.length, 7);
    });

    it("lets a loop stop early without reading further pages", async () => {
      const counter = await unavailableFirstProxy(server.baseUrl, []); // refuses nothing: counts requests
      try {
        const counted = new Klaxon({ baseUrl: counter.url, token: server.token });
        const firstTwo: string[] = [];
        for await (const event of counted.events.iterate({ type, limit: 1 })) {
          firstTwo.push(event.id);
          if (firstTwo.length === 2) break;
        }
        assert.equal(firstTwo.length, 2);
        assert.equal(counter.seen, 2, "one request per page of one, none after the break");
      } finally {
        await counter.close();
      }
    });

    it("gets one event with its (empty) deliveries", async () => {
      const event = await klaxon.events.get(ingested[3]!);
      assert.deepEqual(event.payload, { n: 3 });
      assert.deepEqual(event.deliveries, []);
    });

    it("answers an unknown event with KlaxonError 404 not_found, and a bad limit with 400", async () => {
      const missing = await klaxon.events.get("01a24900-0000-7000-8000-000000000000").catch((caught: unknown) => caught);
      assert.ok(missing instanceof KlaxonError);
      assert.deepEqual([missing.status, missing.code], [404, "not_found"]);
      const badLimit = await klaxon.events.list({ limit: 100_000 }).catch((caught: unknown) => caught);
      assert.ok(badLimit instanceof KlaxonError);
      assert.equal(badLimit.status, 400);
    });
  });

  describe("escalations", () => {
    let escalation: Escalation;

    before(async () => {
      const eventId = (await klaxon.ingest("page.database.down", { summary: "primary database down" })).id;
      escalation = await eventually("the escalation to start", async () => {
        const page = await klaxon.escalations.list({ state: "active" });
        return page.data.find((candidate) => candidate.event_id === eventId);
      });
    });

    it("lists the active escalation and gets it with its timeline", async () => {
      assert.equal(escalation.status, "active");
      const detail = await klaxon.escalations.get(escalation.id);
      assert.equal(detail.id, escalation.id);
      assert.ok(Array.isArray(detail.timeline), "the timeline is filled in on get");
    });

    it("cancels it; a second cancel is KlaxonError 409 escalation_ended", async () => {
      const cancelled = await klaxon.escalations.cancel(escalation.id);
      assert.equal(cancelled.status, "cancelled");
      const again = await klaxon.escalations.cancel(escalation.id).catch((caught: unknown) => caught);
      assert.ok(again instanceof KlaxonError);
      assert.deepEqual([again.status, again.code], [409, "escalation_ended"]);
      const listed = await klaxon.escalations.list({ state: "cancelled" });
      assert.ok(listed.data.some((candidate) => candidate.id === escalation.id));
    });
  });

  it("serves the same OpenAPI document as the committed ../openapi.json", async () => {
    const committedPath = resolve(PACKAGE_ROOT, "../openapi.json");
    const served = await (await fetch(`${server.baseUrl}/openapi.json`)).json();
    assert.deepEqual(served, JSON.parse(readFileSync(committedPath, "utf8")), "the binary's /openapi.json differs from clients/openapi.json");
  });
});
