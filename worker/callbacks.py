"""The workers' delivery of the callback outbox: review callbacks in order, retried.

A reviewer decision that changes a submission's effective decision writes its callback
to ``callback_outbox`` in the decision's own transaction (``Store.add_review``), numbered
per submission (``seq``, also the payload's ``"sequence"``). Every
``settings.callback_seconds`` one worker of the deployment - whichever holds the Redis
key ``adreview.callbacks.<hash of the database URL>`` - POSTs the due callbacks, signed
(``worker.api.webhooks.deliver_webhook``, one attempt each): of each submission only the
lowest undelivered sequence number is due, so a receiver gets a submission's callbacks
in the order of the changes. A failed attempt is tried again after
``settings.webhook_backoff * 2**attempts`` (plus jitter) up to
``settings.webhook_attempts`` attempts; a final refusal (4xx) or the last attempt gives
it up (logged, kept with ``last_error``) and lets the next one go. Delivery is at least
once: a worker killed after the POST and before marking it sends it again; receivers
deduplicate on ``submission`` and ``sequence``.

The delivery runs in a thread of the worker's main process (``CallbackStep``, a Celery
worker bootstep), never in the pool processes.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import bootsteps  # type: ignore[import-untyped]
from prometheus_client import Counter

from worker.errors import AdreviewError
from worker.periodic import Periodic
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from worker.db import Store

log = logging.getLogger(__name__)

#: Seconds one worker may hold the delivery lock before another may take over.
LOCK_SECONDS = 60
#: Callbacks looked at per round at most.
BATCH = 100

#: Review callbacks from the outbox, by outcome: sent, retry, gave_up.
OUTBOX_CALLBACKS = Counter("adreview_callback_outbox_total",
                           "Review callbacks of the outbox, by outcome.", ["outcome"])


def lock_key(settings: Settings) -> str:
    """The Redis key whose holder delivers the callbacks of ``settings.database_url``."""
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
    return f"adreview.callbacks.{digest}"


def retry_delay(attempts: int, settings: Settings) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones, with jitter."""
    delay = settings.webhook_backoff * 2.0 ** max(0, attempts - 1)
    return delay + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto


def deliver_due(store: Store, settings: Settings) -> int:
    """One pass over the due callbacks (the caller holds the delivery lock); returns
    how many were delivered. Without a webhook secret nothing is sent."""
    from worker.api.webhooks import WebhookError, deliver_webhook
    from worker.db.models import utcnow

    secret = settings.webhook_secret
    if not secret:
        return 0
    sent = 0
    for item in store.due_callbacks(BATCH):
        try:
            deliver_webhook(item.url, item.payload, secret, settings, attempts=1)
        except (WebhookError, AdreviewError) as exc:
            attempts = item.attempts + 1
            final = isinstance(exc, WebhookError) and not exc.retryable
            if final or attempts >= settings.webhook_attempts:
                OUTBOX_CALLBACKS.labels("gave_up").inc()
                log.error("submission %s: callback %d given up after %d attempt(s): %s",
                          item.submission, item.seq, attempts, exc)
                store.callback_done(item.id, f"given up: {exc}")
            else:
                wait = retry_delay(attempts, settings)
                OUTBOX_CALLBACKS.labels("retry").inc()
                log.warning("submission %s: callback %d attempt %d failed (%s); again in "
                            "%.1f s", item.submission, item.seq, attempts, exc, wait)
                store.callback_failed(item.id, str(exc), utcnow() + timedelta(seconds=wait))
            continue
        store.callback_done(item.id)
        OUTBOX_CALLBACKS.labels("sent").inc()
        sent += 1
    return sent


class CallbackDelivery(Periodic):
    """Delivers the callback outbox every ``settings.callback_seconds``, from a thread."""

    what = "callback delivery"
    thread_name = "adreview-callbacks"
    off_setting = "ADREVIEW_CALLBACK_SECONDS"
    failure_level = logging.INFO

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._store: Store | None = None
        self._token = secrets.token_hex(8)


    def deliver(self) -> int:
        """One round, if this worker holds the lock; returns how many were delivered."""
        from worker.db import Store

        key = lock_key(self.settings)
        if not self.client.set(key, self._token, nx=True, ex=LOCK_SECONDS):
            return 0
        try:
            if self._store is None:
                self._store = Store.open(self.settings.database_url, migrate=False)
            return deliver_due(self._store, self.settings)
        finally:
            if self.client.get(key) == self._token.encode():
                self.client.delete(key)

    @property
    def interval(self) -> float:
        return self.settings.callback_seconds

    def round(self) -> int:
        return self.deliver()

    def close(self) -> None:
        super().close()
        if self._store is not None:
            self._store.close()


class CallbackStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker bootstep: a ``CallbackDelivery`` running in the main process."""

    name = "adreview.callbacks"

    def create(self, parent: Any) -> CallbackDelivery:
        """The step's delivery (started and stopped with the worker)."""
        return CallbackDelivery(get_settings())


__all__ = ["OUTBOX_CALLBACKS", "CallbackDelivery", "CallbackStep", "deliver_due", "lock_key",
           "retry_delay"]
