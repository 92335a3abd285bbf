"""How a worker holds its Redis connections across a network cut, with the numbers.

A link that dies without closing its connections (a cut cable, a host that vanished, a
dropped NAT or firewall entry) sends no FIN and no RST: without limits a socket waits on
it for the kernel's default of about fifteen minutes of retransmissions, or for ever when
it is idle. Workers run on other hosts than Redis and PostgreSQL, so every connection
carries its own limits and the worker reconnects when the link comes back:

- **Idle connections** send TCP keepalive probes after ``KEEPALIVE_IDLE`` seconds of
  silence, every ``KEEPALIVE_INTERVAL`` seconds, and give up after ``KEEPALIVE_COUNT``
  unanswered ones: a dead idle link is noticed within 30 + 3 x 10 = 60 s.
- **Connections with data in flight** (a publish, an acknowledgement, a BRPOP sent just
  before the cut) are dropped once sent data stays unacknowledged for
  ``settings.broker_socket_timeout`` (30 s; the TCP user timeout, Linux): keepalives do not
  run while data is unacknowledged.
- **Blocking commands** (publishing, acknowledging, the sweep's and the heartbeat's own
  calls) give up after ``settings.broker_socket_timeout`` seconds (30); connecting gives up
  after ``SOCKET_CONNECT_TIMEOUT``. The timeout stays below the soft time limit (120 s), so
  that a review whose link died fails and is retried, never killed by the time limit.
- **The consumer's BRPOP** runs on the event loop, where no socket timeout applies;
  kombu's health check drops it when its reply is overdue by ``HEALTH_CHECK_INTERVAL``
  seconds beyond the one-second BRPOP timeout, so a worker notices a dead broker link
  within 1 + 2 x 10 = 21 s.
- **Publishing from a review** (its retry message) makes three attempts in all
  (``PUBLISH_RETRIES``), so that on a dead link it gives up, 3 x 30 s = 90 s, before the
  soft time limit (120 s) interrupts it: a review interrupted by a time limit inside a
  network call can leave the prefork pool's result pipe unreadable and stop the worker.
- **Reconnecting** never stops (``broker_connection_max_retries=None``): a worker cut off
  for an hour starts consuming again as soon as its link returns, instead of exiting
  after Celery's default of 100 attempts.

Redis has no broker heartbeat (``broker_heartbeat`` is AMQP's); the keepalives and health
checks above do its job. The database side is in ``worker.db.engine``: ``pool_pre_ping``,
keepalives (30 s idle, 10 s apart, 3 probes) and a 60 s TCP user timeout, so a query on a
cut link fails within a minute and is retried with backoff as a transient error.

Work a cut-off worker held is not lost: its messages stay in Redis's ``unacked`` set until
acknowledged, and any worker hands them out again once the visibility timeout has passed
(``worker.celery_app.visibility_timeout``: the hard time limit plus 15 s, 195 s by
default), looking every ``UNACKED_RESTORE_INTERVAL`` seconds. So a message whose worker
was cut off or killed is delivered again within visibility timeout +
``UNACKED_RESTORE_INTERVAL`` seconds of its fetch (205 s by default); a delivery that finds
the verdict stored writes nothing (``Store.record_verdict`` is idempotent).
"""

from __future__ import annotations

import socket
from typing import Any

from worker.settings import Settings

#: Seconds connecting to Redis may take.
SOCKET_CONNECT_TIMEOUT = 10.0
#: Seconds of silence before an idle connection sends its first keepalive probe.
KEEPALIVE_IDLE = 30
#: Seconds between keepalive probes.
KEEPALIVE_INTERVAL = 10
#: Unanswered probes before the connection counts as dead.
KEEPALIVE_COUNT = 3
#: Seconds between kombu's checks of the consumer's long-lived connections.
HEALTH_CHECK_INTERVAL = 10
#: Retries of a publish after its first attempt (Celery's default is 3).
PUBLISH_RETRIES = 2
#: Seconds between looks for unacknowledged messages past the visibility timeout
#: (kombu's default scans every 100 s); each look is one sorted-set range query.
UNACKED_RESTORE_INTERVAL = 10


def keepalive_options(socket_timeout: float) -> dict[int, int]:
    """``socket_keepalive_options`` for redis-py: the probes above and a TCP user timeout
    of ``socket_timeout``, each where the platform has it (all of them on Linux)."""
    wanted = {"TCP_KEEPIDLE": KEEPALIVE_IDLE, "TCP_KEEPINTVL": KEEPALIVE_INTERVAL,
              "TCP_KEEPCNT": KEEPALIVE_COUNT,
              "TCP_USER_TIMEOUT": max(1, round(socket_timeout * 1000))}
    return {getattr(socket, name): value for name, value in wanted.items()
            if hasattr(socket, name)}


def transport_options(settings: Settings, visibility_timeout: int) -> dict[str, Any]:
    """kombu's Redis ``broker_transport_options`` with the limits of the module docstring."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": UNACKED_RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
        **redis_client_options(settings),
    }


def connect_timeout(settings: Settings) -> float:
    """Seconds connecting to Redis may take: ``SOCKET_CONNECT_TIMEOUT``, or the socket
    timeout when that is shorter."""
    return min(SOCKET_CONNECT_TIMEOUT, settings.broker_socket_timeout)


def publish_retry_policy(settings: Settings) -> dict[str, float]:
    """How a worker retries a publish (a review's retry, a callback) on a dead link: three
    attempts in all, each bounded by the socket timeout, so that the publish gives up
    (3 x 30 s = 90 s) before the soft time limit (120 s) stops the review."""
    return {"max_retries": PUBLISH_RETRIES, "interval_start": 0, "interval_step": 0.5,
            "interval_max": 1.0}


def redis_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``redis.Redis`` for the workers' own clients (the heartbeat):
    the same limits as the broker connections."""
    return {"socket_timeout": settings.broker_socket_timeout,
            "socket_connect_timeout": connect_timeout(settings),
            "socket_keepalive": True,
            "socket_keepalive_options": keepalive_options(settings.broker_socket_timeout),
            "health_check_interval": HEALTH_CHECK_INTERVAL}


__all__ = [
    "HEALTH_CHECK_INTERVAL", "KEEPALIVE_COUNT", "KEEPALIVE_IDLE", "KEEPALIVE_INTERVAL",
    "PUBLISH_RETRIES", "SOCKET_CONNECT_TIMEOUT", "UNACKED_RESTORE_INTERVAL", "connect_timeout",
    "keepalive_options", "publish_retry_policy", "redis_client_options", "transport_options",
]
