"""The screens of ``worker.broker_guard``, message by message.

The well-formed message every case starts from is a real one: sent by the producer
(``worker.client.send``) to a queue on the test Redis and read back as Redis holds it.
Each case breaks one thing and names the reason it must be refused for; what passes the
screens must be what kombu and Celery can take in (the end-to-end tests with a real
worker are in ``test_poison_messages.py``).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kombu.serialization import loads as kombu_decode

from tests.worker.conftest import redis_or_skip
from worker.broker_guard import (
    BAD_ARGUMENTS,
    BAD_BODY,
    BAD_ENVELOPE,
    BAD_HEADERS,
    EXPIRED,
    FAR_ETA,
    NOT_JSON,
    UNKNOWN_TASK,
    Rejection,
    dead_letter_key,
    refuse,
    screen_envelope,
    screen_task,
    task_signature,
)
from worker.celery_app import app
from worker.client import send
from worker.settings import Settings

REDIS_URL = os.environ.get("ADREVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
#: An eta a retry could carry: minutes ahead (well within ``MAX_ETA_SECONDS``).
SOON = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
Envelope = dict[str, Any]


@pytest.fixture(scope="module")
def envelope() -> Iterator[Envelope]:
    """A review message exactly as the producer puts it on Redis."""
    client = redis_or_skip(REDIS_URL)
    queue = f"adreview-guard-{uuid.uuid4().hex[:8]}"
    try:
        send("sub-1", {"inline": base64.b64encode(b"png").decode()}, "rapidocr",
             Settings(redis_url=REDIS_URL, queue=queue))
        (raw,) = client.lrange(queue, 0, -1)
        yield json.loads(raw)
    finally:
        client.delete(queue)
        client.close()


def _signature(name: str) -> Any:
    import worker.tasks  # noqa: F401 - registers the tasks

    return task_signature(app.tasks[name])


def screen(message: Envelope | str) -> Rejection | None:
    """Both screens, as a worker runs them on one item popped from a queue."""
    text = message if isinstance(message, str) else json.dumps(message)
    refused = screen_envelope(text.encode())
    if refused is not None:
        return refused
    parsed = json.loads(text)
    body = parsed.get("body") or ""
    if parsed["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)

    def decode() -> Any:
        return kombu_decode(body, parsed.get("content-type"), parsed.get("content-encoding"),
                            accept={"application/json"})

    return screen_task(parsed.get("headers") or {}, parsed["properties"], decode, _signature)


def _body(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _with(envelope: Envelope, change: Callable[[Envelope], None]) -> Envelope:
    changed = copy.deepcopy(envelope)
    change(changed)
    return changed


def test_a_message_from_the_producer_passes_both_screens(envelope: Envelope) -> None:
    assert screen(envelope) is None
    assert envelope["headers"]["task"] == "adreview.review"


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        ("not json", NOT_JSON, "not JSON"),
        ("\udcff\udcfe{", NOT_JSON, "not JSON"),
        ("[1, 2, 3]", BAD_ENVELOPE, "a JSON list, not an object"),
        ("42", BAD_ENVELOPE, "a JSON number"),
        ("null", BAD_ENVELOPE, "a JSON null"),
        ('"text"', BAD_ENVELOPE, "a JSON string"),
        ("{}", BAD_ENVELOPE, "properties is null"),
    ],
)
def test_when_the_item_is_not_an_envelope_then_it_is_refused(
    raw: str, reason: str, detail: str
) -> None:
    refused = screen_envelope(raw.encode(errors="surrogateescape"))
    assert refused is not None
    assert (refused.reason, detail in refused.detail) == (reason, True), refused


BROKEN_ENVELOPES: dict[str, tuple[Callable[[Envelope], None], str, str]] = {
    "no properties": (lambda m: m.pop("properties"), BAD_ENVELOPE, "properties"),
    "no delivery tag": (lambda m: m["properties"].pop("delivery_tag"), BAD_ENVELOPE,
                        "delivery_tag"),
    "no delivery info": (lambda m: m["properties"].pop("delivery_info"), BAD_ENVELOPE,
                         "delivery_info"),
    "unknown body encoding": (lambda m: m["properties"].update(body_encoding="rot13"),
                              BAD_ENVELOPE, "body_encoding"),
    "body not base64": (lambda m: m.update(body="!!not base64!!"), BAD_ENVELOPE,
                        "not base64"),
    "body a number": (lambda m: m.update(body=5), BAD_ENVELOPE, "body is number"),
    "headers a list": (lambda m: m.update(headers=["task"]), BAD_ENVELOPE, "headers is list"),
    "content type a list": (lambda m: m.update({"content-type": ["json"]}), BAD_ENVELOPE,
                            "content-type"),
    "body base64 of a string": (lambda m: m.update(body=_body("hello")), BAD_BODY,
                                "a string, not [args, kwargs, embed]"),
    "body of two items": (lambda m: m.update(body=_body([[], {}])), BAD_BODY,
                          "a list of 2"),
    "kwargs a list": (lambda m: m.update(body=_body([["s", "e", {}], [], None])), BAD_BODY,
                      "kwargs is list"),
    "embed a string": (lambda m: m.update(body=_body([["s", "e", {}], {}, "x"])), BAD_BODY,
                       "embed is string"),
    "body not JSON": (lambda m: m.update(body=base64.b64encode(b"{oops").decode()),
                      BAD_BODY, "does not decode"),
    "pickle content type": (lambda m: m.update({"content-type": "application/x-python-"
                                                "serialize"}), BAD_BODY, "does not decode"),
    "no id": (lambda m: m["headers"].pop("id"), BAD_HEADERS, "header id"),
    "id a number": (lambda m: m["headers"].update(id=7), BAD_HEADERS, "header id"),
    "timelimit a string": (lambda m: m["headers"].update(timelimit="abc"), BAD_HEADERS,
                           "timelimit"),
    "timelimit with a string": (lambda m: m["headers"].update(timelimit=[10, "x"]),
                                BAD_HEADERS, "timelimit"),
    "timelimit of three": (lambda m: m["headers"].update(timelimit=[1, 2, 3]), BAD_HEADERS,
                           "timelimit"),
    "eta not a time": (lambda m: m["headers"].update(eta="tomorrow"), BAD_HEADERS,
                       "header eta"),
    "expires a number": (lambda m: m["headers"].update(expires=5), BAD_HEADERS,
                         "header expires"),
    "retries negative": (lambda m: m["headers"].update(retries=-1), BAD_HEADERS,
                         "header retries"),
    "retries a string": (lambda m: m["headers"].update(retries="1"), BAD_HEADERS,
                         "header retries"),
    "shadow a list": (lambda m: m["headers"].update(shadow=[]), BAD_HEADERS, "header shadow"),
    "reply_to a number": (lambda m: m["properties"].update(reply_to=1), BAD_HEADERS,
                          "reply_to"),
    "no task header": (lambda m: m["headers"].pop("task"), BAD_HEADERS, "protocol 2"),
    "headers null": (lambda m: m.update(headers=None), BAD_HEADERS, "protocol 2"),
    "unknown task": (lambda m: m["headers"].update(task="adreview.nope"), UNKNOWN_TASK,
                     "adreview.nope"),
    "two arguments": (lambda m: m.update(body=_body([["s", "e"], {}, None])), BAD_ARGUMENTS,
                      "missing a required argument: 'image'"),
    "unknown keyword": (lambda m: m.update(body=_body([["s", "e", {}], {"bogus": 1}, None])),
                        BAD_ARGUMENTS, "bogus"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ENVELOPES))
def test_when_one_part_of_the_message_is_broken_then_it_is_refused_with_its_reason(
    envelope: Envelope, case: str
) -> None:
    change, reason, detail = BROKEN_ENVELOPES[case]
    refused = screen(_with(envelope, change))
    assert refused is not None, case
    assert refused.reason == reason, refused
    assert detail in refused.detail, refused


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["headers"].update(timelimit=[30, 20.5]),
        lambda m: m["headers"].update(timelimit=None),
        lambda m: m["headers"].update(eta=SOON, retries=2),
        lambda m: m.update(body=_body([["s", "e", "not a ref"], {}, None])),
        lambda m: m.update(body=_body([["s"], {"engine": "e", "image": {}, "industry": "x"},
                                       None])),
    ],
    ids=["limits", "no limits", "eta", "odd image ref", "keywords"],
)
def test_what_celery_can_take_in_passes_even_when_the_task_will_refuse_it(
    envelope: Envelope, change: Callable[[Envelope], None]
) -> None:
    # Image references and engine names are the task's to judge (an error verdict).
    assert screen(_with(envelope, change)) is None


def test_a_refused_message_is_dead_lettered_with_its_reason_and_counted() -> None:
    from prometheus_client import REGISTRY

    client = redis_or_skip(REDIS_URL)
    queue = f"adreview-guard-{uuid.uuid4().hex[:8]}"
    before = REGISTRY.get_sample_value("adreview_broker_rejected_total",
                                       {"reason": NOT_JSON}) or 0.0
    try:
        refuse(client, queue, "not json", Rejection(NOT_JSON, "not JSON (...)"))
        (entry,) = client.lrange(dead_letter_key(queue), 0, -1)
        letter = json.loads(entry)
        assert letter["queue"] == queue
        assert (letter["reason"], letter["message"], letter["message_chars"]) == (
            NOT_JSON, "not json", 8)
        assert REGISTRY.get_sample_value("adreview_broker_rejected_total",
                                         {"reason": NOT_JSON}) == before + 1
    finally:
        client.delete(dead_letter_key(queue))
        client.close()


def test_the_dead_letter_list_keeps_the_newest_entries_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker import broker_guard

    monkeypatch.setattr(broker_guard, "DEAD_LETTER_MAX", 3)
    client = redis_or_skip(REDIS_URL)
    queue = f"adreview-guard-{uuid.uuid4().hex[:8]}"
    try:
        for n in range(5):
            refuse(client, queue, f"junk {n}", Rejection(NOT_JSON, "x"))
        kept = [json.loads(e)["message"] for e in client.lrange(dead_letter_key(queue), 0, -1)]
        assert kept == ["junk 4", "junk 3", "junk 2"]
    finally:
        client.delete(dead_letter_key(queue))
        client.close()


@pytest.mark.parametrize(
    ("change", "reason", "detail"),
    [
        (lambda m: m["headers"].update(eta="2999-01-01T00:00:00+00:00"), FAR_ETA, "s ahead"),
        (lambda m: m["headers"].update(eta=(datetime.now(UTC) + timedelta(hours=2))
                                       .isoformat()), FAR_ETA, "s ahead, over 3,600 s"),
        (lambda m: m["headers"].update(expires="2001-01-01T00:00:00"), EXPIRED,
         "expired at 2001-01-01T00:00:00"),
    ],
    ids=["eta in 2999", "eta in two hours", "expired"],
)
def test_a_valid_typed_but_far_eta_or_a_past_expiry_is_refused(
    envelope: Envelope, change: Callable[[Envelope], None], reason: str, detail: str
) -> None:
    message = copy.deepcopy(envelope)
    change(message)
    refused = screen(message)
    assert refused is not None and refused.reason == reason, refused
    assert detail in refused.detail

