"""Checks on what callers send, before anything reaches the database.

PostgreSQL text and JSONB cannot hold a NUL character, neither backend can encode a lone
surrogate, JSON has no NaN or infinity, and the columns have lengths. Each check here
raises ``ValueError`` with a message naming the field, which the API answers with 422
``invalid_request``; the storage layer's own refusal (``InvalidRecord``) stays a last
line of defence.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

#: Longest image URL (``submissions.source`` holds ``url:`` plus the URL in 2,048).
MAX_URL_LENGTH = 2000
#: Longest callback URL.
MAX_CALLBACK_URL_LENGTH = 2000
#: Largest ``metadata`` object, as compact JSON (UTF-8 bytes).
MAX_METADATA_BYTES = 64 * 1024
#: Deepest nesting of ``metadata`` (objects and lists).
MAX_METADATA_DEPTH = 16


def text_problem(value: str) -> str | None:
    """What makes ``value`` unstorable as text (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def check_text(field: str, value: str) -> str:
    """``value`` if it can be stored as text; ``ValueError`` naming ``field`` otherwise."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"{field} {problem}")
    return value


def check_optional_text(field: str, value: str | None) -> str | None:
    """``check_text`` for a value that may be missing."""
    return None if value is None else check_text(field, value)


def check_json(field: str, value: Any, depth: int = 0) -> None:
    """``ValueError`` unless ``value`` is plain JSON that both backends store as given:
    string keys, storable strings, finite numbers, at most ``MAX_METADATA_DEPTH`` deep."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{field} is nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) >= 2**63:
            raise ValueError(f"{field} holds an integer too large to store")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field} holds {value!r}, which JSON has no form for")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{field} has a key that is not a string")
            check_text(f"{field} key {key[:40]!r}", key)
            check_json(f"{field}.{key[:40]}", item, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(f"{field}[{index}]", item, depth + 1)
    else:
        raise ValueError(f"{field} holds a {type(value).__name__}, not JSON")


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """``metadata`` if it is a storable JSON object no larger than ``MAX_METADATA_BYTES``."""
    if value is None:
        return None
    check_json("metadata", value)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size:,} bytes as JSON; the limit is "
                         f"{MAX_METADATA_BYTES:,}")
    return value


#: One label of a host name (after IDNA encoding).
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def check_http_url(field: str, url: str, max_length: int = MAX_URL_LENGTH) -> str:
    """``url`` if it is an absolute http(s) URL with a well-formed host (a name, an IPv4
    address or a bracketed IPv6 address) and port, no spaces or control characters, and
    at most ``max_length`` characters; ``ValueError`` naming ``field`` otherwise."""
    if len(url) > max_length:
        raise ValueError(f"{field} is {len(url):,} characters; the limit is {max_length:,}")
    check_text(field, url)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError(f"{field} contains a space or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{field} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{field} must be an http(s) URL")
    host = parts.hostname
    if not host:
        raise ValueError(f"{field} has no host")
    if port == 0:
        raise ValueError(f"{field} has port 0")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"{field} has a bracketed host that is not an IPv6 address") \
                from None
        return url
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{field} has a host name that is not valid") from None
    labels = ascii_host.rstrip(".").split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{field} has a host name that is not valid")
    return url


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"metadata holds {name}, which JSON has no form for")


def parse_metadata(raw: str | None) -> dict[str, Any] | None:
    """The ``metadata`` form field: a JSON object (empty or missing: None), checked."""
    if raw is None or raw == "":
        return None
    check_text("metadata", raw)
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"metadata is not JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels") \
            from None
    if not isinstance(value, dict):
        raise ValueError("metadata must be a JSON object")
    return check_metadata(value)


__all__ = [
    "MAX_CALLBACK_URL_LENGTH",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_URL_LENGTH",
    "check_http_url",
    "check_json",
    "check_metadata",
    "check_optional_text",
    "check_text",
    "parse_metadata",
    "text_problem",
]
