"""Real receivers for alert delivery, on 127.0.0.1 only: a webhook endpoint and an SMTP server."""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers 200, or 500 to the first `fail_first` requests, or never answers while `silent`."""

    url: str
    received: list[Received] = field(default_factory=list)
    fail_first: int = 0
    silent: bool = False
    requests: int = 0
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    port = free_port()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}/hooks/mlgov")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                receiver.requests += 1
                failing = receiver.requests <= receiver.fail_first
                silent = receiver.silent
            if silent:
                receiver.release.wait(30)  # never answers (until the test ends)
                return
            if failing:
                self.send_response(500)
                self.end_headers()
                return
            with lock:
                receiver.received.append(Received(headers=dict(self.headers.items()), body=body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Each message's subject and decoded text parts."""
        found = []
        for envelope in self.messages:
            message = email.message_from_bytes(envelope.content)
            parts = [p.get_payload(decode=True) for p in message.walk() if p.get_content_maintype() == "text"]
            found.append("\n".join([str(message["Subject"]), *(p.decode() for p in parts if isinstance(p, bytes))]))
        return found

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox(port=free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
