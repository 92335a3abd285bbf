"""Image intake by URL and by shared path: SSRF guard, limits, redirects, path escapes.

A real HTTP server on 127.0.0.1 plays the image host. 127.0.0.1 is loopback, so default
settings refuse it; tests that download admit it through ``allowed_networks`` (every other
private, loopback and metadata address stays refused) or ``allow_private_urls``. No test
resolves a real internet name: literal addresses and odd numeric forms are resolved locally.
"""

from __future__ import annotations

import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from worker.errors import ErrorCode, ImageError
from worker.fetch import (
    address_refusal,
    check_address,
    display_url,
    fetch_image,
    resolve_shared_path,
)
from worker.settings import Settings

LOCAL = [ipaddress.ip_network("127.0.0.1/32")]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


@dataclass
class Seen:
    """What the test server saw: request paths and Host headers."""

    paths: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stop = threading.Event()
    seen = Seen()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up early (refused bodies, timeouts) are expected here."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: bytes, content_type: str = "image/png",
              **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.server.seen.paths.append(self.path)
        self.server.seen.hosts.append(self.headers.get("Host", ""))
        port = self.server.server_address[1]
        path = self.path.split("?", 1)[0]
        if path == "/img.png":
            self._send(200, PNG)
        elif path == "/octet":
            self._send(200, PNG, "application/octet-stream")
        elif path == "/html":
            self._send(200, b"<html><body>not an image</body></html>", "text/html; charset=utf-8")
        elif path == "/big":
            self._send(200, b"\0" * 5000)
        elif path == "/declared-huge":
            # Claims a gigabyte, sends almost nothing: must be refused on the header alone.
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            self.wfile.write(b"\0" * 10)
        elif path == "/stream-big":
            # No Content-Length: the body ends when the connection closes (HTTP/1.0).
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"\0" * 1000)
        elif path == "/lying-short":
            # Promises 100 bytes, sends 10, hangs up.
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"\0" * 10)
        elif path == "/lying-long":
            # Promises 10 bytes, sends 5000: only the promised 10 may be taken.
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"\1" * 5000)
        elif path == "/gzip":
            self._send(200, PNG, Content_Encoding="gzip")
        elif path == "/no-type":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif path == "/missing":
            self._send(404, b"nope", "text/plain")
        elif path == "/redirect":
            self._redirect("/img.png")
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{left - 1}" if left > 0 else "/img.png", 307)
        elif path == "/redirect-loop":
            self._redirect("/redirect-loop", 301)
        elif path == "/redirect-no-location":
            self.send_response(302)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/redirect-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/redirect-private":
            self._redirect("http://10.0.0.1/img.png")
        elif path == "/redirect-loopback-other":
            self._redirect(f"http://127.0.0.2:{port}/img.png")
        elif path == "/redirect-loopback-self":
            self._redirect(f"http://127.0.0.1:{port}/img.png")
        elif path == "/redirect-decimal":
            self._redirect(f"http://2130706433:{port}/img.png")
        elif path == "/redirect-file":
            self._redirect("file:///etc/passwd")
        elif path == "/slow":
            self.server.stop.wait(5)
            self._send(200, PNG)
        elif path == "/drip":
            # Each byte comes well within the read timeout; the whole body does not.
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            for _ in range(50):
                if self.server.stop.wait(0.1):
                    break
                self.wfile.write(b"\0")
                self.wfile.flush()
        else:
            self._send(500, b"unknown test path", "text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    """A threaded HTTP server on 127.0.0.1 with an ephemeral port."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.stop = threading.Event()
    httpd.seen = Seen()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def base(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "fetch_timeout": 5.0,
        "fetch_max_redirects": 3,
        "max_image_bytes": 1000,
        "allow_private_urls": False,
    }
    values.update(overrides)
    return Settings(**values)


def _refused(url: str, settings: Settings | None = None, *,
             allowed_networks: tuple[Any, ...] | list[Any] = ()) -> ImageError:
    with pytest.raises(ImageError) as info:
        fetch_image(url, settings or _settings(), allowed_networks=allowed_networks)
    return info.value


# --- the address classifier -------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, nothing binds it
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 for 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 for 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    why = address_refusal(ipaddress.ip_address(address))
    assert why is not None
    assert reason in why


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111",
     "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_allow_private_urls_lifts_every_refusal() -> None:
    settings = _settings(allow_private_urls=True)
    for address in ("127.0.0.1", "169.254.169.254", "10.0.0.1", "::1"):
        assert check_address(ipaddress.ip_address(address), settings) is None


def test_allowed_networks_lift_the_refusal_only_inside_them() -> None:
    settings = _settings()
    assert check_address(ipaddress.ip_address("127.0.0.1"), settings, LOCAL) is None
    assert check_address(ipaddress.ip_address("::ffff:127.0.0.1"), settings, LOCAL) is None
    for address in ("127.0.0.2", "169.254.169.254", "10.0.0.1", "::1"):
        assert check_address(ipaddress.ip_address(address), settings, LOCAL) is not None


# --- the SSRF guard on real requests ------------------------------------------------------

def test_when_defaults_then_the_loopback_server_is_refused_and_never_reached(
    server: _Server, base: str
) -> None:
    before = len(server.seen.paths)
    error = _refused(f"{base}/img.png")
    assert error.code is ErrorCode.FETCH_FAILED
    assert "127.0.0.1" in error.message
    assert "loopback" in error.message
    assert len(server.seen.paths) == before


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("localhost", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f000001", "loopback"),
        ("0x7f.1", "loopback"),
        ("127.1", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::1]", "loopback"),
        # Four dotted parts are parsed as strict IPv4 by the URL parser, which rejects octal.
        ("0177.0.0.1", "Invalid IPv4 address"),
    ],
)
def test_when_host_is_an_odd_form_of_loopback_then_it_is_refused(
    server: _Server, host: str, reason: str
) -> None:
    port = server.server_address[1]
    before = len(server.seen.paths)
    error = _refused(f"http://{host}:{port}/img.png")
    assert error.code is ErrorCode.FETCH_FAILED
    assert reason in error.message
    assert len(server.seen.paths) == before


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://10.0.0.1/x.png", "http://[fe80::1]/x.png",
                                 "http://0.0.0.0/x.png", "http://100.64.0.1/x.png"])
def test_when_url_is_internal_then_it_is_refused_before_connecting(url: str) -> None:
    started = time.monotonic()
    error = _refused(url)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "refused" in error.message
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png",
                                 "gopher://example.com/_x", "data:image/png;base64,AAAA",
                                 "/relative/path.png", "example.com/a.png"])
def test_when_scheme_is_not_http_then_it_is_refused(url: str) -> None:
    error = _refused(url)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "only http and https" in error.message


def test_when_url_is_not_parseable_then_fetch_failed() -> None:
    error = _refused("http://exa mple.com:99999/")
    assert error.code is ErrorCode.FETCH_FAILED


def test_allowed_network_admits_the_local_server(base: str) -> None:
    assert fetch_image(f"{base}/img.png", _settings(), allowed_networks=LOCAL) == PNG


def test_allow_private_urls_admits_the_local_server(base: str) -> None:
    assert fetch_image(f"{base}/img.png", _settings(allow_private_urls=True)) == PNG


def test_credentials_and_query_never_appear_in_messages(base: str) -> None:
    url = base.replace("http://", "http://alice:s3cret@") + "/missing?token=abc123"
    for allowed in ([], LOCAL):
        error = _refused(url, allowed_networks=allowed)
        assert "s3cret" not in str(error)
        assert "alice" not in str(error)
        assert "abc123" not in str(error)
        assert "127.0.0.1" in error.message
        assert "/missing" in error.message


def test_display_url_drops_user_info_query_and_fragment() -> None:
    shown = display_url("https://u:p@images.example:8443/a/b.png?sig=xyz#frag")
    assert shown == "https://images.example:8443/a/b.png?..."


# --- the DNS rebinding defence ----------------------------------------------------------

@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``images.example`` answers 127.0.0.1 once, then the metadata address (rebinding).

    There is no DNS server here, so ``socket.getaddrinfo`` is replaced for this one name;
    every other name and literal goes to the real resolver.
    """
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "images.example":
            lookups.append(host)
            answer = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
            return real(answer, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_when_name_rebinds_then_the_vetted_address_is_still_the_one_connected(
    server: _Server, rebinding_dns: list[str]
) -> None:
    port = server.server_address[1]
    data = fetch_image(f"http://images.example:{port}/img.png", _settings(),
                       allowed_networks=LOCAL)
    assert data == PNG
    assert rebinding_dns == ["images.example"]  # resolved once, by the guard
    assert server.seen.hosts[-1] == f"images.example:{port}"


def test_when_https_then_tls_server_name_is_the_original_host(
    tmp_path: Path, rebinding_dns: list[str]
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=images.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []

    def remember_name(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember_name
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        connection, _ = listener.accept()
        try:
            with context.wrap_socket(connection, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass  # the client refuses the self-signed certificate, as it should

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        error = _refused(f"https://images.example:{port}/img.png", allowed_networks=LOCAL)
    finally:
        thread.join(5)
        listener.close()
    assert error.code is ErrorCode.FETCH_FAILED
    assert "certificate" in error.message.lower()
    assert names == ["images.example"]
    assert rebinding_dns == ["images.example"]


# --- redirects ----------------------------------------------------------------------------

def test_when_redirected_to_another_path_then_it_is_followed(base: str) -> None:
    assert fetch_image(f"{base}/redirect", _settings(), allowed_networks=LOCAL) == PNG


def test_when_redirects_reach_the_limit_exactly_then_they_are_followed(base: str) -> None:
    # /chain/2 -> /chain/1 -> /chain/0 -> /img.png: three redirects.
    assert fetch_image(f"{base}/chain/2", _settings(), allowed_networks=LOCAL) == PNG


def test_when_redirects_exceed_the_limit_then_fetch_failed(base: str) -> None:
    error = _refused(f"{base}/chain/3", allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "more than 3 redirects" in error.message
    error = _refused(f"{base}/redirect-loop", allowed_networks=LOCAL)
    assert "more than 3 redirects" in error.message


def test_when_redirects_are_disabled_then_the_first_redirect_fails(base: str) -> None:
    error = _refused(f"{base}/redirect", _settings(fetch_max_redirects=0), allowed_networks=LOCAL)
    assert "more than 0 redirects" in error.message


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/redirect-metadata", "169.254.169.254, a link-local address"),
        ("/redirect-private", "10.0.0.1, a private address"),
        ("/redirect-loopback-other", "127.0.0.2, a loopback address"),
        ("/redirect-file", "only http and https"),
    ],
)
def test_when_redirected_to_a_forbidden_target_then_it_is_refused(
    base: str, path: str, reason: str
) -> None:
    error = _refused(f"{base}{path}", allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert reason in error.message


def test_when_redirected_to_an_allowed_address_in_any_form_then_it_is_followed(
    base: str,
) -> None:
    settings = _settings()
    assert fetch_image(f"{base}/redirect-loopback-self", settings, allowed_networks=LOCAL) == PNG
    assert fetch_image(f"{base}/redirect-decimal", settings, allowed_networks=LOCAL) == PNG


def test_when_redirect_has_no_location_then_fetch_failed(base: str) -> None:
    error = _refused(f"{base}/redirect-no-location", allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "without a Location" in error.message


# --- status, type, size, time -----------------------------------------------------------

def test_when_status_is_404_then_fetch_failed_names_the_status(base: str) -> None:
    error = _refused(f"{base}/missing", allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "HTTP 404" in error.message


def test_when_content_is_html_then_unsupported_format(base: str) -> None:
    error = _refused(f"{base}/html", allowed_networks=LOCAL)
    assert error.code is ErrorCode.UNSUPPORTED_FORMAT
    assert "text/html" in error.message


@pytest.mark.parametrize("path", ["/octet", "/no-type"])
def test_generic_binary_content_types_are_accepted(base: str, path: str) -> None:
    assert fetch_image(f"{base}{path}", _settings(), allowed_networks=LOCAL) == PNG


def test_when_body_is_compressed_against_the_request_then_fetch_failed(base: str) -> None:
    error = _refused(f"{base}/gzip", allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "gzip" in error.message


def test_when_content_length_exceeds_the_limit_then_image_too_large(base: str) -> None:
    error = _refused(f"{base}/big", allowed_networks=LOCAL)
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert "Content-Length 5000" in error.message


def test_when_declared_length_is_huge_then_refused_without_reading(base: str) -> None:
    error = _refused(f"{base}/declared-huge", allowed_networks=LOCAL)
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert str(10**9) in error.message


def test_when_streamed_body_without_length_exceeds_the_limit_then_image_too_large(
    base: str,
) -> None:
    error = _refused(f"{base}/stream-big", allowed_networks=LOCAL)
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert "body exceeds the limit of 1000 bytes" in error.message


def test_when_limit_is_large_enough_then_the_same_bodies_are_accepted(base: str) -> None:
    settings = _settings(max_image_bytes=100_000)
    assert len(fetch_image(f"{base}/big", settings, allowed_networks=LOCAL)) == 5000
    assert len(fetch_image(f"{base}/stream-big", settings, allowed_networks=LOCAL)) == 50_000


def test_when_body_is_shorter_than_its_content_length_then_fetch_failed(base: str) -> None:
    error = _refused(f"{base}/lying-short", allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED


def test_when_body_is_longer_than_its_content_length_then_only_the_declared_bytes_count(
    base: str,
) -> None:
    assert fetch_image(f"{base}/lying-long", _settings(), allowed_networks=LOCAL) == b"\1" * 10


def test_when_server_is_slow_then_fetch_failed_with_timeout(base: str) -> None:
    started = time.monotonic()
    error = _refused(f"{base}/slow", _settings(fetch_timeout=0.3), allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "timed out" in error.message
    assert time.monotonic() - started < 2.0


def test_when_body_trickles_past_the_deadline_then_fetch_failed_with_timeout(base: str) -> None:
    started = time.monotonic()
    error = _refused(f"{base}/drip", _settings(fetch_timeout=0.5), allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "timed out" in error.message
    assert time.monotonic() - started < 2.0


def test_when_nothing_listens_then_fetch_failed_cannot_connect() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    error = _refused(f"http://127.0.0.1:{port}/img.png", allowed_networks=LOCAL)
    assert error.code is ErrorCode.FETCH_FAILED
    assert "cannot connect" in error.message


# --- shared paths ---------------------------------------------------------------------------

@pytest.fixture
def shared(tmp_path: Path) -> Path:
    root = tmp_path / "shared"
    (root / "ads").mkdir(parents=True)
    (root / "ads" / "one.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    return root


def test_path_under_the_root_is_admitted(shared: Path) -> None:
    settings = _settings(shared_root=shared)
    expected = (shared / "ads" / "one.png").resolve()
    assert resolve_shared_path(shared / "ads" / "one.png", settings) == expected
    assert resolve_shared_path("ads/one.png", settings) == expected
    assert resolve_shared_path(str(shared / "ads" / ".." / "ads" / "one.png"), settings) == expected


def test_symlink_inside_the_root_resolves_to_its_target(shared: Path) -> None:
    (shared / "alias.png").symlink_to(shared / "ads" / "one.png")
    real = resolve_shared_path(shared / "alias.png", _settings(shared_root=shared))
    assert real == (shared / "ads" / "one.png").resolve()


@pytest.mark.parametrize("path", ["../secret.png", "ads/../../secret.png", "../nothing-here.png"])
def test_dotdot_escapes_are_refused(shared: Path, path: str) -> None:
    for given in (path, str(shared / path)):
        with pytest.raises(ImageError) as info:
            resolve_shared_path(given, _settings(shared_root=shared))
        assert info.value.code is ErrorCode.FETCH_FAILED
        assert "outside the shared root" in info.value.message


def test_absolute_path_elsewhere_is_refused(shared: Path) -> None:
    with pytest.raises(ImageError, match="outside the shared root"):
        resolve_shared_path(shared.parent / "secret.png", _settings(shared_root=shared))


@pytest.mark.parametrize("target", ["secret.png", "missing-outside.png"])
def test_symlink_pointing_outside_is_refused(shared: Path, target: str) -> None:
    (shared / "ads" / "link.png").symlink_to(shared.parent / target)
    with pytest.raises(ImageError) as info:
        resolve_shared_path(shared / "ads" / "link.png", _settings(shared_root=shared))
    assert "outside the shared root" in info.value.message


def test_symlinked_directory_pointing_outside_is_refused(shared: Path) -> None:
    (shared / "escape").symlink_to(shared.parent)
    with pytest.raises(ImageError, match="outside the shared root"):
        resolve_shared_path("escape/secret.png", _settings(shared_root=shared))


def test_missing_file_under_the_root_is_fetch_failed(shared: Path) -> None:
    with pytest.raises(ImageError) as info:
        resolve_shared_path("ads/two.png", _settings(shared_root=shared))
    assert info.value.code is ErrorCode.FETCH_FAILED
    assert "no such file" in info.value.message


def test_directory_is_not_an_image_file(shared: Path) -> None:
    with pytest.raises(ImageError, match="not a regular file"):
        resolve_shared_path("ads", _settings(shared_root=shared))


def test_when_shared_root_is_unset_then_paths_are_refused(shared: Path) -> None:
    with pytest.raises(ImageError) as info:
        resolve_shared_path(shared / "ads" / "one.png", _settings(shared_root=None))
    assert info.value.code is ErrorCode.FETCH_FAILED
    assert "path submissions are disabled" in info.value.message


def test_when_shared_root_does_not_exist_then_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="shared root"):
        resolve_shared_path("a.png", _settings(shared_root=tmp_path / "absent"))
