"""Test harness: runs the real Klaxon binary, a webhook receiver and a fault-injecting proxy.

Nothing here imitates Klaxon: the receiver stands in for a customer's endpoint, and the
proxy sits between the SDK and the real Klaxon to drop connections or answer 503/429.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_KLAXON_BIN = REPO_ROOT / "target" / "debug" / "klaxon"
STARTUP_TIMEOUT_SECONDS = 15.0

CONFIG_TEMPLATE = """\
[[pipelines]]
name = "sdk-webhooks"
on = "sdk.*"
[[pipelines.destinations]]
name = "standard"
webhook = {{ url = "http://127.0.0.1:{port}/standard", signing = "standard", secret_env = "STANDARD_SECRET", allow_private = true }}
[[pipelines.destinations]]
name = "stripe"
webhook = {{ url = "http://127.0.0.1:{port}/stripe", signing = "stripe", secret_env = "STRIPE_SECRET", allow_private = true }}

[[pipelines]]
name = "sdk-failing"
on = "sdkfail.*"
[[pipelines.destinations]]
name = "failing"
webhook = {{ url = "http://127.0.0.1:{port}/fail", signing = "none", allow_private = true }}

[[pipelines]]
name = "sdk-page"
on = "page.*"
[[pipelines.destinations]]
voice = {{ policy = "oncall" }}
"""


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the receiver got: method, path, headers (lower-cased names), raw body."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Dict[str, object]:
        """The body parsed as JSON."""
        parsed = json.loads(self.body)
        assert isinstance(parsed, dict)
        return parsed


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every request; 500 on /fail, else 200."""

    def __init__(self) -> None:
        self.requests: List[ReceivedRequest] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._changed:
                    receiver.requests.append(ReceivedRequest("POST", self.path, headers, body))
                    receiver._changed.notify_all()
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(
        self, predicate: Callable[[ReceivedRequest], bool], count: int = 1, timeout: float = 20.0
    ) -> List[ReceivedRequest]:
        """Wait until ``count`` recorded requests satisfy ``predicate``; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [r for r in self.requests if predicate(r)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"receiver got {len(matching)} of {count} expected requests"
                    )
                self._changed.wait(remaining)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@dataclass
class KlaxonProcess:
    """A running ``klaxon serve`` and the secrets it was started with."""

    url: str
    token: str
    ingest_secret: str
    standard_secret: str
    stripe_secret: str
    receiver: Receiver
    process: subprocess.Popen[bytes]
    log: List[str] = field(default_factory=list)

    def stop(self) -> None:
        """Kill the process and wait for it."""
        self.process.kill()
        self.process.wait(timeout=10)


def start_klaxon(workdir: Path, receiver: Receiver) -> KlaxonProcess:
    """Start the binary (``KLAXON_BIN`` or ``<repo>/target/debug/klaxon``) in ``workdir``."""
    binary = Path(os.environ.get("KLAXON_BIN") or DEFAULT_KLAXON_BIN)
    if not binary.exists():
        raise RuntimeError(f"Klaxon binary not found at {binary}; build it or set KLAXON_BIN")
    config = workdir / "klaxon.toml"
    config.write_text(CONFIG_TEMPLATE.format(port=receiver.port), encoding="utf-8")
    token = "tok_" + secrets.token_hex(16)
    ingest_secret = "ingest_" + secrets.token_hex(16)
    standard_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    stripe_secret = "stripe_" + secrets.token_hex(16)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": "0",
        "DATABASE_URL": f"sqlite://{workdir / 'klaxon.db'}",
        "KLAXON_API_TOKEN": token,
        "KLAXON_INGEST_SECRETS": ingest_secret,
        "KLAXON_CONFIG": str(config),
        "KLAXON_RETRY_SCHEDULE": "200ms,200ms,200ms",
        "ONCALL_NUMBER": "+15551000001",
        "RUST_LOG": "info",
        "STANDARD_SECRET": standard_secret,
        "STRIPE_SECRET": stripe_secret,
    }
    process = subprocess.Popen(
        [str(binary), "serve", "--log-format", "json"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    log: List[str] = []
    listening: Dict[str, str] = {}
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            log.append(line)
            if not ready.is_set():
                try:
                    fields = json.loads(line).get("fields", {})
                except ValueError:
                    continue
                if fields.get("message") == "klaxon is listening":
                    listening["url"] = fields["url"]
                    ready.set()
        ready.set()  # the process ended: stop waiting

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(STARTUP_TIMEOUT_SECONDS) or "url" not in listening:
        process.kill()
        tail = "\n".join(log[-20:])
        raise RuntimeError(f"klaxon did not report 'klaxon is listening'; its log:\n{tail}")
    return KlaxonProcess(
        url=listening["url"],
        token=token,
        ingest_secret=ingest_secret,
        standard_secret=standard_secret,
        stripe_secret=stripe_secret,
        receiver=receiver,
        process=process,
        log=log,
    )


class FaultProxy:
    """An HTTP proxy in front of Klaxon that misbehaves on the requests a script names.

    Each request takes the next action of ``script`` (``"forward"`` once it is used up):
    ``"forward"`` passes it to Klaxon and back; ``"drop"`` passes it to Klaxon, then closes
    the client's connection without answering; ``"503"`` answers 503 itself;
    ``"429"`` answers 429 with ``Retry-After: 1``; ``"stall"`` waits 2 s and closes.
    """

    def __init__(self, upstream: str, script: List[str]) -> None:
        self.script = list(script)
        self.seen: List[Tuple[str, str, bytes, Dict[str, str]]] = []
        self.upstream_answers: List[int] = []
        target = urlsplit(upstream)
        upstream_host = target.hostname or "127.0.0.1"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k: v for k, v in self.headers.items()}
                proxy.seen.append((self.command, self.path, body, headers))
                action = proxy.script.pop(0) if proxy.script else "forward"
                if action in ("503", "429"):
                    payload = json.dumps(
                        {"error": {"code": "unavailable", "message": "injected by the test"}}
                    ).encode()
                    self.send_response(int(action))
                    if action == "429":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if action == "stall":
                    time.sleep(2.0)
                    self.close_connection = True
                    return
                connection = http.client.HTTPConnection(upstream_host, target.port, timeout=10)
                forwarded = {
                    k: v for k, v in headers.items() if k.lower() not in ("host", "connection")
                }
                connection.request(self.command, self.path, body=body or None, headers=forwarded)
                answer = connection.getresponse()
                answer_body = answer.read()
                connection.close()
                proxy.upstream_answers.append(answer.status)
                if action == "drop":
                    self.close_connection = True
                    return  # Klaxon acted; the client never hears about it
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer_body)))
                self.end_headers()
                self.wfile.write(answer_body)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def wait_until(
    probe: Callable[[], Optional[object]], timeout: float = 20.0, interval: float = 0.1
) -> object:
    """Call ``probe`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
