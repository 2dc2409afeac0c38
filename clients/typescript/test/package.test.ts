/**
 * Checks of the package as published: the version the client reports matches package.json, and
 * the entry point exports what the README documents.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { it } from "node:test";
import * as sdk from "@klaxon/sdk";
import { PACKAGE_ROOT } from "./harness.js";

it("SDK_VERSION (sent in User-Agent) equals package.json's version", () => {
  const manifest = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
  assert.equal(sdk.SDK_VERSION, manifest.version);
});

it("exports the documented runtime API and nothing internal", () => {
  assert.deepEqual(Object.keys(sdk).sort(), [
    "DeliveriesResource",
    "EscalationsResource",
    "EventsResource",
    "Klaxon",
    "KlaxonConnectionError",
    "KlaxonError",
    "SDK_VERSION",
    "WebhookVerificationError",
    "defaultClient",
    "ingest",
    "signIngest",
    "signStandardWebhook",
    "verifyWebhook",
  ]);
});
