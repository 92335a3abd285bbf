"""Verdict callbacks: POST a verdict to the producer's ``callback_url``, signed.

The body is JSON; the request carries

- ``X-Adreview-Timestamp``: Unix seconds when it was signed;
- ``X-Adreview-Signature``: ``sha256=<hex>``, the HMAC-SHA256 of
  ``"<timestamp>.<body>"`` under the shared secret (``settings.webhook_secret``, from
  ``ADREVIEW_WEBHOOK_SECRET``). Without a secret no callback is sent at all.

A receiver checks both with ``verify_signature`` (or the same few lines in its own
language) and refuses old timestamps, so a captured request cannot be replayed later.

Targets go through the same address rules as image URLs (``worker.fetch``): http(s)
only, and no loopback, private, link-local or metadata address unless
``settings.allow_private_urls`` is set or the address lies in ``allowed_networks``. The
request is sent to the vetted address itself (no second DNS lookup), redirects are not
followed. Connection errors, timeouts, 429 and 5xx are retried with exponential backoff
and jitter (``settings.webhook_attempts``, ``webhook_backoff``, ``webhook_timeout``); other
answers are final. The queue's ``adreview.webhook`` task (``worker.tasks``) calls
``deliver_webhook`` with one attempt per task run and leaves the retries to Celery.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from worker.api.inputs import MAX_CALLBACK_URL_LENGTH, check_http_url
from worker.db import StoredVerdict
from worker.errors import AdreviewError, ConfigError
from worker.fetch import IPAddress, IPNetwork, check_address, display_url
from worker.settings import Settings

log = logging.getLogger(__name__)

#: Header with the signature, ``sha256=<hex>``.
SIGNATURE_HEADER = "X-Adreview-Signature"
#: Header with the Unix time the signature covers.
TIMESTAMP_HEADER = "X-Adreview-Timestamp"
#: Seconds a receiver should accept between signing and receiving.
TOLERANCE = 300


class WebhookError(AdreviewError):
    """A callback could not be delivered; ``attempts`` were made, ``status`` the last answer.

    ``retryable`` is True when the last failure was transient (network error, timeout, 429,
    5xx), so that trying again later may succeed; refused addresses, unusable URLs and
    other answers are final.
    """

    def __init__(self, url: str, message: str, attempts: int, status: int | None = None,
                 *, retryable: bool = False) -> None:
        self.url = display_url(url)
        self.attempts = attempts
        self.status = status
        self.retryable = retryable
        super().__init__(f"webhook {self.url}: {message} (after {attempts} attempt(s))")


@dataclass(frozen=True)
class Delivery:
    """A delivered callback: the receiver's status and how many attempts it took."""

    status: int
    attempts: int


def webhook_secret(settings: Settings) -> str:
    """The signing secret (``settings.webhook_secret``); ``ConfigError`` when unset."""
    if not settings.webhook_secret:
        raise ConfigError("ADREVIEW_WEBHOOK_SECRET is not set: callbacks cannot be signed")
    return settings.webhook_secret


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    body: bytes, headers: Mapping[str, str], secret: str, *, tolerance: int = TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver does: True when the signature is right and the timestamp recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        timestamp = int(lowered.get(TIMESTAMP_HEADER.lower(), ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(given, sign(body, secret, timestamp))


def _vetted(url: httpx.URL, settings: Settings, allowed: tuple[IPNetwork, ...]) -> IPAddress:
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot resolve host {host!r} ({exc})") from exc
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        why = check_address(ip, settings, allowed)
        if why is not None:
            raise ConfigError(f"refused, host {host!r} resolves to {ip}, {why}")
        addresses.append(ip)
    if not addresses:
        raise ConfigError(f"host {host!r} has no address")
    return addresses[0]


def check_callback_url(url: str) -> httpx.URL:
    """``url`` parsed, if it is an absolute http(s) URL with a well-formed host and port
    (``worker.api.inputs.check_http_url``); ``ConfigError`` otherwise."""
    try:
        check_http_url("callback URL", url, MAX_CALLBACK_URL_LENGTH)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid callback URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ConfigError(f"callback URL {display_url(url)} must be an absolute http(s) URL")
    return parsed


def deliver_webhook(
    url: str,
    payload: Mapping[str, Any],
    secret: str,
    settings: Settings,
    *,
    allowed_networks: Iterable[IPNetwork] = (),
    attempts: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
) -> Delivery:
    """POST ``payload`` as signed JSON to ``url``, retrying transient failures.

    ``attempts``, ``backoff`` and ``timeout`` default to ``settings.webhook_attempts``,
    ``webhook_backoff`` and ``webhook_timeout``. Returns the ``Delivery`` on a 2xx answer.
    Raises ``WebhookError`` when the address is refused, the URL is unusable, the receiver
    answers a final 4xx, or every attempt fails (then ``retryable`` is True). Each attempt
    is signed afresh (a new timestamp).
    """
    if not secret:
        raise ConfigError("a webhook secret is needed to sign callbacks")
    attempts = max(1, settings.webhook_attempts if attempts is None else attempts)
    backoff = settings.webhook_backoff if backoff is None else backoff
    timeout = settings.webhook_timeout if timeout is None else timeout
    allowed = tuple(allowed_networks)
    try:
        parsed = check_callback_url(url)
    except ConfigError as exc:
        raise WebhookError(url, str(exc), 0) from exc
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    host = parsed.raw_host.decode("ascii")
    last = "no attempt made"
    status: int | None = None
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            delay = backoff * 2 ** (attempt - 2)
            time.sleep(delay + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not crypto
        try:
            ip = _vetted(parsed, settings, allowed)  # every attempt: DNS may have changed
        except ConfigError as exc:
            raise WebhookError(url, str(exc), attempt - 1) from exc
        timestamp = int(time.time())
        headers = {
            "Host": parsed.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": "adreview-webhook",
            SIGNATURE_HEADER: sign(body, secret, timestamp),
            TIMESTAMP_HEADER: str(timestamp),
        }
        extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False,
                              trust_env=False) as client:
                response = client.post(parsed.copy_with(host=str(ip)), content=body,
                                       headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            last, status = f"{type(exc).__name__}: {exc or 'network error'}", None
            log.info("webhook %s attempt %d failed: %s", display_url(url), attempt, last)
            continue
        status = response.status_code
        if 200 <= status < 300:
            return Delivery(status, attempt)
        last = f"HTTP {status}"
        if status != 429 and status < 500:
            raise WebhookError(url, f"{last}, not retried", attempt, status)
        log.info("webhook %s attempt %d: %s", display_url(url), attempt, last)
    raise WebhookError(url, last, attempts, status, retryable=True)


def verdict_payload(stored: StoredVerdict) -> dict[str, Any]:
    """The callback body for a stored verdict."""
    return {"event": "verdict", "submission": stored.submission, "verdict": stored.to_dict()}


def review_payload(stored: StoredVerdict) -> dict[str, Any]:
    """The callback body sent when a reviewer decision changes a submission's effective
    decision: the current verdict with ``effective_decision`` and the ``review``."""
    return {"event": "review", "submission": stored.submission,
            "effective_decision": stored.effective_decision.value,
            "review": None if stored.review is None else stored.review.to_dict(),
            "verdict": stored.to_dict()}


__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "WebhookError",
    "check_callback_url",
    "deliver_webhook",
    "review_payload",
    "sign",
    "verdict_payload",
    "verify_signature",
    "webhook_secret",
]
