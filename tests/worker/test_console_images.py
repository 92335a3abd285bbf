"""The console decodes images as the worker does, on a real ``adreview serve`` process:
a PNG whose header declares 13000 x 13000 pixels (the worker refuses it) is 422 at once
with the server's memory flat, an unreadable image is 422, never 500."""

from __future__ import annotations

import base64
import io
import re
import struct
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.worker.processes import ServedApi, served_api
from worker.db import Store
from worker.db.keys import ApiKeys


def huge_png(side: int = 13000) -> bytes:
    """A grey PNG ``side`` pixels square, all black: a few hundred KB compressed."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, format="PNG")
    return out.getvalue()


def _inline(store: Store, data: bytes) -> str:
    return store.add_submission(None, "inline", metadata={
        "image_ref": {"inline": base64.b64encode(data).decode("ascii")}})


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[ServedApi, httpx.Client, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with Store.open(url) as store:
        _, key = ApiKeys(store).create("reviewer", "ana")
        ids = {"huge": _inline(store, huge_png()), "good": _inline(store, small_png()),
               "broken": _inline(store, small_png()[:60] + b"\x00" * 200)}
    with served_api(tmp_path, {"ADREVIEW_DATABASE_URL": url,
                               "ADREVIEW_REDIS_URL": "redis://127.0.0.1:1/0"}) as served, \
            httpx.Client(base_url=served.base, timeout=60) as http:
        form = http.get("/review/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = http.post("/review/login", data={"key": key, "csrf": csrf.group(1)})
        assert signed.status_code in (200, 303), signed.text
        yield served, http, ids


@pytest.mark.slow
def test_a_13000_pixel_square_png_through_the_frame_route_is_422_with_memory_flat(
    console: tuple[ServedApi, httpx.Client, dict[str, str]],
) -> None:
    served, http, ids = console
    good = http.get(f"/review/items/{ids['good']}/frame.png")
    assert good.status_code == 200 and good.headers["content-type"] == "image/png"
    before = served.rss_mb()
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:  # three at once, as the red team sent them
        answers = list(pool.map(
            lambda _: http.get(f"/review/items/{ids['huge']}/frame.png"), range(3)))
    took = time.monotonic() - started
    after = served.rss_mb()
    for answer in answers:
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "image_too_large"
        assert "169,000,000" in error["message"]
    assert took < 2.0, took
    assert abs(after - before) < 50, (before, after)


@pytest.mark.slow
def test_an_unreadable_image_is_422_and_a_missing_frame_404(
    console: tuple[ServedApi, httpx.Client, dict[str, str]],
) -> None:
    _, http, ids = console
    broken = http.get(f"/review/items/{ids['broken']}/frame.png")
    assert broken.status_code == 422, broken.text
    assert broken.json()["error"]["code"] == "invalid_image"
    missing = http.get(f"/review/items/{ids['good']}/frame.png?frame=3")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
