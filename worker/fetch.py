"""Image intake by URL or shared path, guarded against SSRF and path escapes.

``fetch_image(url, settings)`` downloads an image over http(s):

* only ``http`` and ``https`` URLs are fetched;
* the host is resolved once with ``socket.getaddrinfo`` and refused when **any** of its
  addresses is loopback, private, link-local (cloud metadata at 169.254.169.254),
  unspecified, multicast, reserved, CGNAT, documentation or benchmarking space, or an IPv6
  address that embeds one of those (IPv4-mapped, NAT64, 6to4) - unless
  ``settings.allow_private_urls`` is set or the address lies in ``allowed_networks``;
  odd literal forms such as ``2130706433``, ``0x7f.1`` or ``0177.0.0.1`` are resolved by
  ``getaddrinfo`` to the address they mean and refused like any other;
* DNS rebinding is defeated by **connecting to the vetted address** instead of letting the
  HTTP client resolve the name a second time: the request goes to ``scheme://<ip>:<port>``
  with the original ``Host`` header, and for https the TLS server name (SNI and certificate
  check) is set to the original host through httpx's ``sni_hostname`` request extension;
* redirects are followed by hand, at most ``settings.fetch_max_redirects`` of them, and every
  hop goes through the same scheme and address checks;
* ``settings.fetch_timeout`` is the deadline for the whole fetch (all hops and the body);
  every connect/read/write waits at most the time left when its hop starts;
* the body may not exceed ``settings.max_image_bytes``: a larger ``Content-Length`` is
  refused before reading, and the bytes actually received are counted while streaming;
* the ``Content-Type`` must be ``image/*`` or ``application/octet-stream`` (a missing one is
  taken as ``application/octet-stream``, as RFC 9110 allows); the decoder checks the bytes
  themselves later anyway.

``resolve_shared_path(path, settings)`` admits a path submission only when it lies, after
resolving ``..`` and symlinks, under ``settings.shared_root``.

Every refusal is an :class:`~worker.errors.ImageError` with a stable code; messages name the
URL without its credentials or query string, and say why.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import httpx

from worker.errors import ErrorCode, ImageError
from worker.settings import Settings

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Schemes ``fetch_image`` accepts.
ALLOWED_SCHEMES = frozenset({"http", "https"})
#: Statuses whose ``Location`` header is followed.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Media types accepted besides ``image/*``.
GENERIC_BINARY_TYPES = frozenset({"application/octet-stream"})

# Address blocks refused for image URLs, each with the reason given in the error message.
# Python's ``ipaddress`` flags are checked as well (see ``address_refusal``); this table
# keeps the policy explicit and independent of the Python patch release.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (cloud metadata lives here)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay anycast address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), why)
    for net, why in (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001::/32", "a Teredo tunnel address"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from, or None when it is a public address.

    IPv6 addresses that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``) are judged by the IPv4 address inside.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded, kind = _embedded_ipv4(ip)
        if embedded is not None:
            inner = address_refusal(embedded)
            return None if inner is None else f"{inner} ({kind} {embedded})"
        table: Sequence[tuple[IPNetwork, str]] = _REFUSED_V6
    else:
        table = _REFUSED_V4
    for network, why in table:
        if ip in network:
            return why
    # Belt and braces: whatever the standard library knows to be special is refused too.
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    """The IPv4 address an IPv6 address stands for, if it is one of the embedding forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64 for"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4 for"
    return None, ""


def check_address(
    ip: IPAddress, settings: Settings, allowed_networks: Iterable[IPNetwork] = ()
) -> str | None:
    """The refusal reason for ``ip`` under ``settings``, or None when it may be fetched from.

    ``settings.allow_private_urls`` lifts every refusal; ``allowed_networks`` lifts it only for
    addresses inside those networks (an IPv4-mapped address counts as its IPv4 address).
    """
    if settings.allow_private_urls:
        return None
    why = address_refusal(ip)
    if why is None:
        return None
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    for network in allowed_networks:
        if any(c.version == network.version and c in network for c in candidates):
            return None
    return why


#: The setting that lets workers fetch from private, loopback and link-local addresses.
ALLOW_PRIVATE_SETTING = "ADREVIEW_ALLOW_PRIVATE_URLS=true"
#: Host names that always mean this machine (RFC 6761).
LOOPBACK_NAMES = ("localhost", "localhost.")


def url_refusal(url: str, settings: Settings) -> str | None:
    """Why workers will refuse to fetch ``url``, judged at submit time, or None.

    The same scheme and address checks as ``fetch_image``, without DNS: a host given as an
    address (``10.0.0.5``, ``[::1]``, ``2130706433``) or ``localhost`` is judged here; a
    name is resolved, and may still be refused, only by the worker.
    """
    try:
        parsed = _parse_url(url)
        _check_scheme(parsed)
    except ImageError as exc:
        return exc.message
    host = parsed.raw_host.decode("ascii", "replace").lower()
    ip = _literal_address(host)
    if ip is None:
        if host in LOOPBACK_NAMES or host.endswith(".localhost"):
            why: str | None = "a loopback address"
        else:
            return None
    else:
        why = check_address(ip, settings)
    if why is None or settings.allow_private_urls:
        return None
    return (f"{display_url(parsed)}: workers refuse to fetch from {host}, {why} "
            f"(set {ALLOW_PRIVATE_SETTING} on the workers to allow it)")


def _literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells out (in any form ``getaddrinfo`` reads without DNS:
    ``127.0.0.1``, ``::1``, ``2130706433``, ``0x7f.1``), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if not host or any(c not in "0123456789abcdefx." for c in host) or not host[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def display_url(url: httpx.URL | str) -> str:
    """``url`` fit for messages and logs: no user name, password, query or fragment."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
        shown = parsed.copy_with(username=None, password=None, query=None, fragment=None)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<unparseable URL>"
    text = str(shown)
    return f"{text}?..." if parsed.query else text


def fetch_image(
    url: str, settings: Settings, *, allowed_networks: Iterable[IPNetwork] = ()
) -> bytes:
    """Download the image at ``url`` with the SSRF, size, type and time guards above.

    ``allowed_networks`` admits addresses that would otherwise be refused as non-public
    (e.g. an internal image store, or a test server on 127.0.0.1) while every other
    private, loopback and metadata address stays refused.

    Raises :class:`ImageError` with ``fetch_failed`` (bad URL, refused address, network
    error, timeout, non-2xx status, too many redirects), ``image_too_large`` or
    ``unsupported_format`` (a non-image ``Content-Type``).
    """
    allowed = tuple(allowed_networks)
    deadline = time.monotonic() + settings.fetch_timeout
    current = _parse_url(url)
    redirects = 0
    while True:
        _check_scheme(current)
        addresses = _vetted_addresses(current, settings, allowed)
        location = _fetch_hop(current, addresses, settings, deadline)
        if isinstance(location, bytes):
            return location
        if redirects >= settings.fetch_max_redirects:
            raise ImageError(
                ErrorCode.FETCH_FAILED,
                f"{display_url(url)}: more than {settings.fetch_max_redirects} redirects",
            )
        redirects += 1
        try:
            target = current.join(location)
        except (httpx.InvalidURL, ValueError) as exc:
            raise ImageError(
                ErrorCode.FETCH_FAILED,
                f"{display_url(current)}: redirect to an invalid URL ({exc})",
            ) from exc
        log.debug("redirect %d: %s -> %s", redirects, display_url(current), display_url(target))
        current = target


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ImageError(ErrorCode.FETCH_FAILED, f"invalid image URL: {exc}") from exc
    return parsed


def _check_scheme(url: httpx.URL) -> None:
    if url.scheme not in ALLOWED_SCHEMES:
        shown = url.scheme or "no scheme"
        raise ImageError(
            ErrorCode.FETCH_FAILED,
            f"{display_url(url)}: only http and https URLs are fetched, not {shown}",
        )
    if not url.raw_host:
        raise ImageError(ErrorCode.FETCH_FAILED, f"{display_url(url)}: the URL has no host")


def _vetted_addresses(
    url: httpx.URL, settings: Settings, allowed: Sequence[IPNetwork]
) -> list[IPAddress]:
    """Every address ``url``'s host resolves to, or a refusal if any of them is off limits."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise ImageError(
            ErrorCode.FETCH_FAILED, f"{display_url(url)}: cannot resolve host {host!r} ({exc})"
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        # Scoped IPv6 addresses come back as "fe80::1%eth0"; the scope plays no part here.
        raw = str(info[4][0]).split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(raw)
        except ValueError as exc:
            raise ImageError(
                ErrorCode.FETCH_FAILED,
                f"{display_url(url)}: host {host!r} resolved to an unusable address {raw!r}",
            ) from exc
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise ImageError(
            ErrorCode.FETCH_FAILED, f"{display_url(url)}: host {host!r} has no address"
        )
    for ip in addresses:
        why = check_address(ip, settings, allowed)
        if why is not None:
            raise ImageError(
                ErrorCode.FETCH_FAILED,
                f"{display_url(url)}: refused, host {host!r} resolves to {ip}, {why}",
            )
    return addresses


def _time_left(url: httpx.URL, deadline: float, settings: Settings) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ImageError(
            ErrorCode.FETCH_FAILED,
            f"{display_url(url)}: timed out after {settings.fetch_timeout:g} s",
        )
    return left


def _fetch_hop(
    url: httpx.URL, addresses: Sequence[IPAddress], settings: Settings, deadline: float
) -> bytes | str:
    """One request, pinned to the vetted addresses: the body, or a redirect's ``Location``."""
    host = url.raw_host.decode("ascii")
    headers = {
        # The netloc without user info: host, and the port when it is not the default.
        "Host": url.netloc.decode("ascii"),
        "Accept": "image/*, application/octet-stream;q=0.9",
        # Compressed bodies would make the byte count meaningless (and allow zip bombs).
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    last_error: httpx.TransportError | None = None
    for ip in addresses:
        pinned = url.copy_with(host=str(ip))
        left = _time_left(url, deadline, settings)
        timeout = httpx.Timeout(min(settings.fetch_timeout, left))
        try:
            # A fresh client per hop: its connection pool is keyed by IP, and a pooled
            # TLS connection must never be reused for a different server name.
            with (
                httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
                client.stream("GET", pinned, headers=headers, extensions=extensions) as response,
            ):
                return _read_response(url, response, settings, deadline)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            log.debug("%s: connecting to %s failed: %s", display_url(url), ip, exc)
            last_error = exc
        except httpx.TimeoutException as exc:
            raise ImageError(
                ErrorCode.FETCH_FAILED,
                f"{display_url(url)}: timed out ({type(exc).__name__})",
            ) from exc
        except httpx.HTTPError as exc:
            raise ImageError(
                ErrorCode.FETCH_FAILED,
                f"{display_url(url)}: {type(exc).__name__}: {exc or 'network error'}",
            ) from exc
        except httpx.InvalidURL as exc:
            # httpx builds the next request of every redirect, even unfollowed, and
            # refuses a Location it cannot parse as a URL of its own (mailto:, data:,
            # javascript:, a scheme-less "http:x") with InvalidURL, not an HTTPError.
            raise ImageError(
                ErrorCode.FETCH_FAILED,
                f"{display_url(url)}: the server redirected to an unusable URL ({exc})",
            ) from exc
    raise ImageError(
        ErrorCode.FETCH_FAILED,
        f"{display_url(url)}: cannot connect ({type(last_error).__name__}: {last_error})",
    )


def _read_response(
    url: httpx.URL, response: httpx.Response, settings: Settings, deadline: float
) -> bytes | str:
    shown = display_url(url)
    status = response.status_code
    if status in REDIRECT_STATUSES:
        location = str(response.headers.get("location", ""))
        if not location:
            raise ImageError(
                ErrorCode.FETCH_FAILED, f"{shown}: HTTP {status} redirect without a Location"
            )
        return location
    if not 200 <= status < 300:
        raise ImageError(
            ErrorCode.FETCH_FAILED, f"{shown}: HTTP {status} {response.reason_phrase}".rstrip()
        )
    content_type = response.headers.get("content-type", "application/octet-stream")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not (media_type.startswith("image/") or media_type in GENERIC_BINARY_TYPES):
        raise ImageError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"{shown}: Content-Type {media_type or '(empty)'!s} is not an image",
        )
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ImageError(
            ErrorCode.FETCH_FAILED,
            f"{shown}: the server sent a {encoding}-encoded body although identity was asked",
        )
    limit = settings.max_image_bytes
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{shown}: Content-Length {int(declared)} bytes exceeds the limit of {limit} bytes",
        )
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > limit:
            raise ImageError(
                ErrorCode.IMAGE_TOO_LARGE,
                f"{shown}: the body exceeds the limit of {limit} bytes",
            )
        _time_left(url, deadline, settings)
    return bytes(body)


def resolve_shared_path(path: str | Path, settings: Settings) -> Path:
    """The real path of a path submission, which must lie under ``settings.shared_root``.

    A relative ``path`` is taken relative to the shared root. ``..`` components and symlinks
    are resolved before the containment check, so neither can lead outside the root; the
    check happens before the file's existence is tested, so a refusal says nothing about
    files outside the root. The returned path has no symlinks left in it.

    Raises :class:`ImageError` (``fetch_failed``) when path submissions are disabled
    (``shared_root`` unset), the path leads outside the root, or no regular file is there.
    """
    if settings.shared_root is None:
        raise ImageError(
            ErrorCode.FETCH_FAILED,
            f"{path}: path submissions are disabled (ADREVIEW_SHARED_ROOT is not set)",
        )
    try:
        root = settings.shared_root.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ImageError(
            ErrorCode.FETCH_FAILED,
            f"{path}: the shared root {settings.shared_root} is not usable ({exc})",
        ) from exc
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    outside = ImageError(
        ErrorCode.FETCH_FAILED, f"{path}: refused, it lies outside the shared root {root}"
    )
    # Lexical check first (``..`` escapes), then the real location (symlinks).
    if not Path(os.path.normpath(candidate)).is_relative_to(root):
        raise outside
    try:
        loose = candidate.resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise ImageError(ErrorCode.FETCH_FAILED, f"{path}: cannot resolve ({exc})") from exc
    if not loose.is_relative_to(root):
        raise outside
    try:
        real = candidate.resolve(strict=True)
    except FileNotFoundError as exc:
        raise ImageError(ErrorCode.FETCH_FAILED, f"{path}: no such file") from exc
    except (OSError, RuntimeError) as exc:
        raise ImageError(ErrorCode.FETCH_FAILED, f"{path}: cannot resolve ({exc})") from exc
    if not real.is_relative_to(root):
        raise outside
    if not real.is_file():
        raise ImageError(ErrorCode.FETCH_FAILED, f"{path}: not a regular file")
    return real
