"""The workers' relay: submissions stored whose review message never reached the queue
are sent within seconds of the broker answering again.

``submit`` writes each submission with a row in the send outbox (``send_outbox``) and
deletes that row once its message is on the broker. A row left behind means the message
was never sent: the broker was down at submit time (the producer answered 503 with the
id) or the producer died between the two steps. Every ``settings.relay_seconds`` one
worker of the deployment - whichever first sets the Redis key ``adreview.relay.<hash of
the database URL>``, which expires after the interval - sends the rows older than
``RELAY_GRACE`` (so that a producer's own send is not doubled) and deletes them, oldest
first; a round that meets the broker down again stops and waits for the next. The
15-minute sweep (``worker.sweep``) remains for messages lost after they were sent.

The relay runs in a thread of the worker's main process (``RelayStep``, a Celery worker
bootstep), never in the pool processes.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import bootsteps  # type: ignore[import-untyped]
from prometheus_client import Counter

from worker.periodic import Periodic
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from worker.db import Store

log = logging.getLogger(__name__)

#: Age a row of the send outbox must reach before the relay sends it (seconds): the
#: producer that wrote it sends it itself within milliseconds when the broker is up.
RELAY_GRACE = 2.0
#: Rows sent per round at most.
RELAY_BATCH = 500

#: Submissions the relay sent from the send outbox.
RELAYED = Counter("adreview_relay_sent_total",
                  "Stored submissions whose message the relay sent (the producer could not).")


def relay_key(settings: Settings) -> str:
    """The Redis key whose holder relays for ``settings.database_url`` this interval."""
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
    return f"adreview.relay.{digest}"


class Relay(Periodic):
    """Sends the send outbox every ``settings.relay_seconds``, from a thread."""

    what = "relay of unsent submissions"
    thread_name = "adreview-relay"
    off_setting = "ADREVIEW_RELAY_SECONDS"
    failure_level = logging.INFO

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._store: Store | None = None


    @property
    def interval(self) -> float:
        return self.settings.relay_seconds

    def claim(self) -> bool:
        """Take this interval's round (True), unless another worker has already."""
        ttl = max(1, round(self.settings.relay_seconds * 1000))
        return bool(self.client.set(relay_key(self.settings), "1", nx=True, px=ttl))

    def relay(self) -> list[str]:
        """One round, if this worker wins the interval; returns the ids sent."""
        from worker.client import BrokerUnavailable, send_stored
        from worker.db import Store

        if not self.claim():
            return []
        sent: list[str] = []
        if self._store is None:
            self._store = Store.open(self.settings.database_url, migrate=False)
        store = self._store
        for item in store.unsent_submissions(timedelta(seconds=RELAY_GRACE), RELAY_BATCH):
            try:
                if send_stored(item, self.settings, store):
                    sent.append(item.id)
            except BrokerUnavailable:
                log.warning("relay: the broker is unreachable again; %d sent this round",
                            len(sent))
                break
        if sent:
            RELAYED.inc(len(sent))
            shown = ", ".join(sent[:10]) + (", ..." if len(sent) > 10 else "")
            log.warning("relay: sent %d stored submission(s) the producer could not: %s",
                        len(sent), shown)
        return sent

    def round(self) -> list[str]:
        return self.relay()

    def close(self) -> None:
        super().close()
        if self._store is not None:
            self._store.close()


class RelayStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker bootstep: a ``Relay`` running in the main process while the worker runs."""

    name = "adreview.relay"

    def create(self, parent: Any) -> Relay:
        """The step's relay (started and stopped with the worker)."""
        return Relay(get_settings())


__all__ = ["RELAYED", "RELAY_BATCH", "RELAY_GRACE", "Relay", "RelayStep", "relay_key"]
