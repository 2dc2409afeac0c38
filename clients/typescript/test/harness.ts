/**
 * Test harness: starts the REAL Klaxon binary for one test file, with a fresh temp dir, a clean
 * environment, a klaxon.toml whose webhook destinations point at a {@link Receiver} run by the
 * test itself, and stops both at the end. The binary is `$KLAXON_BIN`, or
 * `<repo root>/target/debug/klaxon` (the repo root being two levels above this package).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The package folder (clients/typescript); this file runs from build-test/test/. */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The Klaxon binary the tests run. */
export const KLAXON_BIN = process.env["KLAXON_BIN"] || resolve(PACKAGE_ROOT, "../../target/debug/klaxon");

/** One request the receiver got, with its raw body. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** How the receiver answers a path: a status and extra headers. */
export interface CannedAnswer {
  status: number;
  headers?: Record<string, string>;
}

/**
 * A small HTTP server on 127.0.0.1 standing in for a webhook consumer: it records every request
 * and answers 200, or what {@link Receiver.answer} set for a path.
 */
export class Receiver {
  /** Every request received so far, in order. */
  readonly requests: ReceivedRequest[] = [];
  private readonly answers = new Map<string, CannedAnswer>();
  private readonly server: Server;
  private waiters: Array<() => void> = [];

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const path = req.url ?? "/";
        this.requests.push({ method: req.method ?? "", path, headers: req.headers, body: Buffer.concat(chunks) });
        const answer = this.answers.get(path) ?? { status: 200 };
        res.writeHead(answer.status, { "content-type": "text/plain", ...answer.headers });
        res.end(answer.status < 300 ? "ok" : "failing on purpose");
        const waiters = this.waiters;
        this.waiters = [];
        waiters.forEach((wake) => wake());
      });
    });
  }

  /** Listens on a free loopback port; resolves with it. */
  async start(): Promise<number> {
    await new Promise<void>((done) => this.server.listen(0, "127.0.0.1", done));
    return this.port;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Sets how requests to `path` are answered from now on. */
  answer(path: string, answer: CannedAnswer): void {
    this.answers.set(path, answer);
  }

  /** The requests received so far that satisfy `predicate`. */
  matching(predicate: (request: ReceivedRequest) => boolean): ReceivedRequest[] {
    return this.requests.filter(predicate);
  }

  /** Waits until at least `count` requests satisfy `predicate` (default 1); rejects after `timeoutMs`. */
  async waitFor(predicate: (request: ReceivedRequest) => boolean, count = 1, timeoutMs = 15_000): Promise<ReceivedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.matching(predicate);
      if (found.length >= count) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`receiver: ${found.length} of ${count} expected requests after ${timeoutMs} ms`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  }

  /** Stops listening. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

/** A running Klaxon with the secrets it was started with. */
export interface KlaxonServer {
  /** e.g. `http://127.0.0.1:43121` */
  baseUrl: string;
  /** KLAXON_API_TOKEN */
  token: string;
  /** KLAXON_INGEST_SECRETS (one secret) */
  ingestSecret: string;
  /** STANDARD_SECRET, `whsec_…`, signing the `standard` destination */
  standardSecret: string;
  /** STRIPE_SECRET, signing the `stripe` destination */
  stripeSecret: string;
  /** The test's webhook consumer. */
  receiver: Receiver;
  /** Klaxon's stderr lines so far (JSON logs), for failure messages. */
  logs: string[];
  /** Stops Klaxon and the receiver and removes the temp dir. */
  stop(): Promise<void>;
}

/** The pipelines of every test server (see common.md): `sdk.*` to two signed webhooks, `sdkfail.*` to a failing one, `page.*` to a phone escalation. */
function config(receiverPort: number): string {
  const receiver = `http://127.0.0.1:${receiverPort}`;
  return `[[pipelines]]
name = "sdk-webhooks"
on = "sdk.*"
[[pipelines.destinations]]
name = "standard"
webhook = { url = "${receiver}/standard", signing = "standard", secret_env = "STANDARD_SECRET", allow_private = true }
[[pipelines.destinations]]
name = "stripe"
webhook = { url = "${receiver}/stripe", signing = "stripe", secret_env = "STRIPE_SECRET", allow_private = true }

[[pipelines]]
name = "sdk-failing"
on = "sdkfail.*"
[[pipelines.destinations]]
name = "failing"
webhook = { url = "${receiver}/fail", signing = "none", allow_private = true }

[[pipelines]]
name = "sdk-page"
on = "page.*"
[[pipelines.destinations]]
voice = { policy = "oncall" }
`;
}

/** Starts a receiver and a Klaxon wired to it; resolves once Klaxon logs "klaxon is listening". */
export async function startKlaxon(): Promise<KlaxonServer> {
  if (!existsSync(KLAXON_BIN)) throw new Error(`the Klaxon binary is not at ${KLAXON_BIN}: build it, or set KLAXON_BIN`);
  const dir = await mkdtemp(join(tmpdir(), "klaxon-sdk-ts-"));
  const receiver = new Receiver();
  const receiverPort = await receiver.start();
  await writeFile(join(dir, "klaxon.toml"), config(receiverPort));

  const server = {
    token: `tok_${randomBytes(16).toString("hex")}`,
    ingestSecret: `ingest_${randomBytes(16).toString("hex")}`,
    standardSecret: `whsec_${randomBytes(32).toString("base64")}`,
    stripeSecret: `stripe_${randomBytes(16).toString("hex")}`,
  };
  const child = spawn(KLAXON_BIN, ["serve", "--log-format", "json"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
    env: {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      PORT: "0",
      DATABASE_URL: `sqlite://${join(dir, "klaxon.db")}`,
      KLAXON_API_TOKEN: server.token,
      KLAXON_INGEST_SECRETS: server.ingestSecret,
      KLAXON_CONFIG: join(dir, "klaxon.toml"),
      KLAXON_RETRY_SCHEDULE: "200ms,200ms,200ms",
      ONCALL_NUMBER: "+15551000001",
      RUST_LOG: "info",
      STANDARD_SECRET: server.standardSecret,
      STRIPE_SECRET: server.stripeSecret,
    },
  });
  const logs: string[] = [];
  try {
    const baseUrl = await waitUntilListening(child, logs);
    return {
      ...server,
      baseUrl,
      receiver,
      logs,
      async stop() {
        await stopChild(child);
        await receiver.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopChild(child);
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Reads Klaxon's JSON log lines (and keeps draining them) until it says where it listens. */
function waitUntilListening(child: ChildProcess, logs: string[]): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`Klaxon did not start within 15 s:\n${logs.slice(-20).join("\n")}`)), 15_000);
    createInterface({ input: child.stderr! }).on("line", (line) => {
      logs.push(line);
      try {
        const fields = (JSON.parse(line) as { fields?: { message?: string; url?: string } }).fields;
        if (fields?.message === "klaxon is listening" && fields.url) {
          clearTimeout(timer);
          resolveUrl(fields.url);
        }
      } catch {
        // not JSON (a panic message, say): kept in logs for the error above
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Klaxon exited (${code ?? signal}) before listening:\n${logs.slice(-20).join("\n")}`));
    });
  });
}

/** Stops the child (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `probe` every 100 ms until it returns a value other than `undefined`; rejects after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 100));
  }
}
