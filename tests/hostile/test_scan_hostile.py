"""Hostile files through `adreview scan`: each gets the right decision or error code, the
scan goes on to the next file, nothing is dropped, and memory stays bounded."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.models.test_images import animation, exif_bytes, png_bomb, save_all
from worker.samples import render_ad

PLAIN = ((255, 255, 255), (20, 20, 20))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def hostile_files() -> dict[str, tuple[bytes, str]]:
    """file name -> (content, expected decision or error code)."""
    claim = render_ad(["全网第一"], colours=PLAIN, size=(480, 200))
    png = encode(claim, "PNG")
    jpeg = encode(claim, "JPEG", quality=90)
    webp = encode(claim, "WEBP", quality=90)
    rng = random.Random(7)
    rotated = claim.rotate(90, expand=True)  # stored sideways, EXIF says turn it back
    palette = claim.convert("P")
    background = palette.getpixel((0, 0))  # the white around the text turns transparent
    return {
        "01-zero-bytes.jpg": (b"", "invalid_image"),
        "02-truncated.jpg": (jpeg[: len(jpeg) // 2], "invalid_image"),
        "03-truncated.png": (png[: len(png) // 2], "invalid_image"),
        "04-truncated.webp": (webp[: len(webp) // 2], "invalid_image"),
        "05-png-named-jpg.jpg": (png, "reject"),
        "06-bomb.png": (png_bomb(), "image_too_large"),
        "07-page.html.png": ("<!doctype html><html><body>全网第一</body></html>".encode(),
                             "unsupported_format"),
        "08-vector.svg.png": ('<svg xmlns="http://www.w3.org/2000/svg"><text>全网第一</text></svg>'.encode(),
                              "unsupported_format"),
        "09-document.pdf.jpg": (b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "unsupported_format"),
        "10-random.png": (rng.randbytes(4096), "unsupported_format"),
        "11-polyglot.gif": (b"GIF89a" + rng.randbytes(64) + b"<script>alert(1)</script>",
                            "invalid_image"),
        "12-16-bit.png": (encode(claim.convert("L").point(lambda v: v * 256, "I").convert("I;16"),
                                 "PNG"), "reject"),
        "13-cmyk.jpg": (encode(claim.convert("CMYK"), "JPEG", quality=92), "reject"),
        "14-palette-transparent.png": (
            encode(palette, "PNG", transparency=background), "reject"),
        "15-exif-rotated.jpg": (
            encode(rotated, "JPEG", quality=92, exif=exif_bytes(6)), "reject"),
        # 300 frames of shapes and no text: sampled, not all decoded at once, and clean.
        "16-300-frames.gif": (save_all(animation(300, marked=range(250, 300)), "GIF"), "pass"),
        "17-good-ad-last.png": (png, "reject"),
    }


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, object]], int]:
    folder = tmp_path_factory.mktemp("hostile")
    for name, (data, _) in hostile_files().items():
        (folder / name).write_bytes(data)
    db = f"sqlite:///{folder.parent / 'hostile.db'}"
    # A wrapper process runs the scan and reports the peak memory of the scan and its pool
    # (its only descendants), untouched by whatever else this test session started.
    wrapper = (
        "import resource, subprocess, sys\n"
        "code = subprocess.call(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-m", "worker.cli", "scan", str(folder),
         "--json", "--jobs", "2", "--db", db],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "ADREVIEW_MAX_IMAGE_PIXELS": "40000000"},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    return [json.loads(line) for line in result.stdout.splitlines()], peak_kib


def test_every_hostile_file_gets_its_decision_or_error_code(
    scanned: tuple[list[dict[str, object]], int],
) -> None:
    lines, _ = scanned
    expected = hostile_files()
    assert [Path(str(line["image"])).name for line in lines] == sorted(expected)
    for line in lines:
        name = Path(str(line["image"])).name
        want = expected[name][1]
        error = line["error"]
        got = error["code"] if isinstance(error, dict) else line["decision"]
        assert got == want, (name, line)
        if isinstance(error, dict):
            assert line["decision"] == "error" and error["message"]


def test_memory_stays_bounded_through_bombs_and_long_animations(
    scanned: tuple[list[dict[str, object]], int],
) -> None:
    _, peak_kib = scanned
    print(f"\npeak resident memory of the scan: {peak_kib / 1024:.0f} MiB")
    assert peak_kib < 1_000_000, f"peak resident memory {peak_kib / 1024:.0f} MiB"
