"""Signed verdict callbacks against a real local receiver (an http.server thread)."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from worker.api.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookError,
    deliver_webhook,
    sign,
    verify_signature,
)
from worker.settings import Settings

SECRET = "s3cret-for-tests"  # noqa: S105 - a test fixture
LOCAL = [ipaddress.ip_network("127.0.0.1/32")]


class Receiver:
    """A local HTTP server answering POSTs with the given statuses in turn (then 200).

    ``requests`` records (headers, body, status answered) of every POST.
    """

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append((dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def count(self) -> int:
        """POSTs received so far."""
        with self.lock:
            return len(self.requests)


@pytest.fixture
def receiver_factory() -> Iterator[type[Receiver]]:
    started: list[Receiver] = []

    class Started(Receiver):
        def __init__(self, statuses: list[int]) -> None:
            super().__init__(statuses)
            self.thread.start()
            started.append(self)

    yield Started
    for receiver in started:
        receiver.server.shutdown()
        receiver.server.server_close()


PAYLOAD = {"event": "verdict", "submission": "abc", "verdict": {"decision": "reject"}}


def test_a_failing_receiver_is_retried_until_it_accepts_and_every_try_is_signed(
    receiver_factory: type[Receiver],
) -> None:
    receiver = receiver_factory([500, 503])
    delivery = deliver_webhook(receiver.url, PAYLOAD, SECRET, Settings(),
                               allowed_networks=LOCAL, backoff=0.01)
    assert (delivery.status, delivery.attempts) == (200, 3)
    assert len(receiver.requests) == 3
    for headers, body, _ in receiver.requests:
        assert verify_signature(body, headers, SECRET)
        assert not verify_signature(body, headers, "another secret")
        assert not verify_signature(body + b" ", headers, SECRET)
        assert headers["Content-Type"] == "application/json"
        assert b'"decision":"reject"' in body


def test_the_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign(b"{}", SECRET, 1700000000) == f"sha256={expected}"
    headers = {SIGNATURE_HEADER: sign(b"{}", SECRET, 1700000000),
               TIMESTAMP_HEADER: "1700000000"}
    assert verify_signature(b"{}", headers, SECRET, now=1700000100)
    assert not verify_signature(b"{}", headers, SECRET, now=1700000000 + 3600)  # replayed


def test_when_every_attempt_fails_then_webhook_error_counts_them(
    receiver_factory: type[Receiver],
) -> None:
    receiver = receiver_factory([500] * 10)
    with pytest.raises(WebhookError, match="HTTP 500") as caught:
        deliver_webhook(receiver.url, PAYLOAD, SECRET, Settings(), allowed_networks=LOCAL,
                        attempts=3, backoff=0.01)
    assert (caught.value.attempts, caught.value.status) == (3, 500)
    assert len(receiver.requests) == 3


def test_a_client_error_is_final_and_not_retried(receiver_factory: type[Receiver]) -> None:
    receiver = receiver_factory([410])
    with pytest.raises(WebhookError, match="not retried"):
        deliver_webhook(receiver.url, PAYLOAD, SECRET, Settings(), allowed_networks=LOCAL,
                        backoff=0.01)
    assert len(receiver.requests) == 1


def test_internal_targets_are_refused_unless_allowed(receiver_factory: type[Receiver]) -> None:
    receiver = receiver_factory([])
    with pytest.raises(WebhookError, match="loopback"):
        deliver_webhook(receiver.url, PAYLOAD, SECRET, Settings(), backoff=0.01)
    for url in ["http://169.254.169.254/latest/meta-data", "http://10.0.0.5/hook",
                "http://[::ffff:127.0.0.1]/hook", "http://0x7f.1/hook"]:
        with pytest.raises(WebhookError, match="refused"):
            deliver_webhook(url, PAYLOAD, SECRET, Settings(), backoff=0.01)
    with pytest.raises(WebhookError, match="http"):
        deliver_webhook("file:///etc/passwd", PAYLOAD, SECRET, Settings())
    assert receiver.requests == []
    allowed = Settings(allow_private_urls=True)
    assert deliver_webhook(receiver.url, PAYLOAD, SECRET, allowed).attempts == 1


def test_a_dead_receiver_is_retried_with_growing_delays() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(WebhookError, match="Connect") as caught:
        deliver_webhook(f"http://127.0.0.1:{port}/hook", PAYLOAD, SECRET, Settings(),
                        allowed_networks=LOCAL, attempts=3, backoff=0.1)
    assert caught.value.attempts == 3
    assert time.monotonic() - started >= 0.1 + 0.2  # backoff doubles
