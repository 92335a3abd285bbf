"""Safe image decoding, shared by every OCR engine.

``decode_image(data, settings)`` turns untrusted bytes into RGB frames or raises
``ImageError`` with a stable code. The checks run cheapest first, and no pixel is decoded
before the image has passed the size limits:

1. empty input -> ``invalid_image``. Zero bytes carry no format at all; an empty body is
   almost always a failed upload or fetch, so it is reported as a broken image rather than
   as a format choice the advertiser could fix;
2. more than ``settings.max_image_bytes`` -> ``image_too_large``;
3. the format is recognised by content, never by file name (``sniff_format``). Only JPEG,
   PNG, WebP, GIF, BMP, TIFF and HEIC/HEIF (through the optional ``pillow-heif`` package)
   are accepted; everything else - HTML, SVG, PDF, random bytes, and formats Pillow could
   open such as PSD, ICO, PCX or EPS - is ``unsupported_format``. Pillow is only ever asked
   to try the one plug-in the content names, so it never probes foreign formats;
4. width x height over ``settings.max_image_pixels`` -> ``image_too_large``, read from the
   file header (``image_size``) and again from Pillow's header parse, both before any
   pixel data is decoded (decompression bombs);
5. truncated or corrupt data (for PNG: a failed chunk checksum too) -> ``invalid_image``.
   Every exception Pillow raises is mapped to an ``ImageError``; Pillow's own bomb warning
   is turned into an error inside the decoder, so it never escapes as a warning.

Frames are normalised to RGB: EXIF orientation applied; transparency (RGBA, LA, palette
or colour-key transparency) composited on white; CMYK converted; 16-bit and 32-bit
greyscale scaled to 8 bits (not clipped); 1-bit and float images converted.

Animated GIF, WebP and PNG: every visually distinct picture is read, up to
``settings.max_frames`` frames. Each frame is decoded in turn and compared, as a small
grey thumbnail (``THUMBNAIL_SIDE``), with the picture on screen - the frame that last
started a new one: a frame showing something new (more than ``settings.frame_change`` of
the thumbnail changed by more than ``PIXEL_CHANGE`` grey levels) starts a new *look*,
unless it shows again one of the ``RECENT_LOOKS`` looks before (a claim that blinks on
and off is one look). A frame that barely differs adds its display time to the look on
screen. Display times are the frames' delays as browsers show them: a delay under
``SHORT_DELAY`` ms is shown for ``SHORT_DELAY_SHOWN`` ms.

Which looks are read (``choose_looks``), each from the frame it started on:

- all of them, when there are at most ``max_frames``: none is dropped, however briefly
  it shows, since it may be the only one showing a claim;
- otherwise the first (frame 0: what a still preview shows) and, spread over the
  animation's running time cut into ``max_frames - 1`` equal slots, the most telling
  look that starts in each slot, then the most telling of the rest while room is left.
  Most telling: *visible* first - shown for at least ``settings.frame_min_ms`` in all,
  so a picture nobody can see never takes the place of one people see - then the larger
  change it brought (to a tenth of the picture), then the longer display time, then the
  nearer the middle of its slot.

Frames are decoded one at a time; only the thumbnails of recent looks and the frames of
at most ``max_frames`` looks are kept, so memory stays bounded by the cap, not the
animation's length. When there are more looks than that, the chosen frames the first
pass did not keep are decoded again in a second pass. Animations with more than
``MAX_ANIMATION_FRAMES`` frames, or whose frames add up to more than
``ANIMATION_PIXEL_FACTOR * max_image_pixels`` pixels to decode, are refused as
``image_too_large``. Multi-image files that are not animations (multi-page TIFF, MPO
stereo JPEG, HEIF collections) are read from their first (primary) image.

``decode_image(data, settings, frame=N)`` decodes frame ``N`` alone (to draw evidence on
the frame it was read in).
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, UnidentifiedImageError

from worker.errors import ErrorCode, ImageError
from worker.settings import Settings

log = logging.getLogger(__name__)

#: Pillow format names ``decode_image`` accepts ("MPO" is a camera JPEG with extra images).
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF"})

#: Formats whose extra frames are an animation to sample (others: first image only).
ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG"})
#: Formats whose extra frames are pages (each read in full, in order), not animation.
PAGED_FORMATS = frozenset({"TIFF"})

#: Animations declaring more frames than this are refused: no real ad needs them, and a
#: file of thousands of tiny frames is a cheap way to make a worker spin.
MAX_ANIMATION_FRAMES = 2000

#: An animation may make the decoder touch at most this many times ``max_image_pixels``
#: pixels in all (frames x width x height) in one pass, since every frame must be decoded
#: in turn to compare it with the last.
ANIMATION_PIXEL_FACTOR = 16

#: Animation frames are compared as grey thumbnails at most this many pixels long.
THUMBNAIL_SIDE = 128
#: A thumbnail pixel has changed when its grey level moved by more than this (of 255).
PIXEL_CHANGE = 16
#: A new frame is compared with at most this many of the looks before the one on screen.
RECENT_LOOKS = 16
#: Browsers show a frame whose delay is under ``SHORT_DELAY`` ms for ``SHORT_DELAY_SHOWN``.
SHORT_DELAY = 20.0
SHORT_DELAY_SHOWN = 100.0

_ACCEPTED_NAMES = "BMP, GIF, HEIC/HEIF, JPEG, PNG, TIFF, WebP"

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_HEVC_BRANDS = _HEIF_BRANDS - {b"mif1", b"msf1"}
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for OCR.

    ``frames`` are RGB: one for a still image, the frames of an animation chosen to be
    read. ``size`` is (width, height) after EXIF rotation. ``format`` is Pillow's format
    name ("JPEG", "GIF", ...). ``frame_count`` is the number of frames in the file (1 for
    still images) and ``frame_indices`` which of them ``frames`` holds, in order;
    ``shown_ms``, for an animation, how long each of them is on screen in all (its
    look's display time), else empty.
    """

    frames: tuple[Image.Image, ...]
    size: tuple[int, int]
    format: str
    frame_count: int
    frame_indices: tuple[int, ...]
    shown_ms: tuple[float, ...] = ()


def decode_image(data: bytes, settings: Settings, *, frame: int | None = None) -> DecodedImage:
    """Decode untrusted image bytes into RGB frames, enforcing the settings' limits.

    ``frame`` decodes that frame of an animation alone (its index in the file; one past
    the end is the last frame; a still image is its one frame). Raises ``ImageError``
    (``invalid_image``, ``image_too_large`` or ``unsupported_format``) for anything that
    cannot be reviewed; never a Pillow error.
    """
    if not data:
        raise ImageError(ErrorCode.INVALID_IMAGE, "image is empty (0 bytes)")
    if len(data) > settings.max_image_bytes:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image is {len(data):,} bytes; the limit is {settings.max_image_bytes:,} bytes",
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"not an accepted image format ({describe_content(data)}); "
            f"accepted: {_ACCEPTED_NAMES}",
        )
    if fmt == "HEIF" and not _heif_ready():
        raise ImageError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "HEIC/HEIF images need the pillow-heif package, which is not installed",
        )
    declared = image_size(data)
    if declared is not None:
        _check_pixels(declared, fmt, settings.max_image_pixels)
    _raise_pillow_pixel_limit(settings.max_image_pixels)
    with _pillow_errors(fmt, settings.max_image_pixels):
        if fmt == "PNG":
            # Pillow skips the checksums of image data; libpng (and so browsers) do not.
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                probe.verify()
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            _check_pixels(image.size, fmt, settings.max_image_pixels)
            return _decode_opened(image, settings, frame)


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name of an accepted image format, judged by content; else None."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 18 and _u32le(head, 14) in _BMP_HEADER_SIZES:
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if _is_heif(data):
        return "HEIF"
    return None


def describe_content(data: bytes) -> str:
    """A short human description of what non-image bytes look like, for error messages."""
    head = data[:1024]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    known: list[tuple[bool, str]] = [
        (text.startswith((b"<!doctype html", b"<html")), "an HTML document"),
        (text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text),
         "an SVG vector image"),
        (text.startswith(b"<?xml"), "an XML document"),
        (head.startswith(b"%PDF"), "a PDF document"),
        (head.startswith(b"%!PS"), "a PostScript/EPS document"),
        (head.startswith(b"8BPS"), "a Photoshop document"),
        (head.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")), "an ICO/CUR icon"),
        (head.startswith(b"PK\x03\x04"), "a ZIP archive"),
        (head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS, "an AVIF image"),
        (head[4:8] == b"ftyp", "an MP4/QuickTime-family file"),
        (head.startswith(b"\x00\x00\x00\x0cjP  "), "a JPEG 2000 image"),
    ]
    for matched, description in known:
        if matched:
            return f"looks like {description}"
    return f"unrecognised data starting {data[:8].hex(' ')}"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as the file header declares it, without decoding; None if unknown.

    Reads the headers of JPEG, PNG, GIF, WebP, BMP and TIFF directly (HEIF is left to its
    decoder), so that absurd sizes are refused before any decoder sees the data. For JPEG
    and TIFF the size is before EXIF rotation, which does not change the pixel count.
    """
    try:
        fmt = sniff_format(data)
        if fmt == "PNG" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if fmt == "GIF":
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if fmt == "BMP":
            return _bmp_size(data)
        if fmt == "WEBP":
            return _webp_size(data)
        if fmt == "JPEG":
            return _jpeg_size(data)
        if fmt == "TIFF":
            return _tiff_size(data)
    except (struct.error, IndexError):
        return None
    return None


@dataclass(frozen=True)
class Look:
    """What an animation shows for a while: the frame it starts on, when (ms from the
    start), how long it is on screen in all (every return counted), and how much of the
    picture changed when it started (0-1; 1 for the first)."""

    frame: int
    start_ms: float
    shown_ms: float
    change: float


def choose_looks(looks: Sequence[Look], max_frames: int, min_ms: float) -> list[Look]:
    """The looks to read, in order (see the module docstring)."""
    max_frames = max(1, max_frames)
    if len(looks) <= max_frames:
        return list(looks)
    end = max(look.start_ms + look.shown_ms for look in looks)
    count = max(1, max_frames - 1)
    width = end / count

    def telling(look: Look) -> tuple[bool, float, float, float]:
        # Changes within a tenth of the picture count as alike; then the longer shown.
        middle = (min(count - 1, int(look.start_ms / width)) + 0.5) * width
        return (look.shown_ms >= min_ms, round(look.change, 1), look.shown_ms,
                -abs(look.start_ms - middle))

    slots: dict[int, Look] = {}
    for look in looks[1:]:
        slot = min(count - 1, int(look.start_ms / width))
        if slot not in slots or telling(look) > telling(slots[slot]):
            slots[slot] = look
    chosen = {looks[0].frame: looks[0]}
    if max_frames > 1:
        for look in slots.values():
            chosen[look.frame] = look
    for look in sorted(looks[1:], key=telling, reverse=True):
        if len(chosen) >= max_frames:
            break
        chosen.setdefault(look.frame, look)
    return sorted(chosen.values(), key=lambda look: look.frame)


def shown_ms(delay: object) -> float:
    """How long browsers show a frame with this delay (ms; Pillow's ``duration``)."""
    if not isinstance(delay, int | float) or delay != delay or delay < SHORT_DELAY:
        return SHORT_DELAY_SHOWN
    return float(delay)


def thumbnail(frame: Image.Image) -> npt.NDArray[np.int16]:
    """A frame as a small grey thumbnail (``THUMBNAIL_SIDE``), for comparing frames."""
    grey = frame.convert("L")
    scale = THUMBNAIL_SIDE / max(grey.size)
    if scale < 1:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.int16)


def changed(a: npt.NDArray[np.int16], b: npt.NDArray[np.int16]) -> float:
    """The share of two thumbnails' pixels that differ by more than ``PIXEL_CHANGE``
    (1.0 when their sizes differ)."""
    if a.shape != b.shape:
        return 1.0
    return float(np.count_nonzero(np.abs(a - b) > PIXEL_CHANGE)) / max(1, a.size)


# --- decoding ------------------------------------------------------------------------


def _decode_opened(
    image: Image.Image, settings: Settings, only: int | None = None
) -> DecodedImage:
    fmt = image.format or "unknown"
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(ErrorCode.INVALID_IMAGE, f"{fmt} image has no pixels ({width}x{height})")
    orientation = _orientation(image)
    frame_count = 1
    if fmt in ANIMATED_FORMATS and getattr(image, "is_animated", False):
        frame_count = int(getattr(image, "n_frames", 1))
        _check_animation(frame_count, image.size, fmt, settings.max_image_pixels)

    def upright(index: int) -> Image.Image:
        """Frame ``index`` (at or after the current one) as upright RGB."""
        if index != image.tell():
            image.seek(index)
            # A GIF frame may lie outside the logical screen and grow the canvas.
            _check_pixels(image.size, fmt, settings.max_image_pixels)
        frame = _to_rgb(image)
        return frame.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else frame

    if fmt in PAGED_FORMATS and getattr(image, "n_frames", 1) > 1:
        frame_count = int(getattr(image, "n_frames", 1))
        if frame_count > MAX_ANIMATION_FRAMES:
            _check_animation(frame_count, image.size, fmt, settings.max_image_pixels)
    if frame_count == 1 or only is not None:
        index = 0 if frame_count == 1 or only is None else min(max(0, only), frame_count - 1)
        if index < image.tell():
            image.seek(0)
        frame = upright(index)
        return DecodedImage((frame,), frame.size, fmt, frame_count, (index,))
    if fmt in PAGED_FORMATS:
        return _pages(image, fmt, frame_count, settings, upright)
    looks, kept = _looks(image, frame_count, settings, upright)
    chosen = choose_looks(looks, settings.max_frames, settings.frame_min_ms)
    missing = [look.frame for look in chosen if look.frame not in kept]
    if missing:
        image.seek(0)
        kept.update((index, upright(index)) for index in missing)
    frames = tuple(kept[look.frame] for look in chosen)
    size = (max(f.width for f in frames), max(f.height for f in frames))
    return DecodedImage(frames, size, fmt, frame_count, tuple(look.frame for look in chosen),
                        tuple(look.shown_ms for look in chosen))


def _pages(image: Image.Image, fmt: str, page_count: int, settings: Settings,
           upright: Callable[[int], Image.Image]) -> DecodedImage:
    """The pages of a multi-page file (a TIFF), each a frame read in full: the first
    ``settings.max_frames`` of them, each within the pixel limit and all of them within
    the animations' pixel budget. A claim on page 2 is read like one on page 1."""
    count = min(page_count, max(1, settings.max_frames))
    frames: list[Image.Image] = []
    total = 0
    for index in range(count):
        if index:
            image.seek(index)
        width, height = image.size
        _check_pixels((width, height), fmt, settings.max_image_pixels)
        total += width * height
        if total > ANIMATION_PIXEL_FACTOR * settings.max_image_pixels:
            raise ImageError(
                ErrorCode.IMAGE_TOO_LARGE,
                f"{fmt} pages 1-{index + 1} hold {total:,} pixels to decode; the limit is "
                f"{ANIMATION_PIXEL_FACTOR * settings.max_image_pixels:,} pixels")
        frames.append(upright(index))
    size = (max(f.width for f in frames), max(f.height for f in frames))
    return DecodedImage(tuple(frames), size, fmt, page_count, tuple(range(count)))


def _looks(
    image: Image.Image,
    frame_count: int,
    settings: Settings,
    upright: Callable[[int], Image.Image],
) -> tuple[list[Look], dict[int, Image.Image]]:
    """Every look of an animation, and the frames of the first ``max_frames`` of them."""
    looks: list[Look] = []
    thumbs: list[npt.NDArray[np.int16] | None] = []
    kept: dict[int, Image.Image] = {}
    current = 0
    clock = 0.0
    for index in range(frame_count):
        frame = upright(index)
        delay = shown_ms(image.info.get("duration"))
        thumb = thumbnail(frame)
        if looks:
            screen = thumbs[current]
            change = 1.0 if screen is None else changed(thumb, screen)
            if change <= settings.frame_change:
                looks[current] = _longer(looks[current], delay)
                clock += delay
                continue
            again = _seen_again(thumb, thumbs, current, settings.frame_change)
            if again is not None:
                current = again
                looks[current] = _longer(looks[current], delay)
                clock += delay
                continue
        else:
            change = 1.0
        looks.append(Look(index, clock, delay, change))
        thumbs.append(thumb)
        current = len(looks) - 1
        if len(thumbs) > RECENT_LOOKS + 1:
            thumbs[-RECENT_LOOKS - 2] = None
        if len(kept) < settings.max_frames:
            kept[index] = frame
        clock += delay
    return looks, kept


def _longer(look: Look, delay: float) -> Look:
    return Look(look.frame, look.start_ms, look.shown_ms + delay, look.change)


def _seen_again(
    thumb: npt.NDArray[np.int16],
    thumbs: Sequence[npt.NDArray[np.int16] | None],
    current: int,
    threshold: float,
) -> int | None:
    """The most recent earlier look ``thumb`` shows again, if any."""
    for index in range(len(thumbs) - 1, max(-1, len(thumbs) - 2 - RECENT_LOOKS), -1):
        other = thumbs[index]
        if index != current and other is not None and changed(thumb, other) <= threshold:
            return index
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB image of the current frame; transparency is composited on white."""
    mode = image.mode
    if mode in _HIGH_DEPTH_MODES:
        return _to_8bit(image).convert("RGB")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Greyscale of more than 8 bits scaled (not clipped) to 8 bits."""
    array = np.asarray(image)
    if image.mode.startswith("I;16"):
        return Image.fromarray((array >> 8).astype(np.uint8))
    values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low = float(values.min()) if values.size else 0.0
    high = float(values.max()) if values.size else 0.0
    if image.mode == "F" and low >= 0.0 and high <= 1.0:
        scaled = values * 255.0
    elif low >= 0.0 and high <= 255.0:
        scaled = values
    elif image.mode == "I" and low >= 0.0 and high <= 65535.0:
        scaled = values / 257.0
    else:
        scaled = (values - low) * (255.0 / (high - low))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable (a bad EXIF block is not
    a reason to refuse an otherwise good image)."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception as exc:  # any EXIF parse failure means "no rotation"
        log.debug("ignoring unreadable EXIF data: %s", exc)
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation of an opened image (1-8; 1 when absent or unreadable), read
    from its header without decoding pixels."""
    return _orientation(image)


# --- limits --------------------------------------------------------------------------


def _check_pixels(size: tuple[int, int], fmt: str, limit: int) -> None:
    width, height = size
    if width * height > limit:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{fmt} image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {limit:,} pixels",
        )


def _check_animation(frame_count: int, size: tuple[int, int], fmt: str, limit: int) -> None:
    if frame_count > MAX_ANIMATION_FRAMES:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{fmt} animation has {frame_count:,} frames; the limit is "
            f"{MAX_ANIMATION_FRAMES:,} frames",
        )
    width, height = size
    total = frame_count * width * height
    budget = ANIMATION_PIXEL_FACTOR * limit
    if total > budget:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{fmt} animation has {frame_count:,} frames of {width}x{height} = {total:,} "
            f"pixels to decode; the limit is {budget:,} pixels",
        )


def _raise_pillow_pixel_limit(limit: int) -> None:
    """Let our own limit decide: Pillow's bomb check may be stricter than the settings.

    Only ever raises Pillow's process-wide limit, to exactly the configured one (which is
    checked here before Pillow decodes anything); it is never lowered or disabled.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < limit:
        Image.MAX_IMAGE_PIXELS = limit


_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@contextmanager
def _pillow_errors(fmt: str, limit: int) -> Iterator[None]:
    """Map everything Pillow raises to ``ImageError``; Pillow's bomb warning is an error.

    Pillow's other warnings (corrupt EXIF, odd chunks) are informational: they are logged
    at debug level rather than printed or, under strict warning filters, raised.
    ``catch_warnings`` swaps process-wide state: decodes overlapping in threads may leave
    the bomb-warning-is-an-error filter installed, which is this module's intent anyway.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            found = _BOMB_PIXELS.search(str(exc))
            declared = f"declares {int(found.group(1)):,} pixels" if found else "is too large"
            raise ImageError(
                ErrorCode.IMAGE_TOO_LARGE,
                f"{fmt} image {declared}; the limit is {limit:,} pixels",
            ) from exc
        except MemoryError as exc:
            raise ImageError(
                ErrorCode.IMAGE_TOO_LARGE, f"{fmt} image needs more memory than is available"
            ) from exc
        except Exception as exc:  # Pillow raises many types; all mean "corrupt"
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, UnidentifiedImageError):
                reason = "the header is not valid"
            raise ImageError(
                ErrorCode.INVALID_IMAGE, f"corrupt or truncated {fmt} image: {reason}"
            ) from exc
    for warning in caught:
        log.debug("while decoding a %s image: %s", fmt, warning.message)


@cache
def _heif_ready() -> bool:
    """Register the optional pillow-heif plug-in on first use; False when not installed."""
    try:
        plugin = importlib.import_module("pillow_heif")
    except ImportError:
        return False
    # Thumbnails, depth maps and auxiliary images are never read here; skip decoding them.
    plugin.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    return True


# --- header parsing ------------------------------------------------------------------


def _u32le(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _is_heif(data: bytes) -> bool:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    major = data[8:12]
    if major not in _HEIF_BRANDS:
        return False
    if major in _HEVC_BRANDS:
        return True
    # mif1/msf1 are shared with AVIF: look at the compatible brands.
    box_size = struct.unpack(">I", data[:4])[0]
    compatible = data[16 : min(box_size, 256)]
    brands = {compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)}
    return bool(brands & _HEVC_BRANDS) or not brands & _AVIF_BRANDS


def _bmp_size(data: bytes) -> tuple[int, int]:
    if _u32le(data, 14) == 12:
        width, height = struct.unpack_from("<HH", data, 18)
        return width, height
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = _u32le(data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header found
            return None
        length = struct.unpack_from(">H", data, offset + 2)[0]
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, offset + 5)
            return width, height
        offset += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    if data[2:4] in (b"+\x00", b"\x00+"):  # BigTIFF: left to the decoder
        return None
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    count = struct.unpack_from(order + "H", data, ifd)[0]
    tags: dict[int, int] = {}
    for entry in range(min(count, 512)):
        tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * entry)
        if tag in (256, 257):
            if kind == 3:  # SHORT
                tags[tag] = struct.unpack_from(order + "H", value)[0]
            elif kind == 4:  # LONG
                tags[tag] = struct.unpack_from(order + "I", value)[0]
    if 256 in tags and 257 in tags:
        return tags[256], tags[257]
    return None
