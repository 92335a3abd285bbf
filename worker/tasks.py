"""The review task: a thin shell around ``worker.pipeline.review``.

Per delivery of ``adreview.review(submission_id, engine, image_ref, industry=None)``
(``industry``, the ad's declared industry, is a keyword argument that messages without
one leave out, as every message before it did):

0. a process with no rule set that loads (its folder broke before this process first
   loaded it) stores a ``rules_unusable`` error verdict at once; an engine name no
   worker knows is an ``unknown_engine`` error verdict at once, one that is not a name
   at all an ``invalid_message`` one;
1. a verdict already stored for this submission, rule set and engine version means a
   redelivery after success: nothing to do;
2. ``Store.start_attempt`` counts the delivery; more crashed deliveries than
   ``settings.max_attempts`` (a poison image that kills its worker) end as an ``error``
   verdict instead of looping forever;
3. the image bytes are loaded (inline, shared path or URL); an ``ImageError`` is an
   ``error`` verdict at once (``invalid_message`` for a malformed image reference);
4. ``review`` with the database's OCR cache - under the image's read lock in Redis when
   the cache does not hold it yet, so that one worker reads a new image and the others
   given it wait for its lines - then ``Store.record_verdict`` (idempotent).

Any other exception counts the delivery as failed: it is retried with backoff (the
``failures`` keyword argument carries the count), and the delivery that fails for the
``max_attempts``-th time - failed and crashed deliveries together - stores an
``internal`` error verdict naming the exception. A message for a submission that does
not exist is logged and dropped. Messages Celery itself could not take in never get
here (``worker.broker_guard``).

Transient outages (OCR server, database, broker connection) are retried with exponential
backoff and jitter (``settings.transient_retries``, ``retry_backoff_base``,
``retry_backoff_max``); when the retries run out an OCR outage becomes an
``ocr_unavailable`` verdict, while a database outage leaves the submission to
``adreview requeue``.

Verdict callbacks: when a review stores a *new* verdict for a submission whose metadata
has a ``callback_url``, a separate ``adreview.webhook(submission_id, verdict_id)`` message
goes to the same queue. Its task loads the stored verdict and POSTs it, signed, once per
run (``worker.api.webhooks.deliver_webhook``); a transient failure is retried by Celery
with backoff and jitter, at most ``settings.webhook_attempts`` runs in all, and then given
up with a logged error (and ``adreview_webhooks_total{outcome="gave_up"}``). A slow
receiver thus never holds a review, and a retried callback never runs OCR again. Without
``settings.webhook_secret`` no callback is sent (unsigned callbacks are refused) and a
warning is logged once per process. Delivery is at least once: a receiver deduplicates by
``verdict.verdict_id``.

The OCR engine, rule set and store are built once per worker process, in the process that
runs the tasks (never in a prefork parent, so CUDA is only ever initialised after fork).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import Reject, SoftTimeLimitExceeded  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]
from prometheus_client import Counter

from models.base import OcrEngine
from rules import RuleSet
from rules.reload import ReloadingRuleSet
from worker import metrics
from worker.celery_app import REVIEW_TASK, app, queue_for
from worker.client import ImageRef, load_image
from worker.db import DatabaseUnavailable, InvalidRecord, NotFound, Store
from worker.errors import EngineNotFound, ErrorCode, ImageError, OcrUnavailable, RuleError
from worker.pipeline import review
from worker.settings import Settings, get_settings
from worker.verdict import Verdict, VerdictError

log = logging.getLogger(__name__)

#: The rule set version recorded on a verdict made without any rule set: a process whose
#: rule folder never loaded (its ``rules_unusable`` error verdicts).
UNUSABLE_RULESET = "unusable"

#: The name of the callback task: ``adreview.webhook(submission_id, verdict_id)``.
WEBHOOK_TASK = "adreview.webhook"

#: Callback tasks by how they ended: sent, retry, gave_up (final failure or attempts
#: exhausted), unsigned (no secret configured), not_queued (broker refused the message).
WEBHOOKS = Counter("adreview_webhooks_total", "Verdict callbacks by outcome.", ["outcome"])


def backoff(retries: int, settings: Settings | None = None,
            rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retries + 1``: ``retry_backoff_base * 2**retries``
    capped at ``retry_backoff_max``, jittered down to half of that."""
    settings = settings or get_settings()
    ceiling = min(settings.retry_backoff_max, settings.retry_backoff_base * 2**retries)
    return (rng or random).uniform(ceiling / 2, ceiling)


def webhook_backoff(retries: int, settings: Settings,
                    rng: random.Random | None = None) -> float:
    """Seconds before callback run ``retries + 2``: ``webhook_backoff * 2**retries`` plus up
    to 50 % jitter."""
    delay = settings.webhook_backoff * 2.0**retries
    return delay + (rng or random).uniform(0, delay / 2)


@dataclass
class WorkerState:
    """What one worker process builds once: settings, store, rule set, engines by name."""

    settings: Settings
    _store: Store | None = None
    _rules: ReloadingRuleSet | None = None
    _engines: dict[str, OcrEngine] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _redis: Any = None

    @property
    def store(self) -> Store:
        """The process's database (opened, and the rule set recorded, on first use)."""
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.settings.database_url)
                with contextlib.suppress(RuleError):  # each task turns it into a verdict
                    self._store.save_ruleset(self.ruleset_unlocked())
            return self._store

    @property
    def ruleset(self) -> RuleSet:
        """The rule set: loaded on first use, reloaded when its folder has changed.

        A changed rule set that fails to load is logged and counted, and the last good
        one keeps serving; every new one is stored so that its verdicts can be explained.
        """
        with self._lock:
            return self.ruleset_unlocked()

    def ruleset_version(self) -> str:
        """The version of the rule set now serving, ``UNUSABLE_RULESET`` when none loads."""
        try:
            return self.ruleset.version
        except RuleError:
            return UNUSABLE_RULESET

    def ruleset_unlocked(self) -> RuleSet:
        """``ruleset`` for callers already holding the lock."""
        if self._rules is None:
            self._rules = ReloadingRuleSet(self.settings.rules_dir, on_change=self._saw_new)
        return self._rules.current()

    def _saw_new(self, ruleset: RuleSet) -> None:
        if self._store is not None:
            self._store.save_ruleset(ruleset)

    @contextlib.contextmanager
    def reading(self, sha256: str, engine: OcrEngine) -> Iterator[None]:
        """Hold the image's read lock while reviewing it, when ``engine`` has not read it
        yet: a second worker given the same new image waits for the first and then finds
        its lines in the OCR cache, instead of reading it again. The lock lapses after the
        hard time limit (a worker that died holding it); a worker that waited the soft
        limit, or cannot reach Redis, reads the image anyway."""
        import redis

        if self.store.get_ocr(sha256, engine.name, engine.version) is not None:
            yield
            return
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.settings.redis_url, socket_timeout=5,
                                               socket_connect_timeout=2)
        lock = self._redis.lock(f"adreview.read.{engine.name}.{sha256}",
                                timeout=self.settings.task_time_limit,
                                blocking_timeout=self.settings.task_soft_time_limit / 2)
        try:
            held = lock.acquire()
        except redis.RedisError as exc:
            log.warning("image %s: read lock unavailable (%s); reading without it",
                        sha256[:12], type(exc).__name__)
            held = False
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(redis.RedisError):
                    lock.release()

    def engine(self, name: str) -> OcrEngine:
        """The OCR engine called ``name``, built on first use."""
        from models.registry import create_engine

        with self._lock:
            if name not in self._engines:
                self._engines[name] = create_engine(name, self.settings)
            return self._engines[name]


_state: WorkerState | None = None


def state() -> WorkerState:
    """This process's ``WorkerState`` (created on first use)."""
    global _state
    if _state is None:
        _state = WorkerState(get_settings())
    return _state


def _load_in_child(**_: Any) -> None:
    """A new pool child loads the default engine, the rules and the store before its first
    task, so that loading time never counts against a task's time limit."""
    global _state
    _state = WorkerState(get_settings())
    try:
        _state.engine(_state.settings.ocr_engine)
        log.info("worker ready: %s", _state.store)
    except Exception:  # the first task meets the same error and turns it into a verdict
        log.exception("preloading the worker failed")


worker_process_init.connect(_load_in_child, weak=False)


def _error(code: ErrorCode, message: str, engine: OcrEngine, ruleset: RuleSet,
           industry: str | None = None) -> Verdict:
    return Verdict.failed(VerdictError(code, message), ruleset=ruleset.version,
                          engine=engine.name, engine_version=engine.version, sha256=None,
                          industry=industry)


def _finish(store: Store, submission_id: str, verdict: Verdict) -> str:
    verdict_id, created = store.record_verdict(submission_id, verdict)
    if created:
        metrics.observe_verdict(verdict)
        _queue_callback(store, submission_id, verdict_id, verdict.engine)
    outcome = "error" if verdict.error is not None else "done"
    metrics.TASKS.labels(outcome).inc()
    return verdict.decision.value


TRANSIENT: tuple[type[BaseException], ...] = (OcrUnavailable, DatabaseUnavailable)


def _transient() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    return (*TRANSIENT, OperationalError, RedisConnectionError)


def _review_task(self: Any, submission_id: str, engine: str, image: ImageRef,
                 industry: str | None = None, failures: int = 0) -> str:
    """Review one submitted image (an ad of ``industry``, when given) and store its
    verdict; returns the decision. ``failures`` counts the earlier deliveries of this
    message that failed unexpectedly (set by the task's own retries)."""
    if industry is not None and not isinstance(industry, str):
        industry = str(industry)  # not declared by any rule set: an unknown_industry verdict
    try:
        return _review(self, submission_id, engine, image, industry)
    except _transient() as exc:
        settings = state().settings
        retries = int(self.request.retries or 0)
        if retries >= settings.transient_retries:
            return _gave_up_transient(submission_id, engine, exc, industry)
        metrics.TASKS.labels("retry").inc()
        wait = backoff(retries, settings)
        log.warning("submission %s: %s; retry %d in %.1f s", submission_id, exc, retries + 1,
                    wait)
        try:
            raise self.retry(exc=exc, countdown=wait,
                             max_retries=settings.transient_retries) from exc
        except Reject as rejected:
            if rejected.requeue:
                raise
            # Celery rejects (drops) a message whose retry it could not publish: the broker
            # link is down. Put it back instead (at once if the link returns, else after the
            # visibility timeout), so that the review is not lost until the sweep.
            log.warning("submission %s: its retry could not be sent (%s); the message goes "
                        "back to the queue", submission_id, rejected.reason)
            raise Reject(rejected.reason, requeue=True) from exc
    except NotFound as exc:  # nothing to write a verdict to
        log.error("submission %s: %s; message dropped", submission_id, exc)
        metrics.TASKS.labels("missing").inc()
        return "missing"
    except Exception as exc:
        return _failed(self, submission_id, engine, industry, failures, exc)


def _failed(task: Any, submission_id: str, engine_name: str, industry: str | None,
            failures: int, exc: Exception) -> str:
    """An unexpected exception: the delivery counts as failed and is retried with
    backoff; once ``max_attempts`` deliveries failed, an ``internal`` error verdict."""
    settings = state().settings
    failures = int(failures or 0) + 1
    log.error("submission %s: delivery failed (%d of at most %d): %s: %s", submission_id,
              failures, settings.max_attempts, type(exc).__name__, exc, exc_info=exc)
    if failures < settings.max_attempts:
        metrics.TASKS.labels("retry").inc()
        raise task.retry(exc=exc, countdown=backoff(failures - 1, settings), max_retries=None,
                         kwargs={**(task.request.kwargs or {}), "failures": failures}) from exc
    metrics.TASKS.labels("gave_up").inc()
    message = f"gave up after {failures} failed deliveries: {type(exc).__name__}: {exc}"
    try:
        verdict = _unjudged(ErrorCode.INTERNAL, message, engine_name, industry)
        return _finish(state().store, submission_id, verdict)
    except Exception:
        log.exception("submission %s: its error verdict could not be stored", submission_id)
        return "failed"


def _unjudged(code: ErrorCode, message: str, engine_name: object,
              industry: str | None) -> Verdict:
    """An error verdict for a submission its engine never saw (it may not even exist)."""
    worker = state()
    name = engine_name if isinstance(engine_name, str) else worker.settings.ocr_engine
    engine = worker._engines.get(name)
    return Verdict.failed(VerdictError(code, message), ruleset=worker.ruleset_version(),
                          engine=engine.name if engine else name[:64],
                          engine_version=engine.version if engine else "", sha256=None,
                          industry=industry)


def _review(task: Any, submission_id: str, engine_name: str, image: ImageRef,
            industry: str | None = None) -> str:
    worker = state()
    settings = worker.settings
    if not isinstance(submission_id, str):
        log.error("message with submission id %r (not a string) dropped", submission_id)
        metrics.TASKS.labels("missing").inc()
        return "missing"
    store = worker.store
    try:
        ruleset = worker.ruleset
    except RuleError as exc:  # no rule set ever loaded in this process: nothing can judge
        log.error("submission %s: no usable rule set: %s", submission_id, exc)
        return _finish(store, submission_id, _unjudged(
            ErrorCode.RULES_UNUSABLE, f"the rule set in {settings.rules_dir} does not load: "
            f"{str(exc)[:1000]}", engine_name, industry))
    if not isinstance(engine_name, str):
        log.error("submission %s: engine %r is not a name", submission_id, engine_name)
        return _finish(store, submission_id, _unjudged(
            ErrorCode.INVALID_MESSAGE, f"the engine is {engine_name!r}, not an engine name",
            engine_name, industry))
    try:
        engine = worker.engine(engine_name)
    except EngineNotFound as exc:
        log.error("submission %s: %s", submission_id, exc)
        return _finish(store, submission_id,
                       _unjudged(ErrorCode.UNKNOWN_ENGINE, str(exc), engine_name, industry))
    current = store.current_verdict(submission_id)
    if current is not None and (current.verdict.ruleset, current.verdict.engine,
                                current.verdict.engine_version) == (
                                    ruleset.version, engine.name, engine.version):
        metrics.TASKS.labels("skipped").inc()
        return current.verdict.decision.value
    attempts = store.start_attempt(submission_id)
    # Retries are deliveries too; only those that did not end in a retry count as crashes,
    # and those that failed unexpectedly (retried by ``_failed``).
    failures = int((task.request.kwargs or {}).get("failures") or 0)
    crashed = attempts - 1 - int(task.request.retries or 0) + failures
    if crashed >= settings.max_attempts:
        log.error("submission %s: giving up after %d deliveries", submission_id, attempts)
        metrics.TASKS.labels("gave_up").inc()
        verdict = _error(ErrorCode.INTERNAL,
                         f"gave up after {attempts - 1} deliveries that did not finish "
                         "(the worker processing it died)", engine, ruleset, industry)
        _finish(store, submission_id, verdict)
        return verdict.decision.value
    try:
        data = load_image(image, settings)
    except ImageError as exc:
        return _finish(store, submission_id,
                       _error(exc.code, exc.message, engine, ruleset, industry))
    if "url" in image and len(data) <= settings.max_image_bytes:
        _keep_fetched(store, submission_id, data)
    try:
        with worker.reading(hashlib.sha256(data).hexdigest(), engine):
            verdict = review(data, engine, ruleset, settings, store.ocr_cache(), industry)
    except SoftTimeLimitExceeded:
        verdict = _error(ErrorCode.OCR_FAILED,
                         f"review took longer than {settings.task_soft_time_limit:g} s",
                         engine, ruleset, industry)
    except _transient():
        raise
    except Exception as exc:  # a bug must end as a verdict, not as a silent loss
        log.exception("submission %s: review failed", submission_id)
        verdict = _error(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}", engine, ruleset,
                         industry)
    return _finish(store, submission_id, verdict)


def _keep_fetched(store: Store, submission_id: str, data: bytes) -> None:
    """Keep the bytes fetched for a URL submission, so that reviewers see what was judged
    (a failure to keep them is logged; the review goes on)."""
    try:
        store.keep_fetched_image(submission_id, hashlib.sha256(data).hexdigest(), data)
    except InvalidRecord as exc:
        log.warning("submission %s: fetched image not kept: %s", submission_id, exc)


#: The registered task (``adreview.review``); producers send it by name. Its retries are
#: bounded by ``settings.transient_retries`` (read in the worker process, per retry).
review_task = app.task(bind=True, name=REVIEW_TASK, max_retries=None,
                       ignore_result=True)(_review_task)


def _gave_up_transient(submission_id: str, engine_name: str, exc: BaseException,
                       industry: str | None = None) -> str:
    """Retries exhausted: an OCR outage becomes an error verdict; a database outage cannot
    be written down, so the submission is left to ``adreview requeue``."""
    metrics.TASKS.labels("gave_up").inc()
    worker = state()
    retries = worker.settings.transient_retries
    if isinstance(exc, DatabaseUnavailable):
        log.error("submission %s: database still unavailable after %d retries: %s",
                  submission_id, retries, exc)
        raise exc
    log.error("submission %s: OCR still unavailable after %d retries: %s", submission_id,
              retries, exc)
    engine = worker.engine(engine_name)
    verdict = _error(ErrorCode.OCR_UNAVAILABLE,
                     f"still unavailable after {retries} retries: {exc}",
                     engine, worker.ruleset, industry)
    return _finish(worker.store, submission_id, verdict)


_warned_unsigned = False


def _unsigned(submission_id: str) -> bool:
    """True (and a warning, once per process) when no callback can be signed."""
    global _warned_unsigned
    if state().settings.webhook_secret:
        return False
    WEBHOOKS.labels("unsigned").inc()
    if not _warned_unsigned:
        _warned_unsigned = True
        log.warning("ADREVIEW_WEBHOOK_SECRET is not set: verdict callbacks are not sent "
                    "(first skipped: submission %s)", submission_id)
    return True


def _queue_callback(store: Store, submission_id: str, verdict_id: int, engine: str) -> None:
    """Queue the callback of a new verdict, if its submission asked for one."""
    submission = store.get_submission(submission_id)
    url = (submission.metadata or {}).get("callback_url") if submission is not None else None
    if not isinstance(url, str) or not url or _unsigned(submission_id):
        return
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    queue = queue_for(engine, state().settings)
    try:
        webhook_task.apply_async(args=(submission_id, verdict_id), queue=queue, retry=True,
                                 retry_policy={"max_retries": 2, "interval_start": 0.2,
                                               "interval_step": 0.5, "interval_max": 1.0})
    except (OperationalError, RedisError, OSError) as exc:
        # The verdict is stored; failing the review now would not bring the callback back.
        WEBHOOKS.labels("not_queued").inc()
        log.error("submission %s: callback for verdict %d not queued: %s", submission_id,
                  verdict_id, exc)


def _webhook_task(self: Any, submission_id: str, verdict_id: int) -> str:
    """POST stored verdict ``verdict_id`` to its submission's ``callback_url``, once per run.

    Returns how the run ended: ``sent``, ``gave_up``, ``unsigned`` or ``no_callback``;
    raises Celery's ``Retry`` to be run again later.
    """
    from worker.api.webhooks import WebhookError, deliver_webhook, verdict_payload

    worker = state()
    settings = worker.settings
    retries = int(self.request.retries or 0)
    secret = settings.webhook_secret
    if not secret:
        _unsigned(submission_id)
        return "unsigned"
    try:
        store = worker.store
        submission = store.get_submission(submission_id)
        url = (submission.metadata or {}).get("callback_url") if submission else None
        stored = next((v for v in store.verdict_history(submission_id) if v.id == verdict_id),
                      None)
    except DatabaseUnavailable as exc:
        if retries + 1 >= max(settings.webhook_attempts, settings.transient_retries):
            return _webhook_gave_up(submission_id, verdict_id, f"database unavailable: {exc}")
        WEBHOOKS.labels("retry").inc()
        raise self.retry(exc=exc, countdown=backoff(retries, settings),
                         max_retries=max(settings.webhook_attempts,
                                         settings.transient_retries)) from exc
    if not isinstance(url, str) or not url or stored is None:
        log.error("submission %s: no callback URL or no verdict %d; callback dropped",
                  submission_id, verdict_id)
        WEBHOOKS.labels("gave_up").inc()
        return "no_callback"
    try:
        delivery = deliver_webhook(url, verdict_payload(stored), secret, settings, attempts=1)
    except WebhookError as exc:
        attempt = retries + 1
        if exc.retryable and attempt < settings.webhook_attempts:
            wait = webhook_backoff(retries, settings)
            WEBHOOKS.labels("retry").inc()
            log.warning("submission %s: callback attempt %d of %d failed (%s); again in "
                        "%.1f s", submission_id, attempt, settings.webhook_attempts, exc, wait)
            raise self.retry(exc=exc, countdown=wait,
                             max_retries=settings.webhook_attempts - 1) from exc
        return _webhook_gave_up(submission_id, verdict_id,
                                f"{exc} (run {attempt} of at most {settings.webhook_attempts})")
    WEBHOOKS.labels("sent").inc()
    log.info("submission %s: callback delivered (HTTP %d, run %d)", submission_id,
             delivery.status, retries + 1)
    return "sent"


def _webhook_gave_up(submission_id: str, verdict_id: int, why: str) -> str:
    WEBHOOKS.labels("gave_up").inc()
    log.error("submission %s: callback for verdict %d given up: %s", submission_id,
              verdict_id, why)
    return "gave_up"


#: The registered callback task (``adreview.webhook``); sent by the review task only.
webhook_task = app.task(bind=True, name=WEBHOOK_TASK, max_retries=None,
                        ignore_result=True)(_webhook_task)


__all__ = [
    "WEBHOOKS",
    "WEBHOOK_TASK",
    "WorkerState",
    "backoff",
    "review_task",
    "state",
    "webhook_backoff",
    "webhook_task",
]
