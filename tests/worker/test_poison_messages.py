"""Malformed messages on the broker, end to end: a real Redis, real worker processes.

Whatever lands on a review queue - not JSON, a JSON list, a body that is not base64 or
not ``[args, kwargs, embed]``, a header without ``id`` or with ``timelimit: "abc"``, a
task nobody registered, arguments that do not fit - is logged, counted in
``adreview_broker_rejected_total``, moved to ``<queue>.dead`` and dropped; the worker
keeps running and the valid submissions queued behind it get their verdicts. A worker
whose database cannot be opened does not start: it exits non-zero with one line.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.worker.test_queue import (
    REPO,
    StartWorker,
    _ads,
    _env,
    kill_group,
    start_worker,
    verdict_counts,
    wait_for,
)
from tests.worker.test_queue_restart import RedisServer, free_port, redis_server, settings
from worker.broker_guard import dead_letter_key
from worker.client import send, submit
from worker.db import Store
from worker.settings import Settings
from worker.startup import EXIT_CONFIG, EXIT_UNAVAILABLE

__all__ = ["redis_server", "settings", "start_worker"]  # fixtures, used by name below

Envelope = dict[str, Any]


@pytest.fixture
def broker(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the test's own Redis."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def _template(settings: Settings, broker: redis.Redis) -> Envelope:
    """A well-formed review message, as the producer puts it on Redis."""
    scratch = settings.model_copy(update={"queue": f"scratch-{uuid.uuid4().hex[:6]}"})
    send("no-such-submission", {"inline": base64.b64encode(b"x").decode()}, "rapidocr",
         scratch)
    (raw,) = broker.lrange(scratch.queue, 0, -1)
    broker.delete(scratch.queue)
    envelope: Envelope = json.loads(raw)
    envelope["properties"]["delivery_info"]["routing_key"] = settings.queue
    return envelope


def _changed(envelope: Envelope, change: Callable[[Envelope], Any]) -> str:
    copy: Envelope = json.loads(json.dumps(envelope))
    change(copy)
    return json.dumps(copy)


def _body(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def poison(envelope: Envelope) -> list[tuple[str, str]]:
    """(raw message, the reason it must be refused for), the issue's cases first."""
    return [
        ("not json", "not_json"),
        (json.dumps([envelope]), "bad_envelope"),
        (_changed(envelope, lambda m: m.update(body="%%% not base64 %%%")), "bad_envelope"),
        (_changed(envelope, lambda m: m.update(body=base64.b64encode(b'"hello"').decode())),
         "bad_body"),
        (_changed(envelope, lambda m: m["headers"].update(timelimit="abc")), "bad_headers"),
        (_changed(envelope, lambda m: m["headers"].pop("id")), "bad_headers"),
        (_changed(envelope, lambda m: m["headers"].update(task="adreview.nope")),
         "unknown_task"),
        (_changed(envelope, lambda m: m.update(body=_body([["x"], {}, None]))),
         "bad_arguments"),
        (_changed(envelope, lambda m: m["headers"].update(eta="soon")), "bad_headers"),
        (_changed(envelope, lambda m: m.update({"content-type": "application/x-python-"
                                                "serialize"})), "bad_body"),
        (_changed(envelope, lambda m: m["properties"].pop("delivery_tag")), "bad_envelope"),
    ]


def _scrape(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.TransportError:
        return None
    return response.text if response.status_code == 200 else None


def rejected(text: str) -> dict[str, float]:
    """``adreview_broker_rejected_total`` by reason, from a scrape."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith('adreview_broker_rejected_total{reason="'):
            reason = line.split('"')[1]
            found[reason] = float(line.split()[-1])
    return found


@pytest.mark.slow
def test_malformed_messages_are_dead_lettered_and_the_submissions_behind_them_reviewed(
    settings: Settings, broker: redis.Redis, tmp_path: Path
) -> None:
    envelope = _template(settings, broker)
    cases = poison(envelope)
    half = len(cases) // 2
    ads = _ads(3)
    # Poison first, then a valid submission, more poison, two more valid ones.
    for raw, _ in cases[:half]:
        broker.lpush(settings.queue, raw)
    ids = [submit(ads[0], settings=settings)]
    for raw, _ in cases[half:]:
        broker.lpush(settings.queue, raw)
    ids += [submit(data, settings=settings) for data in ads[1:]]
    assert broker.llen(settings.queue) == len(cases) + 3

    port = free_port()
    log_path = tmp_path / "worker.log"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    log = open(log_path, "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "worker", "--pool", "prefork", "--concurrency", "1",
         "--hostname", f"p-{uuid.uuid4().hex[:6]}@%h", "--metrics-port", str(port)],
        cwd=REPO, env=_env(settings, TMPDIR=str(scratch)), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    try:
        wait_for(lambda: len(verdict_counts(settings.database_url)) == 3, 120,
                 "the 3 valid submissions' verdicts", interval=0.5)
        assert worker.poll() is None, log_path.read_text()
        assert verdict_counts(settings.database_url) == dict.fromkeys(ids, 1)
        with Store.open(settings.database_url) as store:
            verdicts = [store.current_verdict(i) for i in ids]
        assert all(v is not None and v.verdict.error is None for v in verdicts)

        # Every malformed message was dead-lettered once, with its reason, and dropped.
        letters = [json.loads(e) for e in broker.lrange(dead_letter_key(settings.queue), 0, -1)]
        assert Counter(d["reason"] for d in letters) == Counter(r for _, r in cases), letters
        assert {d["message"] for d in letters} == {raw for raw, _ in cases}
        assert all(d["queue"] == settings.queue and d["detail"] for d in letters)
        assert broker.llen(settings.queue) == 0
        assert broker.hlen("unacked") == 0  # nothing left to be restored on a restart

        url = f"http://127.0.0.1:{port}/metrics"
        expected = {reason: float(n) for reason, n in Counter(r for _, r in cases).items()}
        wait_for(lambda: rejected(_scrape(url) or "") == expected, 20,
                 f"adreview_broker_rejected_total == {expected}")

        text = log_path.read_text()
        assert text.count("refused a message on queue") == len(cases)
        assert "Unrecoverable error" not in text
        assert "Connection to broker lost" not in text

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            kill_group(worker)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["-m", "worker.cli", "worker", "--pool", "prefork", "--concurrency", "2"],
        ["-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "prefork",
         "--concurrency", "2"],
    ],
    ids=["adreview worker", "celery worker"],
)
def test_when_the_database_cannot_be_opened_then_the_worker_exits_non_zero_in_one_line(
    settings: Settings, tmp_path: Path, command: list[str]
) -> None:
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/test"
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, *command, "--hostname", f"d-{uuid.uuid4().hex[:6]}@%h"],
        cwd=REPO, env=_env(settings, ADREVIEW_DATABASE_URL=unreachable), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    try:
        assert worker.wait(timeout=60) == EXIT_UNAVAILABLE
    finally:
        if worker.poll() is None:
            kill_group(worker)
    text = log_path.read_text()
    assert text.count("worker not started: the database is unavailable") == 1, text
    assert "127.0.0.1:1" in text
    assert "Traceback" not in text
    assert "preloading the worker failed" not in text
    assert " ready." not in text


def test_when_the_database_url_is_unusable_then_the_worker_exits_with_ex_config(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    worker = start_worker(concurrency=1, ADREVIEW_DATABASE_URL="mysql://nobody@nowhere/db")
    assert worker.wait(timeout=60) == EXIT_CONFIG
    text = (tmp_path / "worker-0.log").read_text()
    assert text.count("worker not started: the database cannot be used") == 1, text
    assert "Traceback" not in text
