/**
 * Faulty network pieces the tests put between the SDK and the real Klaxon, to exercise the
 * retries: a TCP proxy that loses the first answer, an HTTP proxy that answers 503 a few times
 * before forwarding, and a server that accepts connections and never answers.
 */
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage } from "node:http";
import { createConnection, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";

/** A proxy listening on loopback; `url` replaces Klaxon's base URL in the client. */
export interface TestProxy {
  url: string;
  /** How many requests (HTTP proxy) or connections (TCP proxy) it has seen. */
  readonly seen: number;
  close(): Promise<void>;
}

/** Listens on a free loopback port. */
async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<string> {
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A TCP proxy to `upstream` that forwards the first connection's request to Klaxon but, as soon
 * as Klaxon's answer starts coming back, destroys the client's socket without passing it on: the
 * request was processed, the client never hears. Later connections are forwarded both ways.
 */
export async function answerLosingProxy(upstream: string): Promise<TestProxy> {
  const target = new URL(upstream);
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    connections += 1;
    const first = connections === 1;
    const klaxon = createConnection({ host: target.hostname, port: Number(target.port) });
    sockets.add(client).add(klaxon);
    client.on("error", () => klaxon.destroy());
    klaxon.on("error", () => client.destroy());
    client.on("close", () => klaxon.destroy());
    klaxon.on("close", () => client.destroy());
    client.pipe(klaxon);
    if (first) {
      klaxon.once("data", () => {
        client.destroy();
        klaxon.destroy();
      });
    } else {
      klaxon.pipe(client);
    }
  });
  const url = await listen(server);
  return {
    url,
    get seen() {
      return connections;
    },
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/**
 * An HTTP proxy to `upstream` that answers the first requests with the given `503` answers
 * (Klaxon's error body; a `Retry-After` when the entry has one) and forwards every later request.
 */
export async function unavailableFirstProxy(upstream: string, refusals: Array<{ retryAfter?: string }>): Promise<TestProxy & { arrivals: number[] }> {
  let requests = 0;
  const arrivals: number[] = [];
  const server = createHttpServer((req, res) => {
    requests += 1;
    arrivals.push(Date.now());
    const refusal = refusals[requests - 1];
    if (refusal) {
      req.resume();
      req.on("end", () => {
        res.writeHead(503, { "content-type": "application/json", ...(refusal.retryAfter ? { "retry-after": refusal.retryAfter } : {}) });
        res.end(JSON.stringify({ error: { code: "unavailable", message: "the test proxy refuses this one" } }));
      });
      return;
    }
    const forwarded = httpRequest(new URL(req.url ?? "/", upstream), { method: req.method, headers: req.headers }, (answer: IncomingMessage) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on("error", () => res.destroy());
    req.pipe(forwarded);
  });
  const url = await listen(server);
  return {
    url,
    arrivals,
    get seen() {
      return requests;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** A server that accepts connections and never answers: every request to it times out. */
export async function silentServer(): Promise<TestProxy> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.resume();
  });
  const url = await listen(server);
  return {
    url,
    get seen() {
      return connections;
    },
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
