"""Malformed broker messages: logged, counted, dead-lettered and dropped, never fatal.

Celery and kombu trust what they pop from Redis. A message that is not JSON, a JSON list
where an object belongs, a body that is not base64 or does not decode to ``[args, kwargs,
embed]``, a header without ``id`` or with ``timelimit: "abc"`` raises inside the worker's
event loop: the worker stops (or reconnects and meets the same message again) and every
message queued behind it waits. Two screens keep such messages away from that code:

1. ``GuardedTransport``, the Redis transport whose channels screen each item ``BRPOP``
   returns before kombu parses it (``screen_envelope``): a JSON object whose
   ``properties`` hold a ``delivery_tag``, a ``delivery_info`` with ``exchange`` and
   ``routing_key``, and a ``body_encoding`` kombu knows; a string ``body`` that decodes
   with that encoding; ``headers`` an object; ``content-type`` and ``content-encoding``
   strings.
2. ``GuardedConsumer``, Celery's consumer, which screens each task message before Celery
   reads it (``screen_task``): protocol 2 headers naming a registered ``task`` and an
   ``id``, every other header Celery reads of the type it expects (``timelimit`` two
   numbers or nulls, ``eta`` and ``expires`` ISO 8601 times, ``retries`` a count, ...), a
   body that decodes to ``[args, kwargs, embed]``, and arguments that bind to the task's
   signature; and a valid ``eta`` at most ``MAX_ETA_SECONDS`` ahead (``far_eta``) and an
   ``expires`` not yet past (``expired``) - a review refused for those two has a readable
   body, so its submission gets an ``invalid_message`` error verdict at once
   (``verdict_for_refused``). Anything that still goes wrong while Celery takes in one
   message is caught as well (``handler_failed``) instead of stopping the worker.

A refused message is logged (one line, with its reason), counted in
``adreview_broker_rejected_total{reason}``, pushed to the dead-letter list ``<queue>.dead``
and dropped. A dead letter is JSON: ``{"queue", "reason", "detail", "at", "message",
"message_chars"}``, the message cut to ``DEAD_LETTER_MESSAGE_CHARS`` characters; the list
keeps the newest ``DEAD_LETTER_MAX`` (``redis-cli LRANGE adreview.dead 0 9`` shows the
last ten). What the task itself can judge - the image reference, the engine name - is
left to it: such a message ends as an ``invalid_message`` or ``unknown_engine`` verdict of
its submission (see ``worker.tasks``).

The worker uses both screens when its broker URL is ``redis://`` or ``rediss://``
(``worker.celery_app.make_celery``).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from celery.utils.time import maybe_iso8601  # type: ignore[import-untyped]
from celery.worker.consumer import Consumer  # type: ignore[import-untyped]
from kombu.transport import redis as kombu_redis
from kombu.utils.json import loads as kombu_loads
from prometheus_client import Counter

log = logging.getLogger(__name__)

#: Suffix of a queue's dead-letter list: ``adreview`` -> ``adreview.dead``.
DEAD_LETTER_SUFFIX = ".dead"
#: Dead letters kept per queue (the oldest are trimmed).
DEAD_LETTER_MAX = 1000
#: Characters of the refused message kept in its dead letter.
DEAD_LETTER_MESSAGE_CHARS = 256 * 1024

# Reasons, the label values of ``adreview_broker_rejected_total``.
#: The item is not JSON at all.
NOT_JSON = "not_json"
#: JSON, but not kombu's message envelope (properties, body, headers).
BAD_ENVELOPE = "bad_envelope"
#: A Celery header is missing or of the wrong type.
BAD_HEADERS = "bad_headers"
#: The body does not decode to ``[args, kwargs, embed]``.
BAD_BODY = "bad_body"
#: No task of that name is registered in this worker.
UNKNOWN_TASK = "unknown_task"
#: The arguments do not fit the task's signature.
BAD_ARGUMENTS = "bad_arguments"
#: Celery failed on a message that passed the screens.
HANDLER_FAILED = "handler_failed"
#: The ``eta`` lies further ahead than ``MAX_ETA_SECONDS``: it would be held (and handed
#: out again every visibility timeout) for that long.
FAR_ETA = "far_eta"
#: The ``expires`` time has passed: Celery would drop it without a word.
EXPIRED = "expired"

#: The furthest ahead an ``eta`` may lie (the workers' own retries wait minutes at most).
MAX_ETA_SECONDS = 3600.0
#: Refusals of a well-formed review message: its submission gets an ``invalid_message``
#: error verdict at once (the message itself was fine to read).
VERDICT_REASONS = frozenset({FAR_ETA, EXPIRED})

REJECTED = Counter(
    "adreview_broker_rejected_total",
    "Broker messages refused as malformed (dead-lettered and dropped), by reason.",
    ["reason"],
)

#: Headers that are optional strings.
STRING_HEADERS = ("lang", "shadow", "root_id", "parent_id", "group", "origin", "argsrepr",
                  "kwargsrepr")
#: Headers that are optional non-negative integers.
COUNT_HEADERS = ("retries", "group_index", "replaced_task_nesting")


#: kombu's JSON decoder (with its object hooks), as the transport runs it on each item.
_kombu_loads = cast(Callable[[str], Any], kombu_loads)


def _text(data: bytes | str) -> str:
    """``data`` as kombu reads it: UTF-8, undecodable bytes replaced."""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


@dataclass(frozen=True)
class Rejection:
    """Why a message was refused: a ``reason`` (a metric label) and a precise ``detail``."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def _kind(value: Any) -> str:
    """The JSON name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def screen_envelope(item: bytes | str) -> Rejection | None:
    """Why kombu could not take ``item`` (as popped from a queue) as a message, or None."""
    try:
        payload = _kombu_loads(_text(item))
    except Exception as exc:  # kombu's loads also runs its own object hooks
        return Rejection(NOT_JSON, f"not JSON ({type(exc).__name__}: {exc})")
    if not isinstance(payload, dict):
        return Rejection(BAD_ENVELOPE, f"a JSON {_kind(payload)}, not an object")
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        return Rejection(BAD_ENVELOPE, f"properties is {_kind(properties)}, not an object")
    tag = properties.get("delivery_tag")
    if not isinstance(tag, str) or not tag:
        return Rejection(BAD_ENVELOPE, f"properties.delivery_tag is {_short(tag)}, "
                         "not a string")
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or not all(
        isinstance(info.get(key), str) for key in ("exchange", "routing_key")
    ):
        return Rejection(BAD_ENVELOPE, "properties.delivery_info needs string exchange and "
                         f"routing_key, not {_short(info)}")
    encoding = properties.get("body_encoding")
    # kombu decodes "base64" (exactly so) and leaves utf-8 (any case) or none as is.
    if encoding and encoding != "base64" and not (
        isinstance(encoding, str) and encoding.lower() == "utf-8"
    ):
        return Rejection(BAD_ENVELOPE, f"unknown body_encoding {_short(encoding)}")
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        return Rejection(BAD_ENVELOPE, f"body is {_kind(body)}, not a string")
    if body and encoding == "base64":
        try:
            base64.b64decode(body.encode())  # as kombu's codec does (not validating)
        except (binascii.Error, ValueError) as exc:
            return Rejection(BAD_ENVELOPE, f"body is not base64 ({exc})")
    headers = payload.get("headers")
    if headers is not None and not isinstance(headers, dict):
        return Rejection(BAD_ENVELOPE, f"headers is {_kind(headers)}, not an object")
    for key in ("content-type", "content-encoding"):
        value = payload.get(key)
        if value is not None and not isinstance(value, str):
            return Rejection(BAD_ENVELOPE, f"{key} is {_kind(value)}, not a string")
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value) and value >= 0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _header_problem(headers: Mapping[str, Any], properties: Mapping[str, Any]) -> str | None:
    """What is wrong with the headers Celery reads (besides ``task``), or None."""
    task_id = headers.get("id")
    if not isinstance(task_id, str) or not task_id:
        return f"header id is {_short(task_id)}, not a task id"
    for key in STRING_HEADERS:
        value = headers.get(key)
        if value is not None and not isinstance(value, str):
            return f"header {key} is {_kind(value)}, not a string"
    for key in COUNT_HEADERS:
        value = headers.get(key)
        if value is not None and not _is_count(value):
            return f"header {key} is {_short(value)}, not a count"
    limits = headers.get("timelimit")
    if limits is not None and limits != [] and not (
        isinstance(limits, list | tuple) and len(limits) == 2
        and all(limit is None or _is_number(limit) for limit in limits)
    ):
        return f"header timelimit is {_short(limits)}, not [hard, soft] seconds or nulls"
    for key in ("eta", "expires"):
        value = headers.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"header {key} is {_kind(value)}, not an ISO 8601 time"
        try:
            maybe_iso8601(value)
        except (AttributeError, ValueError, TypeError, OverflowError) as exc:
            return f"header {key} {_short(value)} is not an ISO 8601 time ({exc})"
    ignore_result = headers.get("ignore_result")
    if ignore_result is not None and not isinstance(ignore_result, bool):
        return f"header ignore_result is {_kind(ignore_result)}, not a boolean"
    stamped = headers.get("stamped_headers")
    if stamped is not None and not isinstance(stamped, list | tuple):
        return f"header stamped_headers is {_kind(stamped)}, not a list"
    stamps = headers.get("stamps")
    if stamps is not None and not isinstance(stamps, dict):
        return f"header stamps is {_kind(stamps)}, not an object"
    for key in ("correlation_id", "reply_to"):
        value = properties.get(key)
        if value is not None and not isinstance(value, str):
            return f"property {key} is {_kind(value)}, not a string"
    priority = properties.get("priority")
    if priority is not None and not _is_count(priority):
        return f"property priority is {_short(priority)}, not a count"
    return None


def _body_problem(payload: Any) -> str | None:
    """What is wrong with a decoded protocol 2 body, or None."""
    if not isinstance(payload, list | tuple) or len(payload) != 3:
        shape = f"a list of {len(payload)}" if isinstance(payload, list | tuple) \
            else f"a {_kind(payload)}"
        return f"the body is {shape}, not [args, kwargs, embed]"
    args, kwargs, embed = payload
    if not isinstance(args, list | tuple):
        return f"args is {_kind(args)}, not a list"
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        return f"kwargs is {_kind(kwargs)}, not an object"
    if embed is not None and not isinstance(embed, dict):
        return f"embed is {_kind(embed)}, not an object"
    for key in ("callbacks", "errbacks", "chain"):
        value = (embed or {}).get(key)
        if value is not None and not isinstance(value, list | tuple):
            return f"embed.{key} is {_kind(value)}, not a list"
    chord = (embed or {}).get("chord")
    if chord is not None and not isinstance(chord, dict):
        return f"embed.chord is {_kind(chord)}, not an object"
    return None


def task_signature(task: Any) -> inspect.Signature | None:
    """The signature a task's arguments must bind to (None when it cannot be read)."""
    try:
        signature = inspect.signature(task.run)
    except (TypeError, ValueError):
        return None
    # Without annotations, so that messages show ``name(a, b, c=None)``.
    return signature.replace(
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=signature.empty)


def screen_task(
    headers: Mapping[str, Any],
    properties: Mapping[str, Any],
    decode: Callable[[], Any],
    signatures: Callable[[str], inspect.Signature | None] | Mapping[str, Any],
    now: datetime | None = None,
) -> Rejection | None:
    """Why Celery could not run this task message, or None.

    ``decode`` returns the decoded body (or raises); ``signatures`` maps each registered
    task name to its signature (None: not checked), or is a function doing so that raises
    ``KeyError`` for names not registered.
    """
    name = headers.get("task")
    if not isinstance(name, str) or not name:
        return Rejection(BAD_HEADERS, f"header task is {_short(name)}, not a task name "
                         "(only Celery's message protocol 2 is accepted)")
    try:
        signature = signatures(name) if callable(signatures) else signatures[name]
    except KeyError:
        return Rejection(UNKNOWN_TASK, f"no task {name!r} is registered here")
    problem = _header_problem(headers, properties)
    if problem is not None:
        return Rejection(BAD_HEADERS, f"{name}: {problem}")
    try:
        payload = decode()
    except Exception as exc:  # any decoder failure: content type, encoding, JSON
        return Rejection(BAD_BODY, f"{name}: the body does not decode "
                         f"({type(exc).__name__}: {exc})")
    problem = _body_problem(payload)
    if problem is not None:
        return Rejection(BAD_BODY, f"{name}: {problem}")
    args, kwargs, _ = payload
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            return Rejection(BAD_ARGUMENTS, f"{name}: the arguments do not fit "
                             f"{name}{signature} ({exc})")
    return _timing_problem(name, headers, now or datetime.now(UTC))


def _aware(moment: datetime) -> datetime:
    """``moment`` with a zone (UTC when it has none, as Celery reads it)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _timing_problem(name: str, headers: Mapping[str, Any], now: datetime) -> Rejection | None:
    """A valid-typed ``eta`` too far ahead, or an ``expires`` already past (both were
    checked to parse by ``_header_problem``)."""
    eta = headers.get("eta")
    if eta is not None:
        ahead = (_aware(maybe_iso8601(eta)) - now).total_seconds()
        if ahead > MAX_ETA_SECONDS:
            return Rejection(FAR_ETA, f"{name}: eta {eta} is {ahead:,.0f} s ahead, over "
                             f"{MAX_ETA_SECONDS:,.0f} s")
    expires = headers.get("expires")
    if expires is not None and _aware(maybe_iso8601(expires)) <= now:
        return Rejection(EXPIRED, f"{name}: expired at {expires}")
    return None


def dead_letter_key(queue: str) -> str:
    """The dead-letter list of ``queue``."""
    return f"{queue}{DEAD_LETTER_SUFFIX}"


def refuse(client: redis.Redis | None, queue: str, message: str, rejection: Rejection) -> None:
    """Log, count and dead-letter (through ``client``, when given) one refused message."""
    REJECTED.labels(rejection.reason).inc()
    key = dead_letter_key(queue)
    if client is None:
        log.error("refused a message on queue %s (%s); dropped", queue, rejection)
        return
    entry = json.dumps({
        "queue": queue,
        "reason": rejection.reason,
        "detail": rejection.detail,
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "message": message[:DEAD_LETTER_MESSAGE_CHARS],
        "message_chars": len(message),
    }, ensure_ascii=False)
    try:
        with client.pipeline() as pipe:
            pipe.lpush(key, entry)
            pipe.ltrim(key, 0, DEAD_LETTER_MAX - 1)
            pipe.execute()
    except redis.RedisError as exc:
        log.error("refused a message on queue %s (%s); dropped, and not dead-lettered: %s",
                  queue, rejection, exc)
        return
    log.error("refused a message on queue %s (%s); moved to %s", queue, rejection, key)


class GuardedChannel(kombu_redis.Channel):
    """kombu's Redis channel, screening every item ``BRPOP`` pops before kombu parses it.

    The screen sits in the client's ``BRPOP`` response callback: a well-formed item goes
    on to kombu unchanged; a refused one is dead-lettered and kombu sees an empty poll.
    """

    #: The queue of the last item popped and passed on (see ``_screen_popped``).
    popped_from: str | None = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        client = super()._create_client(asynchronous)  # type: ignore[no-untyped-call]
        if asynchronous:  # the client that runs BRPOP
            client.set_response_callback("BRPOP", self._screen_popped)
        return client

    def _screen_popped(self, response: Any, **_: Any) -> Any:
        if not response:
            return response
        key, item = response
        queue = _text(key).rsplit(self.sep, 1)[0]
        prefix = self.global_keyprefix or ""
        if prefix and queue.startswith(prefix):
            queue = queue[len(prefix):]
        try:
            rejection = screen_envelope(item)
        except Exception as exc:  # the screen must never be what stops the worker
            rejection = Rejection(BAD_ENVELOPE, f"screening failed ({exc!r})")
        if rejection is None:
            # kombu hands this item to the consumer before it pops another: a task-level
            # refusal of it is filed under the queue it was read from, not under the
            # routing key the message names itself.
            self.popped_from = queue
            return response
        self.refuse(queue, _text(item), rejection)
        return None

    def refuse(self, queue: str, message: str, rejection: Rejection) -> None:
        """Dead-letter ``message`` refused on ``queue`` (see ``refuse``)."""
        with self.conn_or_acquire() as client:
            refuse(client, queue, message, rejection)


class GuardedTransport(kombu_redis.Transport):
    """kombu's Redis transport with ``GuardedChannel`` channels."""

    Channel = GuardedChannel


#: The rule set version recorded on refused messages' verdicts, by rule folder.
_REFUSED_RULESETS: dict[str, str] = {}


def verdict_for_refused(headers: Mapping[str, Any], payload: Any, rejection: Rejection,
                        settings: Any = None) -> bool:
    """Store an ``invalid_message`` error verdict for the submission of a refused review
    message (one without a verdict yet), so that it does not wait for the sweep; True
    when one was stored. Failures are logged: the message is dead-lettered anyway."""
    from worker.celery_app import REVIEW_TASK

    if headers.get("task") != REVIEW_TASK:
        return False
    args, kwargs, _ = payload
    submission = args[0] if args else kwargs.get("submission_id")
    engine = args[1] if len(args) > 1 else kwargs.get("engine")
    industry = kwargs.get("industry")
    if not isinstance(submission, str):
        return False
    try:
        from rules import load_ruleset
        from worker.db import Store
        from worker.errors import ErrorCode, RuleError
        from worker.settings import get_settings
        from worker.tasks import UNUSABLE_RULESET
        from worker.verdict import Verdict, VerdictError

        settings = settings or get_settings()
        version = _REFUSED_RULESETS.get(str(settings.rules_dir))
        if version is None:  # once per process: a flood of refusals loads nothing more
            try:
                version = load_ruleset(settings.rules_dir).version
            except RuleError:
                version = UNUSABLE_RULESET
            _REFUSED_RULESETS[str(settings.rules_dir)] = version
        verdict = Verdict.failed(
            VerdictError(ErrorCode.INVALID_MESSAGE,
                         f"the queue message was refused ({rejection.reason}): "
                         f"{rejection.detail}"),
            ruleset=version, engine=engine[:64] if isinstance(engine, str) else "unknown",
            engine_version="", sha256=None,
            industry=industry if isinstance(industry, str) else None)
        with Store.open(settings.database_url, migrate=False) as store:
            if store.current_verdict(submission) is not None:
                return False
            store.record_verdict(submission, verdict)
    except Exception as exc:  # the message is dead-lettered; the sweep remains
        log.error("submission %s: no error verdict for its refused message: %s: %s",
                  submission, type(exc).__name__, exc)
        return False
    log.error("submission %s: error verdict stored for its refused message (%s)", submission,
              rejection.reason)
    return True


class GuardedConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, screening each task message (``screen_task``) before Celery
    reads it, and catching what still goes wrong while it takes one in."""

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], None]:
        """Celery's handler of task messages, wrapped in the screen."""
        handle = super().create_task_handler(*args, **kwargs)
        tasks = self.app.tasks
        known: dict[str, inspect.Signature | None] = {}
        # kombu counts KeyError among the Redis transport's connection errors; a KeyError
        # raised for one message is that message's fault, not the connection's.
        connection_errors = tuple(
            kind for kind in self.connection_errors if not issubclass(kind, LookupError)
        )

        def signature(name: str) -> inspect.Signature | None:
            if name not in known:
                known[name] = task_signature(tasks[name])
            return known[name]

        def on_task_received(message: Any) -> None:
            try:
                rejection = screen_task(message.headers or {}, message.properties or {},
                                        lambda: message.payload, signature)
            except Exception as exc:  # the screen must never be what stops the worker
                rejection = Rejection(HANDLER_FAILED, f"screening failed ({exc!r})")
            if rejection is not None:
                self.refuse_message(message, rejection)
                if rejection.reason in VERDICT_REASONS:
                    verdict_for_refused(message.headers or {}, message.payload, rejection)
                return
            try:
                handle(message)
            except connection_errors:
                raise
            except Exception as exc:
                log.exception("taking in a task message failed")
                self.refuse_message(
                    message, Rejection(HANDLER_FAILED, f"{type(exc).__name__}: {exc}"))

        return on_task_received

    def on_decode_error(self, message: Any, exc: BaseException) -> None:
        """A message kombu could not decode: refused like the others."""
        self.refuse_message(message, Rejection(BAD_BODY, f"cannot be decoded "
                                               f"({type(exc).__name__}: {exc})"))

    def refuse_message(self, message: Any, rejection: Rejection) -> None:
        """Log, count, dead-letter and acknowledge (drop) one task message, under the
        queue it was read from (its own routing key only when that is unknown)."""
        channel = getattr(message, "channel", None)
        queue = getattr(channel, "popped_from", None) or str(
            (message.delivery_info or {}).get("routing_key") or "unknown")
        raw = getattr(message, "_raw", None)
        try:
            text = json.dumps(raw) if raw is not None else _text(message.body)
        except (TypeError, ValueError):
            text = repr(raw)
        if isinstance(channel, GuardedChannel):
            channel.refuse(queue, text, rejection)
        else:
            refuse(None, queue, text, rejection)
        if not message.acknowledged:
            message.ack_log_error(log, self.connection_errors)


__all__ = [
    "BAD_ARGUMENTS",
    "BAD_BODY",
    "BAD_ENVELOPE",
    "BAD_HEADERS",
    "DEAD_LETTER_MAX",
    "EXPIRED",
    "FAR_ETA",
    "HANDLER_FAILED",
    "MAX_ETA_SECONDS",
    "NOT_JSON",
    "REJECTED",
    "UNKNOWN_TASK",
    "VERDICT_REASONS",
    "GuardedChannel",
    "GuardedConsumer",
    "GuardedTransport",
    "Rejection",
    "dead_letter_key",
    "refuse",
    "screen_envelope",
    "screen_task",
    "verdict_for_refused",
]
