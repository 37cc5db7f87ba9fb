"""A real HTTP receiver on 127.0.0.1 (port 0) in a thread: answers with a script of
statuses and keeps every request it got, for the webhook tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """`answers`: (status, headers) per request in order; the last one repeats."""

    url: str
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    """Seconds each answer waits (longer than the sender's timeout: a timed-out try)."""

    def answer(self, *statuses: int | tuple[int, dict[str, str]]) -> None:
        self.answers = [s if isinstance(s, tuple) else (s, {}) for s in statuses]


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Start a receiver, yield it, and shut it down."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                n = len(state.received)
                state.received.append(Received(self.path, dict(self.headers.items()), body))
                status, headers = state.answers[min(n, len(state.answers) - 1)]
            time.sleep(state.delay)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # quiet tests
            return

    lock = threading.Lock()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/leadml"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
