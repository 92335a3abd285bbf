"""Producers' side of the queue: store a submission, then send it to the workers.

``submit(image)`` writes the submission row first (status ``queued``), in the same
transaction as its row in the send outbox, and only then sends the message and takes it
out of the outbox, so a submission is never lost: if the broker is down (or the producer
dies in between), ``BrokerUnavailable`` says so and the workers' relay
(``worker.relay``) sends it within seconds of the broker answering again.

An image travels in one of three forms (its *reference*, kept in the submission's
``metadata["image_ref"]`` so that it can be sent again):

- ``{"url": "https://..."}`` - fetched by the worker (``worker.fetch``);
- ``{"path": "/shared/ads/x.jpg"}`` - a file under ``settings.shared_root``, which the
  workers see at the same place;
- ``{"inline": "<base64>"}`` - the bytes themselves, up to ``settings.inline_max_bytes``.
  They are also kept base64-encoded in the submission's metadata: the database then holds
  the only copy needed to send the image again. Larger images must go by path or URL.

A submission may declare the ad's ``industry`` (an id the rule set declares; rules
limited to or exempt in industries then apply accordingly). It is checked against the
active rule set before anything is stored, kept in the submission row and carried by
the message as the keyword argument ``industry`` (left out when there is none, so that
messages look as they always did).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from worker.errors import AdreviewError, ConfigError, EngineNotFound, ErrorCode, ImageError
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from celery import Celery  # type: ignore[import-untyped]

    from rules import RuleSet
    from rules.reload import ReloadingRuleSet
    from worker.db import Store, StoredSubmission

log = logging.getLogger(__name__)

#: An image reference as carried in a message: exactly one of url, path, inline.
ImageRef = dict[str, str]
#: Metadata keys the queue keeps for itself.
RESERVED_METADATA = ("image_ref", "engine", "priority")
#: Message priorities on Redis: 0 (the default) is served first, 9 last. kombu keeps four
#: bands (0-2, 3-5, 6-8, 9); within a band, messages keep their order.
PRIORITY_MIN, PRIORITY_MAX = 0, 9


class BrokerUnavailable(AdreviewError):
    """The message could not be sent: the broker is unreachable.

    The submission is stored (``submission_id``) and stays in the send outbox: the
    workers' relay (``worker.relay``) sends it once the broker answers again. The
    message names no address; ``reason`` (the driver's words, which may) is for the log.
    """

    def __init__(self, submission_id: str, reason: str) -> None:
        self.submission_id = submission_id
        self.reason = reason
        super().__init__(
            f"submission {submission_id} is stored but could not be queued (the broker "
            "is unreachable); the workers send it once the broker answers again (or "
            "`adreview requeue --stale 0`)"
        )


def is_url(value: str) -> bool:
    """True for http(s) URLs, which travel by reference."""
    return value.startswith(("http://", "https://"))


def under_root(path: Path, root: Path) -> Path | None:
    """``path`` resolved (symlinks followed) if it lies under ``root``, else None."""
    resolved = path.resolve()
    base = root.resolve()
    return resolved if resolved == base or resolved.is_relative_to(base) else None


#: The forms an image reference takes.
IMAGE_REF_KINDS = ("inline", "path", "url")


def image_ref_problem(ref: object) -> str | None:
    """What is wrong with an image reference taken from a message, or None."""
    if not isinstance(ref, dict):
        return f"the image reference is {type(ref).__name__}, not an object"
    kinds = [kind for kind in IMAGE_REF_KINDS if kind in ref]
    if len(kinds) != 1 or len(ref) != 1:
        return (f"the image reference has keys {sorted(map(str, ref))}; it needs exactly "
                f"one of {', '.join(IMAGE_REF_KINDS)}")
    value = ref[kinds[0]]
    if not isinstance(value, str):
        return f"the image reference's {kinds[0]} is {type(value).__name__}, not a string"
    return None


def check_engine(name: str) -> None:
    """Raise ``EngineNotFound`` (listing the known engines) unless ``name`` is one. The
    producer checks only the name: the engine itself runs where the workers are."""
    from models.registry import ENGINES

    if name not in ENGINES:
        raise EngineNotFound(name, list(ENGINES))


def load_image(ref: ImageRef, settings: Settings) -> bytes:
    """The bytes an image reference points at (in the worker). Raises ``ImageError``
    (``invalid_message`` for a reference that is not one of the three forms)."""
    problem = image_ref_problem(ref)
    if problem is not None:
        raise ImageError(ErrorCode.INVALID_MESSAGE, problem)
    if "inline" in ref:
        try:
            data = base64.b64decode(ref["inline"], validate=True)
        except (binascii.Error, ValueError):
            raise ImageError(ErrorCode.INVALID_IMAGE, "inline image is not valid base64") \
                from None
        if len(data) > settings.inline_max_bytes:
            raise ImageError(ErrorCode.IMAGE_TOO_LARGE,
                             f"inline image is {len(data):,} bytes; the limit is "
                             f"{settings.inline_max_bytes:,}")
        return data
    if "path" in ref:
        return _read_shared(ref["path"], settings)
    if "url" in ref:
        from worker import fetch  # written alongside; imported only when a URL arrives

        fetched: bytes = fetch.fetch_image(ref["url"], settings)
        return fetched
    raise ImageError(ErrorCode.INVALID_IMAGE, f"unknown image reference {sorted(ref)}")


def _read_shared(given: str, settings: Settings) -> bytes:
    if settings.shared_root is None:
        raise ImageError(ErrorCode.FETCH_FAILED, "path submissions are off (no shared_root)")
    try:
        path = under_root(Path(given), settings.shared_root)
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte, a symlink loop
        raise ImageError(ErrorCode.FETCH_FAILED, f"cannot resolve {given!r}: {exc}") from None
    if path is None:
        raise ImageError(ErrorCode.FETCH_FAILED,
                         f"{given} is not under the shared folder {settings.shared_root}")
    try:
        size = path.stat().st_size
        if size > settings.max_image_bytes:
            raise ImageError(ErrorCode.IMAGE_TOO_LARGE,
                             f"{given} is {size:,} bytes; the limit is "
                             f"{settings.max_image_bytes:,}")
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(ErrorCode.FETCH_FAILED,
                         f"cannot read {given}: {exc.strerror or exc}") from None


def without_credentials(url: str) -> str:
    """``url`` without a user name or password (``https://user:pw@host/a`` becomes
    ``https://host/a``): image URLs are stored, sent on the queue and shown to reviewers,
    so credentials never travel with them (use a signed query string instead)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def image_ref(image: bytes | str | Path, settings: Settings) -> tuple[ImageRef, str, bytes | None]:
    """How ``image`` travels: (reference, submission source, bytes when read here)."""
    if isinstance(image, bytes):
        return _inline(image, settings, "inline"), "inline", image
    if isinstance(image, str) and is_url(image):
        url = without_credentials(image)
        return {"url": url}, f"url:{url}", None
    path = Path(image)
    if settings.shared_root is not None:
        shared = under_root(path, settings.shared_root)
        if shared is not None:
            return {"path": str(shared)}, f"path:{shared}", None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _inline(data, settings, str(path)), f"file:{path.resolve()}", data


def _inline(data: bytes, settings: Settings, what: str) -> ImageRef:
    if len(data) > settings.inline_max_bytes:
        raise ConfigError(
            f"{what} is {len(data):,} bytes, over inline_max_bytes "
            f"({settings.inline_max_bytes:,}): put it under ADREVIEW_SHARED_ROOT or send a URL"
        )
    return {"inline": base64.b64encode(data).decode("ascii")}


_APPS: dict[tuple[str, str, str, str], Celery] = {}


def celery_for(settings: Settings) -> Celery:
    """A Celery app for sending with ``settings`` (one per broker and queue names)."""
    key = (settings.redis_url, settings.queue, settings.gpu_queue, settings.ocr_engine)
    if key not in _APPS:
        from worker.celery_app import make_celery

        _APPS[key] = make_celery(settings)
    return _APPS[key]


#: How hard a producer tries to reach the broker before giving up.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5,
                 "interval_max": 1.0}


_RULES: dict[Path, ReloadingRuleSet] = {}


def active_ruleset(settings: Settings) -> RuleSet:
    """The rule set of ``settings.rules_dir`` as producers see it (loaded once, and again
    when the folder changes)."""
    from rules.reload import ReloadingRuleSet

    folder = Path(settings.rules_dir).resolve()
    if folder not in _RULES:
        _RULES[folder] = ReloadingRuleSet(folder)
    return _RULES[folder].current()


def declared_industry(industry: str | None, metadata: dict[str, Any] | None) -> str | None:
    """The industry a submission declares: ``industry`` when given, else
    ``metadata["industry"]``; empty means none. ``ConfigError`` for a non-string."""
    if industry is None and metadata is not None and "industry" in metadata:
        value = metadata["industry"]
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"metadata industry must be a string, not {value!r}")
        industry = value
    return industry or None


def send(submission_id: str, ref: ImageRef, engine: str, settings: Settings,
         priority: int | None = None, industry: str | None = None) -> None:
    """Send the review message of a stored submission. Raises ``BrokerUnavailable``."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    from worker.celery_app import REVIEW_TASK
    from worker.queue_metrics import SENT_AT_HEADER

    celery = celery_for(settings)
    kwargs = None if industry is None else {"industry": industry}
    try:
        # The send time travels as a header: the queue gauges read the oldest message's age
        # from it (``worker.queue_metrics``).
        celery.send_task(REVIEW_TASK, args=(submission_id, engine, ref), kwargs=kwargs,
                         priority=priority, retry=True, retry_policy=PUBLISH_RETRY,
                         headers={SENT_AT_HEADER: time.time()})
    except (OperationalError, RedisError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        log.warning("submission %s: the broker is unreachable: %s", submission_id, reason)
        raise BrokerUnavailable(submission_id, reason) from exc


def submit(
    image: bytes | str | Path,
    *,
    ad_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    priority: int | None = None,
    engine: str | None = None,
    settings: Settings | None = None,
    industry: str | None = None,
    store: Store | None = None,
    api_key_id: int | None = None,
) -> str:
    """Store a submission and queue it for review; returns the submission id.

    ``store`` is the caller's open store (its connection pool is reused; one is opened
    and closed for this call otherwise); ``api_key_id`` the HTTP API key submitting.

    ``image`` is the image's bytes, an http(s) URL, or a file path (sent by path when it
    lies under ``settings.shared_root``, else read and sent inline). ``industry`` (or,
    when it is not given, ``metadata["industry"]``) is the ad's industry. Raises
    ``UnknownIndustry`` (before storing anything) for an industry the active rule set
    does not declare, ``EngineNotFound`` (before storing anything) for an engine name no
    worker knows, ``ConfigError`` for an image that cannot travel or a ``priority``
    outside ``PRIORITY_MIN``-``PRIORITY_MAX`` (0, the default, is served first),
    ``BrokerUnavailable`` when the row is stored but the message could not be sent.
    """
    from worker.db import Store

    settings = settings or get_settings()
    engine = engine or settings.ocr_engine
    check_engine(engine)
    clash = sorted(set(metadata or {}) & set(RESERVED_METADATA))
    if clash:
        raise ConfigError(f"metadata keys {clash} are reserved by the queue")
    if priority is not None and not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ConfigError(f"priority {priority} is outside {PRIORITY_MIN}-{PRIORITY_MAX} "
                          f"({PRIORITY_MIN} is served first)")
    industry = declared_industry(industry, metadata)
    if industry is not None:
        active_ruleset(settings).check_industry(industry)
    ref, source, data = image_ref(image, settings)
    sha256 = None if data is None else hashlib.sha256(data).hexdigest()
    meta = {**(metadata or {}), "image_ref": ref, "engine": engine, "priority": priority}
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(Store.open(settings.database_url))
        submission_id = store.add_submission(sha256, source, ad_id=ad_id, metadata=meta,
                                             industry=industry, api_key_id=api_key_id,
                                             unsent=True)
        send(submission_id, ref, engine, settings, priority, industry)
        store.mark_sent(submission_id)
    return submission_id


def requeue_stale(minutes: float, settings: Settings | None = None,
                  only: Callable[[StoredSubmission], bool] | None = None) -> list[str]:
    """Send again every submission queued or processing for ``minutes`` without a verdict
    (those ``only`` accepts, when given).

    Returns the ids sent. Submissions with no stored image reference (local scans) are
    skipped. A message that is still in the queue as well does no harm: the verdict
    write is idempotent and a worker skips a submission already judged.
    """
    from worker.db import Store, SubmissionStatus

    settings = settings or get_settings()
    sent: list[str] = []
    with Store.open(settings.database_url) as store:
        for item in store.stale_submissions(timedelta(minutes=minutes)):
            if only is not None and not only(item):
                continue
            meta = item.metadata or {}
            ref = meta.get("image_ref")
            if not isinstance(ref, dict):
                log.info("submission %s has no image reference; not requeued", item.id)
                continue
            engine = meta.get("engine") or settings.ocr_engine
            priority = meta.get("priority")
            send(item.id, ref, engine, settings, priority if isinstance(priority, int) else None,
                 item.industry)
            store.set_status(item.id, SubmissionStatus.QUEUED)
            store.mark_sent(item.id)
            sent.append(item.id)
    return sent


def send_stored(item: StoredSubmission, settings: Settings, store: Store) -> bool:
    """Send the review message of a stored submission and take it out of the send
    outbox; False (and out of the outbox) when it has no image reference to send.
    Raises ``BrokerUnavailable``."""
    meta = item.metadata or {}
    ref = meta.get("image_ref")
    if not isinstance(ref, dict):
        log.info("submission %s has no image reference; not sent", item.id)
        store.mark_sent(item.id)
        return False
    engine = meta.get("engine") or settings.ocr_engine
    priority = meta.get("priority")
    send(item.id, ref, engine, settings, priority if isinstance(priority, int) else None,
         item.industry)
    store.mark_sent(item.id)
    return True


__all__ = [
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "BrokerUnavailable",
    "ImageRef",
    "active_ruleset",
    "celery_for",
    "check_engine",
    "declared_industry",
    "image_ref",
    "image_ref_problem",
    "is_url",
    "load_image",
    "requeue_stale",
    "send",
    "send_stored",
    "submit",
    "under_root",
    "without_credentials",
]
