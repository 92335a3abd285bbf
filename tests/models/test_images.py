"""Safe decoding: accepted formats, hostile input, pixel modes, orientation, animations."""

from __future__ import annotations

import io
import itertools
import json
import random
import struct
import subprocess
import sys
import time
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFile

from models.images import (
    ANIMATION_PIXEL_FACTOR,
    MAX_ANIMATION_FRAMES,
    DecodedImage,
    Look,
    choose_looks,
    decode_image,
    describe_content,
    image_size,
    shown_ms,
    sniff_format,
)
from worker.errors import ErrorCode, ImageError
from worker.settings import Settings

DEFAULTS = Settings()
REPO = Path(__file__).resolve().parents[2]
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def refused(data: bytes, config: Settings = DEFAULTS) -> ImageError:
    with pytest.raises(ImageError) as caught:
        decode_image(data, config)
    return caught.value


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def halves(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Red left half, blue right half."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def pixel(decoded: DecodedImage, xy: tuple[int, int], frame: int = 0) -> tuple[int, ...]:
    value = decoded.frames[frame].getpixel(xy)
    assert isinstance(value, tuple)
    return value


def gif_bytes(screen: tuple[int, int], frames: list[tuple[int, int, int, int]]) -> bytes:
    """A GIF written by hand: each frame one pixel of data in the given (x, y, w, h) box."""
    head = b"GIF89a" + struct.pack("<HH", *screen) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    body = b"".join(
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"
        + b"\x2c" + struct.pack("<HHHH", *box) + b"\x00"
        + b"\x02\x02\x44\x01\x00"
        for box in frames
    )
    return head + body + b"\x3b"


def animation(count: int, marked: range = range(0), size: tuple[int, int] = (120, 90)) -> list[Image.Image]:
    """Frames with a small moving square (every frame differs, barely); frames in
    ``marked`` also show a red bar (the "claim")."""
    palette = [255, 255, 255, 255, 0, 0, 0, 0, 255, 0, 0, 0] + [0] * (256 * 3 - 12)
    frames = []
    for index in range(count):
        frame = Image.new("P", size, 0)
        frame.putpalette(palette)
        pen = ImageDraw.Draw(frame)
        x = index % (size[0] - 3)
        pen.rectangle((x, 0, x + 2, 2), fill=2 + (index // (size[0] - 3)) % 2)
        if index in marked:
            pen.rectangle((20, 40, 100, 60), fill=1)
        frames.append(frame)
    return frames


def save_all(frames: list[Image.Image], fmt: str, **options: object) -> bytes:
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)


def shows_claim(frame: Image.Image) -> bool:
    return close(frame.getpixel((60, 50)), RED, 0)  # type: ignore[arg-type]


@cache
def png_bomb() -> bytes:
    """A valid 1-bit 30000 x 30000 PNG: about 100 kB that would decode to 900 Mpx."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = bytes(1 + 30000 // 8)
    data = b"".join(packer.compress(row) for _ in range(30000)) + packer.flush()
    header = struct.pack(">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


# --- accepted formats ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {"quality": 95}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
    ],
)
def test_each_accepted_format_decodes_to_rgb(fmt: str, options: dict[str, object]) -> None:
    decoded = decode_image(encode(halves(), fmt, **options), DEFAULTS)
    assert decoded.format == fmt
    assert decoded.size == (40, 20)
    assert decoded.frame_count == 1 and decoded.frame_indices == (0,)
    [frame] = decoded.frames
    assert frame.mode == "RGB" and frame.size == (40, 20)
    assert close(pixel(decoded, (5, 10)), RED) and close(pixel(decoded, (35, 10)), BLUE)


def test_heic_decodes_through_pillow_heif() -> None:
    heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    heif.from_pillow(halves((64, 32))).save(buffer, format="HEIF", quality=95)
    decoded = decode_image(buffer.getvalue(), DEFAULTS)
    assert decoded.format == "HEIF" and decoded.size == (64, 32)
    assert close(pixel(decoded, (8, 16)), RED, 30) and close(pixel(decoded, (56, 16)), BLUE, 30)


def test_when_pillow_heif_is_missing_then_heic_is_unsupported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import models.images

    monkeypatch.setattr(models.images, "_heif_ready", lambda: False)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    error = refused(heic)
    assert error.code is ErrorCode.UNSUPPORTED_FORMAT
    assert "pillow-heif" in error.message


def test_decoding_is_by_content_not_by_file_name(tmp_path: Path) -> None:
    path = tmp_path / "banner.jpg"
    path.write_bytes(encode(halves(), "PNG"))
    assert decode_image(path.read_bytes(), DEFAULTS).format == "PNG"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "JPEG"),
        (b"\x89PNG\r\n\x1a\nrest", "PNG"),
        (b"GIF87a....", "GIF"),
        (b"GIF89a....", "GIF"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"BM" + bytes(12) + struct.pack("<I", 40) + bytes(8), "BMP"),
        (b"BM not a bitmap header at all", None),
        (b"II*\x00\x08\x00\x00\x00", "TIFF"),
        (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIF"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "HEIF"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", None),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", None),
        (b"<html><body>", None),
        (b"", None),
    ],
)
def test_formats_are_sniffed_from_their_first_bytes(data: bytes, expected: str | None) -> None:
    assert sniff_format(data) == expected


# --- hostile input -------------------------------------------------------------------


def test_when_the_image_is_empty_then_it_is_invalid() -> None:
    # Zero bytes are a failed upload or fetch, not a format the advertiser chose.
    error = refused(b"")
    assert error.code is ErrorCode.INVALID_IMAGE
    assert "empty" in error.message


def test_when_the_file_is_over_the_byte_limit_then_it_is_too_large() -> None:
    data = encode(Image.effect_noise((64, 64), 80).convert("RGB"), "PNG")
    error = refused(data, Settings(max_image_bytes=len(data) - 1))
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert f"{len(data):,} bytes" in error.message
    assert f"{len(data) - 1:,} bytes" in error.message


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    data = png_bomb()
    assert len(data) < 200_000
    started = time.perf_counter()
    error = refused(data)
    assert time.perf_counter() - started < 0.5
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert "30000x30000 = 900,000,000 pixels" in error.message
    assert "60,000,000" in error.message


def patched_size(fmt: str, width: int, height: int) -> bytes:
    """A small real image of ``fmt`` whose header now declares width x height."""
    data = bytearray(encode(Image.new("RGB", (16, 8), RED), fmt))
    if fmt == "PNG":
        data[16:24] = struct.pack(">II", width, height)
    elif fmt == "GIF":
        data[6:10] = struct.pack("<HH", width, height)
    elif fmt == "BMP":
        data[18:26] = struct.pack("<ii", width, height)
    elif fmt == "JPEG":
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    elif fmt == "TIFF":
        at = struct.unpack_from("<I", data, 4)[0]
        for entry in range(struct.unpack_from("<H", data, at)[0]):
            offset = at + 2 + 12 * entry
            tag, _kind = struct.unpack_from("<HH", data, offset)
            if tag in (256, 257):
                value = width if tag == 256 else height
                data[offset + 2 : offset + 12] = struct.pack("<HII", 4, 1, value)
    return bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "JPEG", "TIFF"])
def test_bombs_are_caught_from_every_formats_header(fmt: str) -> None:
    data = patched_size(fmt, 30000, 30000)
    assert image_size(data) == (30000, 30000)
    error = refused(data)
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert "30000x30000" in error.message


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("GIF", {}), ("BMP", {}), ("JPEG", {}), ("TIFF", {}),
     ("WEBP", {}), ("WEBP", {"lossless": True}), ("WEBP", {"exif": exif_bytes(6)})],
)
def test_header_sizes_agree_with_pillow(fmt: str, options: dict[str, object]) -> None:
    data = encode(Image.new("RGB", (173, 61), RED), fmt, **options)
    assert image_size(data) == (173, 61)


def test_a_webp_declaring_a_huge_canvas_is_refused() -> None:
    data = bytearray(encode(Image.new("RGBA", (16, 8)), "WEBP"))  # alpha: extended format
    assert data[12:16] == b"VP8X"
    data[24:30] = (29999).to_bytes(3, "little") * 2
    error = refused(bytes(data))
    assert error.code is ErrorCode.IMAGE_TOO_LARGE and "30000x30000" in error.message


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_when_a_gif_frame_grows_the_canvas_past_the_limit_then_it_is_refused(side: int) -> None:
    # The header says 10 x 10; the second frame lies far outside it. Pillow's own bomb
    # check fires while seeking (a warning at 100 Mpx, an error at 400 Mpx): neither
    # may escape as anything but an ImageError.
    data = gif_bytes((10, 10), [(0, 0, 1, 1), (side - 1, side - 1, 1, 1)])
    error = refused(data)
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert f"{side * side:,} pixels" in error.message


def test_when_a_gif_frame_grows_the_canvas_past_our_own_limit_then_it_is_refused() -> None:
    data = gif_bytes((50, 50), [(0, 0, 1, 1), (499, 499, 1, 1)])
    error = refused(data, Settings(max_image_pixels=10_000))
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert "500x500" in error.message and "10,000 pixels" in error.message


def test_a_limit_above_pillows_own_is_the_one_that_counts() -> None:
    before = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = 1000
        data = encode(Image.new("RGB", (100, 100), RED), "PNG")
        assert decode_image(data, Settings(max_image_pixels=20_000)).size == (100, 100)
    finally:
        Image.MAX_IMAGE_PIXELS = before


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"<!DOCTYPE html>\n<html><body>not an image</body></html>", "HTML"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><text>100%</text></svg>", "SVG"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "PostScript"),
        (b"8BPS\x00\x01" + bytes(40), "Photoshop"),
        (b"PK\x03\x04" + bytes(40), "ZIP"),
        (random.Random(7).randbytes(4096), "unrecognised"),
    ],
)
def test_things_that_are_not_images_are_unsupported(data: bytes, looks_like: str) -> None:
    error = refused(data)
    assert error.code is ErrorCode.UNSUPPORTED_FORMAT
    assert looks_like in error.message
    assert "accepted: BMP, GIF, HEIC/HEIF, JPEG, PNG, TIFF, WebP" in error.message


@pytest.mark.parametrize(("fmt", "options"), [
    ("ICO", {}), ("PCX", {}), ("PPM", {}), ("TGA", {}), ("JPEG2000", {}), ("AVIF", {}),
    ("DDS", {}), ("SGI", {}),
])
def test_other_formats_pillow_can_open_are_unsupported(fmt: str, options: dict[str, object]) -> None:
    data = encode(Image.new("RGB", (16, 16), RED), fmt, **options)
    assert Image.open(io.BytesIO(data)).size == (16, 16)  # Pillow itself would accept it
    assert refused(data).code is ErrorCode.UNSUPPORTED_FORMAT


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("WEBP", {}),
     ("WEBP", {"lossless": True}), ("GIF", {}), ("BMP", {}), ("TIFF", {})],
)
def test_when_an_image_is_truncated_then_it_is_invalid(fmt: str, options: dict[str, object]) -> None:
    noise = Image.effect_noise((200, 200), 60).convert("RGB")
    data = encode(noise, fmt, **options)
    for cut in (len(data) // 2, 40, 20):
        error = refused(data[:cut])
        assert error.code is ErrorCode.INVALID_IMAGE, (cut, error)
        assert f"corrupt or truncated {fmt} image" in error.message


def test_loading_truncated_images_stays_switched_off() -> None:
    data = encode(Image.effect_noise((100, 100), 60).convert("RGB"), "JPEG")
    assert refused(data[: len(data) // 2]).code is ErrorCode.INVALID_IMAGE
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_when_png_data_fails_its_checksum_then_it_is_invalid() -> None:
    data = bytearray(encode(Image.effect_noise((64, 64), 60).convert("RGB"), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 60] = bytes(range(50))
    error = refused(bytes(data))
    assert error.code is ErrorCode.INVALID_IMAGE
    assert error.message.startswith("corrupt or truncated PNG image")


@cache
def samples() -> dict[str, bytes]:
    noise = Image.effect_noise((24, 16), 60).convert("RGB")
    return {
        "JPEG": encode(noise, "JPEG"),
        "PNG": encode(noise, "PNG"),
        "WEBP": encode(noise, "WEBP"),
        "GIF": save_all(animation(4, size=(24, 16)), "GIF"),
        "BMP": encode(noise, "BMP"),
        "TIFF": encode(noise, "TIFF", compression="tiff_lzw"),
        "APNG": save_all([noise, noise.rotate(90)], "PNG"),
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "APNG"]),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=6),
)
def test_damaged_images_only_ever_raise_image_errors(
    fmt: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(samples()[fmt])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = data[: max(0, round(cut * len(data)))] if cut < 0.98 else data
    try:
        decoded = decode_image(bytes(data), DEFAULTS)
    except ImageError as error:
        assert error.code in (
            ErrorCode.INVALID_IMAGE, ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.IMAGE_TOO_LARGE
        )
    else:
        assert all(frame.mode == "RGB" for frame in decoded.frames)


# --- pixel modes ---------------------------------------------------------------------


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16)
    source = Image.fromarray(values)
    assert source.mode == "I;16"
    for fmt in ("PNG", "TIFF"):
        decoded = decode_image(encode(source, fmt), DEFAULTS)
        greys = [pixel(decoded, (x, 0))[0] for x in range(4)]
        assert greys == [0, 64, 128, 255], fmt


def test_32_bit_integer_and_float_greyscale_are_scaled() -> None:
    wide = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.int32))
    assert [pixel(decode_image(encode(wide, "TIFF"), DEFAULTS), (x, 0))[0] for x in range(3)] \
        == [0, 128, 255]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert [pixel(decode_image(encode(unit, "TIFF"), DEFAULTS), (x, 0))[0] for x in range(3)] \
        == [0, 128, 255]
    odd = Image.fromarray(np.array([[-100.0, 0.0, 100.0]], dtype=np.float32))
    greys = tuple(pixel(decode_image(encode(odd, "TIFF"), DEFAULTS), (x, 0))[0] for x in range(3))
    assert close(greys, (0, 128, 255), 1)


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # red ink
    decoded = decode_image(encode(cmyk, "JPEG", quality=95), DEFAULTS)
    assert decoded.frames[0].mode == "RGB"
    assert close(pixel(decoded, (16, 16)), RED)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_is_composited_on_white(fmt: str) -> None:
    image = Image.new("P", (20, 10), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (10, 0, 20, 10))
    decoded = decode_image(encode(image, fmt, transparency=0), DEFAULTS)
    assert pixel(decoded, (5, 5)) == WHITE  # transparent black -> white
    assert pixel(decoded, (15, 5)) == BLUE


@pytest.mark.parametrize(("mode", "ink"), [("LA", (0, 128)), ("RGBA", (0, 0, 0, 128))])
def test_alpha_is_composited_on_white(mode: str, ink: tuple[int, ...]) -> None:
    image = Image.new(mode, (20, 10), (0,) * len(ink))  # fully transparent black
    image.paste(ink, (10, 0, 20, 10))  # half-transparent black
    decoded = decode_image(encode(image, "PNG"), DEFAULTS)
    assert pixel(decoded, (5, 5)) == WHITE
    assert close(pixel(decoded, (15, 5)), (127, 127, 127), 2)


def test_colour_key_transparency_is_composited_on_white() -> None:
    image = Image.new("RGB", (20, 10), (1, 2, 3))
    image.paste(RED, (10, 0, 20, 10))
    decoded = decode_image(encode(image, "PNG", transparency=(1, 2, 3)), DEFAULTS)
    assert pixel(decoded, (5, 5)) == WHITE and pixel(decoded, (15, 5)) == RED


def test_one_bit_images_become_black_and_white_rgb() -> None:
    image = Image.new("1", (16, 8), 0)
    image.paste(1, (8, 0, 16, 8))
    for fmt in ("PNG", "BMP", "TIFF"):
        decoded = decode_image(encode(image, fmt), DEFAULTS)
        assert pixel(decoded, (2, 2)) == (0, 0, 0) and pixel(decoded, (12, 2)) == WHITE, fmt


# --- orientation ---------------------------------------------------------------------


def exif_jpeg(orientation: int) -> bytes:
    return encode(halves((40, 20)), "JPEG", quality=95, exif=exif_bytes(orientation))


def test_exif_rotated_jpeg_is_turned_upright() -> None:
    # Orientation 6: the camera was turned clockwise; the stored left edge is the top.
    decoded = decode_image(exif_jpeg(6), DEFAULTS)
    assert decoded.size == (20, 40) and decoded.frames[0].size == (20, 40)
    assert close(pixel(decoded, (10, 5)), RED) and close(pixel(decoded, (10, 35)), BLUE)


@pytest.mark.parametrize(
    ("orientation", "size", "red_at", "blue_at"),
    [
        (1, (40, 20), (5, 10), (35, 10)),
        (2, (40, 20), (35, 10), (5, 10)),
        (3, (40, 20), (35, 10), (5, 10)),
        (8, (20, 40), (10, 35), (10, 5)),
    ],
)
def test_every_exif_orientation_is_applied(
    orientation: int, size: tuple[int, int], red_at: tuple[int, int], blue_at: tuple[int, int]
) -> None:
    decoded = decode_image(exif_jpeg(orientation), DEFAULTS)
    assert decoded.size == size
    assert close(pixel(decoded, red_at), RED) and close(pixel(decoded, blue_at), BLUE)


def test_an_unreadable_exif_block_does_not_spoil_the_image() -> None:
    data = encode(halves(), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    decoded = decode_image(data, DEFAULTS)
    assert decoded.size == (40, 20)


# --- animations ----------------------------------------------------------------------


def sweep(count: int, size: tuple[int, int] = (120, 90)) -> list[Image.Image]:
    """Frames in which a tall bar sweeps across: every frame a new picture."""
    frames = []
    for index in range(count):
        frame = Image.new("RGB", size, WHITE)
        x = (index * (size[0] - 20)) // max(1, count - 1)
        ImageDraw.Draw(frame).rectangle((x, 0, x + 19, size[1] - 1), fill=BLUE)
        # One dark pixel per frame keeps frames that show the bar in one place apart
        # (Pillow merges equal frames).
        frame.putpixel((index % size[0], size[1] - 1 - index // size[0]), (0, 0, 0))
        frames.append(frame)
    return frames


def looks(*spec: tuple[float, float], change: float = 0.5) -> list[Look]:
    """Looks one after another, each given as (shown ms, change)."""
    made, clock = [], 0.0
    for frame, (shown, changed_share) in enumerate(spec):
        made.append(Look(frame, clock, shown, changed_share if frame else 1.0))
        clock += shown
    return made


def test_when_there_are_no_more_looks_than_the_cap_then_all_are_read() -> None:
    few = looks((100, 1), (10, 0.5), (300, 0.01))
    assert choose_looks(few, 12, 100) == few
    assert choose_looks(few[:1], 1, 100) == few[:1]


def test_when_there_are_too_many_looks_then_the_first_and_one_per_slot_are_read() -> None:
    many = looks(*[(40.0, 0.5)] * 300)
    chosen = [look.frame for look in choose_looks(many, 12, 100)]
    assert len(chosen) == 12 and chosen[0] == 0 and chosen[-1] > 270
    gaps = [b - a for a, b in itertools.pairwise(chosen[1:])]
    assert max(gaps) - min(gaps) <= 1


def test_a_look_nobody_can_see_never_takes_the_place_of_one_people_see() -> None:
    # In every slot a 20 ms flash of a big change competes with a plainly visible
    # smaller one: the visible one is read.
    spec = [(1000.0, 1.0)]
    for _ in range(30):
        spec += [(20.0, 0.9), (400.0, 0.05)]
    chosen = choose_looks(looks(*spec), 12, 100)
    assert all(look.shown_ms >= 100 for look in chosen)


def test_a_bigger_change_wins_its_slot_over_a_moving_decoration() -> None:
    spec = [(100.0, 1.0)] + [(100.0, 0.004)] * 40
    spec[23] = (100.0, 0.08)  # the claim appears
    assert 23 in [look.frame for look in choose_looks(looks(*spec), 12, 100)]


@settings(max_examples=300, deadline=None)
@given(
    spec=st.lists(st.tuples(st.floats(10, 5000), st.floats(0.003, 1)), min_size=1,
                  max_size=400),
    most=st.integers(1, 40),
)
def test_chosen_looks_start_at_frame_zero_keep_the_cap_and_cover_every_slot(
    spec: list[tuple[float, float]], most: int
) -> None:
    every = looks(*spec)
    chosen = choose_looks(every, most, 100)
    frames = [look.frame for look in chosen]
    assert frames[0] == 0 and frames == sorted(set(frames))
    assert len(chosen) == min(most, len(every))
    if len(every) > most > 1:
        end = every[-1].start_ms + every[-1].shown_ms
        width = end / (most - 1)
        slots = {min(most - 2, int(look.start_ms / width)) for look in every[1:]}
        covered = {min(most - 2, int(look.start_ms / width)) for look in chosen[1:]}
        assert slots <= covered


def test_browsers_show_very_short_delays_for_a_tenth_of_a_second() -> None:
    assert [shown_ms(d) for d in (0, 10, 19, 20, 40, 1000)] == [100, 100, 100, 20, 40, 1000]
    assert shown_ms(None) == 100 and shown_ms("x") == 100


def test_a_gif_whose_picture_barely_changes_is_read_once_for_its_whole_length() -> None:
    data = save_all(animation(300), "GIF", duration=40, loop=0)
    decoded = decode_image(data, DEFAULTS)
    assert decoded.format == "GIF" and decoded.frame_count == 300
    assert decoded.frame_indices == (0,) and decoded.shown_ms == (12000.0,)


def test_a_gif_of_300_distinct_frames_is_read_in_max_frames_spread_over_it() -> None:
    data = save_all(sweep(300), "GIF", duration=40, loop=0)
    decoded = decode_image(data, DEFAULTS)
    assert decoded.frame_count == 300 and len(decoded.frames) == 12
    assert decoded.frame_indices[0] == 0 and decoded.frame_indices[-1] > 270
    assert all(frame.mode == "RGB" and frame.size == (120, 90) for frame in decoded.frames)
    gaps = [b - a for a, b in itertools.pairwise(decoded.frame_indices[1:])]
    assert max(gaps) - min(gaps) <= 1
    few = decode_image(data, Settings(max_frames=4)).frame_indices
    assert len(few) == 4 and few[0] == 0 and few[-1] > 200


@pytest.mark.parametrize("position", [1, 2, 7, 19, 30, 44, 58, 59])
def test_a_claim_shown_in_one_frame_anywhere_in_a_60_frame_gif_is_read(position: int) -> None:
    data = save_all(animation(60, marked=range(position, position + 1)), "GIF", duration=100)
    decoded = decode_image(data, DEFAULTS)
    assert decoded.frame_count == 60
    assert position in decoded.frame_indices
    assert [shows_claim(frame) for frame in decoded.frames].count(True) == 1


def test_a_claim_shown_only_at_the_end_of_a_long_gif_is_read() -> None:
    data = save_all(animation(300, marked=range(280, 300)), "GIF", duration=40)
    decoded = decode_image(data, DEFAULTS)
    assert decoded.frame_indices == (0, 280)
    assert not shows_claim(decoded.frames[0]) and shows_claim(decoded.frames[1])
    assert decoded.shown_ms == (280 * 40.0, 20 * 40.0)


def test_a_claim_flashed_between_many_distinct_frames_is_read() -> None:
    # More looks than the cap: the frame where the claim appears wins its slot.
    frames = [frame.copy() for frame in sweep(60)]
    ImageDraw.Draw(frames[37]).rectangle((20, 40, 100, 60), fill=RED)
    decoded = decode_image(save_all(frames, "GIF", duration=100), DEFAULTS)
    assert len(decoded.frames) == 12 and 37 in decoded.frame_indices


def test_a_claim_that_blinks_is_one_look_shown_for_all_its_blinks() -> None:
    frames = animation(40, marked=range(0))
    for index in range(5, 40, 10):
        for blink in range(index, index + 5):
            ImageDraw.Draw(frames[blink]).rectangle((20, 40, 100, 60), fill=1)
    decoded = decode_image(save_all(frames, "GIF", duration=50), DEFAULTS)
    assert decoded.frame_indices == (0, 5)
    assert decoded.shown_ms == (1000.0, 1000.0)


def test_a_brief_frame_is_read_when_the_cap_leaves_room() -> None:
    frames = animation(10, marked=range(4, 5))
    durations = [200] * 10
    durations[4] = 30  # shown for 30 ms: brief, but the only frame showing the claim
    decoded = decode_image(save_all(frames, "GIF", duration=durations), DEFAULTS)
    assert decoded.frame_indices == (0, 4)
    assert decoded.shown_ms == (1800.0, 30.0)


@pytest.mark.parametrize(("fmt", "options"), [("WEBP", {"lossless": True}), ("PNG", {})])
def test_animated_webp_and_png_are_read_by_look(fmt: str, options: dict[str, object]) -> None:
    frames = [frame.convert("RGB") for frame in animation(30, marked=range(25, 30))]
    decoded = decode_image(save_all(frames, fmt, duration=40, **options), DEFAULTS)
    assert decoded.frame_count == 30
    assert decoded.frame_indices == (0, 25)
    assert shows_claim(decoded.frames[-1]) and not shows_claim(decoded.frames[0])


def test_identical_frames_are_read_once() -> None:
    still = Image.new("RGB", (40, 30), RED)
    other = Image.new("RGB", (40, 30), BLUE)
    frames = [still if index % 2 == 0 else other for index in range(10)]
    decoded = decode_image(save_all(frames, "WEBP", lossless=True, duration=100), DEFAULTS)
    assert decoded.frame_count == 10
    assert decoded.frame_indices == (0, 1)
    assert decoded.shown_ms == (500.0, 500.0)


def test_one_frame_of_an_animation_is_decoded_on_its_own() -> None:
    data = save_all(animation(30, marked=range(25, 30)), "GIF", duration=40)
    late = decode_image(data, DEFAULTS, frame=27)
    assert late.frame_indices == (27,) and len(late.frames) == 1
    assert shows_claim(late.frames[0])
    assert not shows_claim(decode_image(data, DEFAULTS, frame=3).frames[0])
    assert decode_image(data, DEFAULTS, frame=99).frame_indices == (29,)
    assert decode_image(encode(halves(), "PNG"), DEFAULTS, frame=5).frame_indices == (0,)


def test_an_animation_with_too_many_frames_is_refused() -> None:
    data = gif_bytes((1, 1), [(0, 0, 1, 1)] * (MAX_ANIMATION_FRAMES + 1))
    error = refused(data)
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert f"{MAX_ANIMATION_FRAMES + 1:,} frames" in error.message


def test_an_animation_with_too_many_pixels_to_decode_is_refused() -> None:
    config = Settings(max_image_pixels=100 * 100)
    frames = ANIMATION_PIXEL_FACTOR + 1
    data = gif_bytes((100, 100), [(0, 0, 1, 1)] * frames)
    error = refused(data, config)
    assert error.code is ErrorCode.IMAGE_TOO_LARGE
    assert f"{frames} frames of 100x100" in error.message
    assert decode_image(gif_bytes((100, 100), [(0, 0, 1, 1)] * (frames - 1)), config)


def test_a_camera_mpo_is_read_as_its_primary_jpeg() -> None:
    data = save_all([halves(), Image.new("RGB", (40, 20), WHITE)], "MPO")
    decoded = decode_image(data, DEFAULTS)
    assert decoded.format == "MPO" and decoded.frame_count == 1 and len(decoded.frames) == 1
    assert close(pixel(decoded, (5, 10)), RED)


def test_every_page_of_a_multi_page_tiff_is_read_in_order_up_to_the_frame_cap() -> None:
    data = save_all([halves(), Image.new("RGB", (40, 20), WHITE),
                     Image.new("RGB", (30, 30), RED)], "TIFF")
    decoded = decode_image(data, DEFAULTS)
    assert decoded.frame_count == 3 and decoded.frame_indices == (0, 1, 2)
    assert close(pixel(decoded, (5, 10)), RED)
    assert decoded.frames[1].getpixel((5, 10)) == WHITE
    assert decoded.frames[2].size == (30, 30) and decoded.size == (40, 30)
    capped = decode_image(data, DEFAULTS.model_copy(update={"max_frames": 2}))
    assert (capped.frame_count, capped.frame_indices) == (3, (0, 1))
    assert decode_image(data, DEFAULTS, frame=1).frames[0].getpixel((5, 10)) == WHITE


def test_a_long_gif_is_decoded_in_bounded_memory(tmp_path: Path) -> None:
    # 300 frames of 600 x 600 would be 324 MB kept as RGB; only the 12 frames read
    # (13 MB) may stay, though every frame is a new picture and the chosen ones are
    # decoded in a second pass. Measured in a fresh process so other tests cannot mask
    # the peak.
    path = tmp_path / "long.gif"
    path.write_bytes(save_all(sweep(300, size=(600, 600)), "GIF", duration=40))
    script = (
        "import json, resource, sys\n"
        "from models.images import decode_image\n"
        "from worker.settings import Settings\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "decoded = decode_image(data, Settings())\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'kept': len(decoded.frames), 'growth_kb': after - before}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )
    report = json.loads(run.stdout)
    assert report["kept"] == 12
    assert report["growth_kb"] < 80 * 1024, report


def test_description_of_unknown_content_shows_its_first_bytes() -> None:
    assert describe_content(b"\x01\x02\x03") == "unrecognised data starting 01 02 03"
