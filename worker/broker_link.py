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
  ``TCP_USER_TIMEOUT_MS`` (30 s, Linux): keepalives do not run while data is unacknowledged.
- **Blocking commands** (publishing, acknowledging, the sweep's and the heartbeat's own
  calls) give up after ``SOCKET_TIMEOUT`` seconds; connecting gives up after
  ``SOCKET_CONNECT_TIMEOUT``.
- **The consumer's BRPOP** runs on the event loop, where no socket timeout applies;
  kombu's health check drops it when its reply is overdue by ``HEALTH_CHECK_INTERVAL``
  seconds beyond the one-second BRPOP timeout, so a worker notices a dead broker link
  within 1 + 2 x 10 = 21 s.
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

#: Seconds a blocking Redis command waits on its socket before it fails.
SOCKET_TIMEOUT = 30.0
#: Seconds connecting to Redis may take.
SOCKET_CONNECT_TIMEOUT = 10.0
#: Seconds of silence before an idle connection sends its first keepalive probe.
KEEPALIVE_IDLE = 30
#: Seconds between keepalive probes.
KEEPALIVE_INTERVAL = 10
#: Unanswered probes before the connection counts as dead.
KEEPALIVE_COUNT = 3
#: Milliseconds sent data may stay unacknowledged before the connection is dropped.
TCP_USER_TIMEOUT_MS = 30_000
#: Seconds between kombu's checks of the consumer's long-lived connections.
HEALTH_CHECK_INTERVAL = 10
#: Seconds between looks for unacknowledged messages past the visibility timeout
#: (kombu's default scans every 100 s); each look is one sorted-set range query.
UNACKED_RESTORE_INTERVAL = 10


def keepalive_options() -> dict[int, int]:
    """``socket_keepalive_options`` for redis-py: the probes and user timeout above, each
    where the platform has it (all of them on Linux)."""
    wanted = {"TCP_KEEPIDLE": KEEPALIVE_IDLE, "TCP_KEEPINTVL": KEEPALIVE_INTERVAL,
              "TCP_KEEPCNT": KEEPALIVE_COUNT, "TCP_USER_TIMEOUT": TCP_USER_TIMEOUT_MS}
    return {getattr(socket, name): value for name, value in wanted.items()
            if hasattr(socket, name)}


def transport_options(visibility_timeout: int) -> dict[str, Any]:
    """kombu's Redis ``broker_transport_options`` with the limits of the module docstring."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": UNACKED_RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT,
        "socket_keepalive": True,
        "socket_keepalive_options": keepalive_options(),
        "health_check_interval": HEALTH_CHECK_INTERVAL,
    }


def redis_client_options() -> dict[str, Any]:
    """Keyword arguments of ``redis.Redis`` for the workers' own clients (sweep, heartbeat,
    queue gauges): the same limits as the broker connections."""
    return {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT,
            "socket_keepalive": True, "socket_keepalive_options": keepalive_options(),
            "health_check_interval": HEALTH_CHECK_INTERVAL}


__all__ = [
    "HEALTH_CHECK_INTERVAL", "KEEPALIVE_COUNT", "KEEPALIVE_IDLE", "KEEPALIVE_INTERVAL",
    "SOCKET_CONNECT_TIMEOUT", "SOCKET_TIMEOUT", "TCP_USER_TIMEOUT_MS",
    "UNACKED_RESTORE_INTERVAL", "keepalive_options", "redis_client_options",
    "transport_options",
]
