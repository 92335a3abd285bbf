"""The signal to scale on: queue gauges read from Redis on each scrape of ``/metrics``.

Gauges, per queue (``settings.queue`` and ``settings.gpu_queue``):

- ``adreview_queue_depth{queue, priority}``: messages waiting, per priority band of kombu's
  Redis lists (``0-2``, ``3-5``, ``6-8``, ``9``; 0 is served first);
- ``adreview_queue_oldest_age_seconds{queue}``: how long the oldest waiting message has
  waited (0 when the queue is empty, or when no waiting message says when it was sent);
- ``adreview_queue_dead_letters{queue}``: messages in the dead-letter list ``<queue>.dead``;
- ``adreview_workers_seen{queue}``: workers consuming the queue whose last heartbeat
  (``worker.heartbeat``) is younger than three intervals;
- ``adreview_queue_metrics_up``: 1 when Redis answered this scrape, else 0 (and no other
  gauge: a missing series is better than a false zero to scale on).

Cheap to scrape: one Lua script, one round trip, whatever the backlog. Lengths and counts
are O(1) or O(log n); a message's age comes from the ``adreview_sent_at`` header
producers stamp (``SENT_AT_HEADER``), found by searching only the tail of the oldest
message of each band, where kombu writes its headers after the (possibly large) body.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import redis
from kombu.transport import redis as kombu_redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.broker_guard import dead_letter_key
from worker.heartbeat import seen_window, workers_key
from worker.settings import Settings

log = logging.getLogger(__name__)

#: Message header holding the time (Unix seconds) the producer sent the message.
SENT_AT_HEADER = "adreview_sent_at"
#: Seconds a scrape waits for Redis before it reports ``adreview_queue_metrics_up 0``.
SCRAPE_TIMEOUT = 2.0

#: KEYS: the band lists, then the dead-letter lists, then the workers' sorted sets;
#: ARGV: the number of band lists, of dead-letter lists, the oldest heartbeat that counts.
#: Returns, in KEYS order: per band its length and its oldest message's sent-at time
#: ("" when empty or unstamped), then the lengths, then the counts.
_SCRIPT = """
local bands = tonumber(ARGV[1])
local dead = tonumber(ARGV[2])
local since = ARGV[3]
local out = {}
for i = 1, bands do
  local n = redis.call('LLEN', KEYS[i])
  local sent = ''
  if n > 0 then
    local m = redis.call('LINDEX', KEYS[i], -1)
    local pattern = '"__HEADER__"%s*:%s*([%d%.eE+-]+)'
    local found = string.match(m, pattern, -4096)
    if not found and #m > 4096 then found = string.match(m, pattern) end
    sent = found or ''
  end
  out[#out + 1] = n
  out[#out + 1] = sent
end
for i = bands + 1, bands + dead do out[#out + 1] = redis.call('LLEN', KEYS[i]) end
for i = bands + dead + 1, #KEYS do
  out[#out + 1] = redis.call('ZCOUNT', KEYS[i], since, '+inf')
end
return out
""".replace("__HEADER__", SENT_AT_HEADER)


def bands() -> list[tuple[str, int]]:
    """kombu's priority bands: (label, step) with ``0-2``, ``3-5``, ``6-8``, ``9``."""
    steps = list(kombu_redis.Channel.priority_steps)
    labels = []
    for index, step in enumerate(steps):
        last = steps[index + 1] - 1 if index + 1 < len(steps) else 9
        labels.append((f"{step}-{last}" if last > step else str(step), step))
    return labels


def band_key(queue: str, step: int) -> str:
    """The Redis list of ``queue``'s band starting at priority ``step``."""
    return queue if step == 0 else f"{queue}{kombu_redis.Channel.sep}{step}"


class QueueCollector(Collector):
    """Collects the gauges of the module docstring from Redis, once per scrape."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.queues = list(dict.fromkeys([settings.queue, settings.gpu_queue]))
        self._client = client

    @property
    def client(self) -> redis.Redis:
        """The Redis client of the scrapes (short timeouts: a scrape must not hang)."""
        if self._client is None:
            self._client = redis.Redis.from_url(self.settings.redis_url,
                                                socket_timeout=SCRAPE_TIMEOUT,
                                                socket_connect_timeout=SCRAPE_TIMEOUT)
        return self._client

    def close(self) -> None:
        """Close the Redis client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges, from one call of the script."""
        up = GaugeMetricFamily("adreview_queue_metrics_up",
                               "1 when Redis answered the queue gauges' scrape.")
        band_list = bands()
        band_keys = [band_key(q, step) for q in self.queues for _, step in band_list]
        keys = (band_keys + [dead_letter_key(q) for q in self.queues]
                + [workers_key(q) for q in self.queues])
        now = time.time()
        try:
            reply = self.client.eval(_SCRIPT, len(keys), *keys, len(band_keys),
                                     len(self.queues), repr(now - seen_window(self.settings)))
        except (redis.RedisError, OSError) as exc:
            log.warning("queue gauges: Redis did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("adreview_queue_depth",
                                  "Messages waiting, per queue and priority band.",
                                  labels=["queue", "priority"])
        oldest = GaugeMetricFamily("adreview_queue_oldest_age_seconds",
                                   "Seconds the oldest waiting message has waited.",
                                   labels=["queue"])
        dead = GaugeMetricFamily("adreview_queue_dead_letters",
                                 "Messages in the queue's dead-letter list.", labels=["queue"])
        seen = GaugeMetricFamily("adreview_workers_seen",
                                 "Workers consuming the queue with a recent heartbeat.",
                                 labels=["queue"])
        values = list(reply)
        position = 0
        for queue in self.queues:
            age = 0.0
            for label, _ in band_list:
                length, sent = values[position], values[position + 1]
                position += 2
                depth.add_metric([queue, label], int(length))
                if sent:
                    with contextlib.suppress(ValueError):  # a malformed stamp: no age
                        age = max(age, now - float(sent))
            oldest.add_metric([queue], max(0.0, age))
        for queue in self.queues:
            dead.add_metric([queue], int(values[position]))
            position += 1
        for queue in self.queues:
            seen.add_metric([queue], int(values[position]))
            position += 1
        yield from (depth, oldest, dead, seen)


def queue_metrics_text(settings: Settings, client: redis.Redis | None = None) -> bytes:
    """The exposition of the queue gauges alone."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(settings, client))
    return generate_latest(registry)


__all__ = ["SENT_AT_HEADER", "QueueCollector", "band_key", "bands", "queue_metrics_text"]
