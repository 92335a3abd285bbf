"""Submissions by URL, end to end: a local HTTP server, a real worker, the stored verdict.

Loopback addresses are refused by the SSRF guard unless the worker runs with
``ADREVIEW_ALLOW_PRIVATE_URLS=true``; a refused URL is an ``error`` verdict with
``fetch_failed`` at once, never a retry loop.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.worker.test_queue import (  # the real-worker fixtures and helpers
    StartWorker,
    _ads,
    start_worker,
    verdict_counts,
    wait_for,
)
from tests.worker.test_queue_restart import redis_server, settings
from worker.client import submit
from worker.db import Store
from worker.errors import ErrorCode
from worker.settings import Settings

# Fixtures, used by name below. The test's own redis-server keeps other test runs sharing
# the developer's Redis (and flushing its databases) out of the way.
__all__ = ["redis_server", "settings", "start_worker"]


class AdServer:
    """Serves one PNG at ``/ad.png`` on 127.0.0.1 and counts the requests for it."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/ad.png":
                    self.send_error(404)
                    return
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ad.png"


@pytest.fixture
def ad_server() -> Iterator[AdServer]:
    served = AdServer(_ads(1)[0])
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _only_verdict(settings: Settings, submission: str) -> None:
    wait_for(lambda: submission in verdict_counts(settings.database_url), 60, "the verdict")


@pytest.mark.slow
def test_when_private_urls_are_allowed_then_the_worker_fetches_and_reviews_the_url(
    settings: Settings, start_worker: StartWorker, ad_server: AdServer
) -> None:
    submission = submit(ad_server.url, ad_id="by-url", settings=settings)
    start_worker(concurrency=1, ADREVIEW_ALLOW_PRIVATE_URLS="true")
    _only_verdict(settings, submission)
    with Store.open(settings.database_url) as store:
        current = store.current_verdict(submission)
        stored = store.get_submission(submission)
        kept = store.fetched_image(submission)
    assert current is not None
    assert current.verdict.error is None
    assert kept == ad_server.body  # kept for the reviewers, not fetched again
    assert current.verdict.decision.value in {"pass", "review", "reject"}
    assert current.verdict.sha256 == hashlib.sha256(ad_server.body).hexdigest()
    assert stored is not None and stored.status.value == "done" and stored.attempts == 1
    assert stored.source == f"url:{ad_server.url}"
    assert ad_server.requests == 1


@pytest.mark.slow
def test_when_private_urls_are_not_allowed_then_the_verdict_is_fetch_failed_at_once(
    settings: Settings, start_worker: StartWorker, ad_server: AdServer
) -> None:
    submission = submit(ad_server.url, ad_id="refused", settings=settings)
    start_worker(concurrency=1)  # the default: private addresses refused
    _only_verdict(settings, submission)
    with Store.open(settings.database_url) as store:
        current = store.current_verdict(submission)
        stored = store.get_submission(submission)
    assert current is not None and current.verdict.error is not None
    assert current.verdict.decision.value == "error"
    assert current.verdict.error.code is ErrorCode.FETCH_FAILED
    assert "127.0.0.1" in current.verdict.error.message
    assert stored is not None and stored.status.value == "error"
    assert ad_server.requests == 0  # refused before connecting
    with Store.open(settings.database_url) as store:
        assert store.fetched_image(submission) is None
    time.sleep(2.0)  # a retry loop would deliver it again in this time
    with Store.open(settings.database_url) as store:
        again = store.get_submission(submission)
    assert again is not None and again.attempts == 1
    assert verdict_counts(settings.database_url) == {submission: 1}
