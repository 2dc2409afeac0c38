/**
 * Unit tests of `Retry-After` parsing (delay-seconds and HTTP dates), which decides how long the
 * client waits before retrying a 429 or 503. The header's use end to end is in ingest.test.ts.
 * (It imports the module from src/, compiled with the tests: the helper is not part of the public API.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRetryAfter } from "../src/transport.js";

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");

  it("reads delay-seconds as milliseconds", () => {
    assert.equal(parseRetryAfter("0", now), 0);
    assert.equal(parseRetryAfter(" 7 ", now), 7000);
  });

  it("reads an HTTP date as the time left until it, never negative", () => {
    assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now), 30_000);
    assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now), 0);
  });

  it("ignores an absent or unreadable header", () => {
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter("-5", now), undefined);
  });
});
