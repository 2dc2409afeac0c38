/**
 * How the SDK sends requests by default: `node:http` / `node:https` with a keep-alive agent of
 * the client's own, behind the small part of `fetch`'s shape the transport uses.
 *
 * Why not the global `fetch`: on Node it is undici, whose per-request cost made it the
 * bottleneck. With 64 `POST /v1/events` in flight against a local Klaxon, one Node 20 process
 * sent about 4,200 events/s through `fetch` and 15,900 through `node:http` (same machine, same
 * run; `tools/bench-sdk.sh` measures the SDK itself). Pass `fetch` in {@link KlaxonOptions} to
 * use another implementation (a proxy-aware one, or on runtimes without `node:http`).
 */
import * as http from "node:http";
import * as https from "node:https";

/** What the transport sends: `fetch`'s arguments, narrowed to what it uses. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string | undefined;
  signal: AbortSignal;
}

/** What the transport reads of an answer: a subset of `fetch`'s `Response`. */
export interface FetchResponse {
  ok: boolean;
  status: number;
  statusText: string;
  headers: Headers;
  text(): Promise<string>;
}

/** A `fetch`-shaped function; the global `fetch` is one. */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

/**
 * Idle keep-alive connections are closed after this long, before Klaxon's own idle timeout
 * (60 s by default) closes them under a request that is just being sent on one.
 */
const IDLE_SOCKET_MS = 30_000;

/** A `fetch`-shaped sender over `node:http(s)` with keep-alive connections reused across calls. */
export function nodeHttpFetch(): FetchLike {
  const agents = {
    "http:": new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    "https:": new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  };
  return (url, init) =>
    new Promise<FetchResponse>((resolve, reject) => {
      const target = new URL(url);
      const scheme = target.protocol === "http:" || target.protocol === "https:" ? target.protocol : undefined;
      if (scheme === undefined) {
        reject(new TypeError(`unsupported URL scheme ${target.protocol} (http: or https: only)`));
        return;
      }
      const headers: Record<string, string> = { ...init.headers };
      if (init.body !== undefined) headers["content-length"] = String(Buffer.byteLength(init.body));
      const send = scheme === "https:" ? https.request : http.request;
      const request = send(target, { method: init.method, headers, agent: agents[scheme], signal: init.signal }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("close", () => {
          if (!response.complete) reject(new Error("the connection closed before the whole answer arrived"));
        });
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = response.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            statusText: response.statusMessage ?? "",
            headers: toHeaders(response.headers),
            text: () => Promise.resolve(text),
          });
        });
      });
      request.on("error", reject);
      request.end(init.body);
    });
}

/** Node's header object as a WHATWG `Headers`. */
function toHeaders(incoming: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  return headers;
}
