"""A real SMTP server for Klaxon's e-mail tests: aiosmtpd, with only the handler written here.

Started by tests/it/support/smtp.rs as

    python smtp_server.py DIR --tls none|starttls|implicit [--cert PEM --key PEM]
                              [--user NAME --password SECRET]

It listens on a free loopback port and prints `listening <port>` once ready. Every message
it accepts is written to DIR/mail/<n>.json: the envelope, the raw message, and what Python's
own e-mail parser makes of it (headers, parts, defects), so the tests check the MIME structure
with an independent parser. Replies can be scripted: each line of DIR/replies (for example
`451 4.3.0 Try again later`) answers the next message instead of accepting it, until
DIR/replies.off exists.

It stops when its standard input closes, so a test that dies leaves no server behind.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.mail = os.path.join(directory, "mail")
        os.makedirs(self.mail, exist_ok=True)
        self.count = 0

    def scripted_reply(self):
        # Written by the test when it drops the queue: a handler that read the queue before
        # the drop would otherwise write the rest of it back.
        if os.path.exists(os.path.join(self.directory, "replies.off")):
            return None
        path = os.path.join(self.directory, "replies")
        try:
            with open(path, encoding="utf-8") as f:
                lines = [line.rstrip("\r\n") for line in f if line.strip()]
        except FileNotFoundError:
            return None
        if not lines:
            return None
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines[1:])
        os.replace(path + ".tmp", path)
        return lines[0]

    async def handle_DATA(self, server, session, envelope):
        reply = self.scripted_reply()
        if reply is not None:
            return reply
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for part in parsed.walk():
            if part.is_multipart():
                continue
            parts.append(
                {
                    "content_type": part.get_content_type(),
                    "charset": part.get_content_charset(),
                    "transfer_encoding": part.get("Content-Transfer-Encoding"),
                    "content": part.get_content(),
                }
            )
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": "%s:%s" % tuple(session.peer[:2]),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "authenticated_as": (
                session.auth_data.login.decode()
                if isinstance(session.auth_data, LoginPassword)
                else None
            ),
            "raw": raw.decode("utf-8", "replace"),
            "content_type": parsed.get_content_type(),
            "headers": [[name, str(value)] for name, value in parsed.items()],
            "parts": parts,
            "defects": [repr(d) for d in parsed.defects]
            + [repr(d) for p in parsed.walk() for d in p.defects],
        }
        self.count += 1
        path = os.path.join(self.mail, f"{self.count:05}.json")
        # Written whole, then renamed: a reader never sees half a message.
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 Ok: queued as klaxon-test-%05d" % self.count


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    context = None
    if args.tls != "none":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    handler = Handler(args.directory)
    options = {"hostname": "klaxon-test-smtp", "ident": "klaxon-test-smtp"}
    if args.user is not None:
        options["authenticator"] = authenticator(args.user, args.password or "")
        options["auth_required"] = True
    if args.tls == "starttls":
        options["tls_context"] = context
        options["require_starttls"] = True
    elif args.tls == "implicit":
        # aiosmtpd only knows of TLS it started itself (STARTTLS); this connection was TLS
        # from the first byte.
        options["auth_require_tls"] = False

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **options),
        host="127.0.0.1",
        port=0,
        ssl=context if args.tls == "implicit" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)

    stop = asyncio.Event()

    def watch_stdin():
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
