"""Throttling of failed sign-ins: wrong API keys and console logins, per client address.

Each failure (an unknown, revoked or overlong key, on any ``/v1`` route or the console's
sign-in form) is counted against the client's address (after ``X-Forwarded-For`` from a
trusted proxy). Once an address has ``MAX_FAILURES`` failures within ``WINDOW_SECONDS``,
every further attempt from it with a key is answered 429 ``too_many_attempts`` with
``Retry-After`` - before the key is looked up - until the oldest failure leaves the
window. A success does not reset the count: guessing keys among good ones gains nothing.
The counts are per API process and kept in memory (at most ``MAX_ADDRESSES`` addresses,
the stalest forgotten first), so they hold while the database or Redis are down.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

from worker.api.state import ApiProblem

#: Failed attempts an address may make within ``WINDOW_SECONDS``.
MAX_FAILURES = 10
#: Seconds over which failures are counted.
WINDOW_SECONDS = 60.0
#: Addresses remembered at most.
MAX_ADDRESSES = 10_000


class FailureThrottle:
    """Failed attempts per client address in a sliding window; safe between threads."""

    def __init__(self, max_failures: int = MAX_FAILURES,
                 window: float = WINDOW_SECONDS) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = time.monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
        return times

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again (0: it may now)."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if len(times) < self.max_failures:
                return 0
            return max(1, math.ceil(times[-self.max_failures] + self.window - now))

    def failed(self, address: str) -> None:
        """Count one failed attempt from ``address``."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)

    def check(self, address: str) -> None:
        """Raise 429 ``too_many_attempts`` when ``address`` has failed too often."""
        wait = self.retry_after(address)
        if wait:
            raise ApiProblem(429, "too_many_attempts",
                             f"too many failed sign-in attempts from this address; try "
                             f"again in {wait} s", headers={"Retry-After": str(wait)})


__all__ = ["MAX_ADDRESSES", "MAX_FAILURES", "WINDOW_SECONDS", "FailureThrottle"]
