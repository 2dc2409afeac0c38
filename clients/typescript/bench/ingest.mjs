// Ingest throughput of the TypeScript SDK (the built dist/): keeps `--concurrency` calls of
// `Klaxon.ingest` in flight for `--seconds`, then prints one line:
//
//   typescript-sdk events/s=… p50_ms=… p99_ms=… errors=…
//
// Usage: npm run build && node bench/ingest.mjs --url http://127.0.0.1:5000 --token T --concurrency 64 --seconds 8
// Latencies are per call, SDK retries included (default client settings); an error is a call
// that threw after its retries.
import { parseArgs } from "node:util";
import { Klaxon } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: process.env.KLAXON_URL ?? "http://127.0.0.1:5000" },
    token: { type: "string", default: process.env.KLAXON_API_TOKEN },
    concurrency: { type: "string", default: "64" },
    seconds: { type: "string", default: "8" },
    type: { type: "string", default: "bench.sdk.typescript" },
  },
});
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
if (!(concurrency >= 1) || !(seconds > 0)) throw new Error("--concurrency and --seconds must be positive numbers");

const klaxon = new Klaxon({ baseUrl: values.url, ...(values.token ? { token: values.token } : {}) });
const latenciesMs = [];
let errors = 0;
let firstError;
const started = performance.now();
const deadline = started + seconds * 1000;

/** One of the `concurrency` loops: ingest, record, again, until the deadline. */
async function worker(workerId) {
  for (let n = 0; performance.now() < deadline; n++) {
    const callStarted = performance.now();
    try {
      await klaxon.ingest(values.type, { worker: workerId, n, note: "sdk benchmark" });
      latenciesMs.push(performance.now() - callStarted);
    } catch (error) {
      errors += 1;
      firstError ??= error;
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, (_, workerId) => worker(workerId)));
const elapsedSeconds = (performance.now() - started) / 1000;
latenciesMs.sort((a, b) => a - b);
/** The q-quantile of the sorted latencies (nearest rank). */
const quantile = (q) => (latenciesMs.length ? latenciesMs[Math.min(latenciesMs.length - 1, Math.ceil(q * latenciesMs.length) - 1)] : NaN);
console.log(
  `typescript-sdk events/s=${(latenciesMs.length / elapsedSeconds).toFixed(1)} p50_ms=${quantile(0.5).toFixed(2)} p99_ms=${quantile(0.99).toFixed(2)} errors=${errors}`,
);
if (firstError) console.error(`first error: ${firstError instanceof Error ? firstError.message : String(firstError)}`);
