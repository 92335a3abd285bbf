"""The sample ads' drawing kit: fonts (and which of them cover a text), colours with
enough contrast, and the geometry of boxes carried through rotations.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from PIL import ImageFont

from models.base import Box, Point
from worker.errors import ConfigError

Colour = tuple[int, int, int]
Rect = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont



def _rng(key: str) -> random.Random:
    """A generator seeded by ``key`` (strings seed deterministically across processes)."""
    return random.Random(key)  # noqa: S311 - test data, not secrets


# --------------------------------------------------------------------------- fonts

#: Where font packages put their files (Debian, then local installs).
FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
)

#: Font family -> (file name, face index in a collection); ``make fonts`` installs them.
FONT_FILES: dict[str, tuple[str, int]] = {
    "sans": ("NotoSansCJK-Regular.ttc", 2),  # face 2 is "Noto Sans CJK SC"
    "sans-bold": ("NotoSansCJK-Bold.ttc", 2),
    "serif": ("NotoSerifCJK-Regular.ttc", 2),
    "serif-bold": ("NotoSerifCJK-Bold.ttc", 2),
    "zenhei": ("wqy-zenhei.ttc", 0),
    "kaiti": ("ukai.ttc", 0),  # AR PL UKai CN: brush kaishu
    "wenkai": ("LXGWWenKai-Regular.ttf", 0),  # handwriting-like kai
    "wenkai-bold": ("LXGWWenKai-Bold.ttf", 0),
    "display": ("SmileySans-Oblique.ttf", 0),  # condensed display face, GB2312 only
}
#: Tried in order when a family is missing or lacks a glyph of the text.
FALLBACK = ("sans-bold", "sans", "zenhei", "serif", "wenkai", "kaiti")

PLAIN_FONTS = ("sans", "sans-bold", "serif", "serif-bold", "zenhei")
ARTISTIC_FONTS = ("kaiti", "wenkai", "wenkai-bold", "display")


@cache
def font_path(family: str) -> tuple[Path, int] | None:
    """The file and face index of ``family`` on this machine, or None when absent."""
    name, index = FONT_FILES[family]
    for folder in FONT_DIRS:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob(name)):
            return path, index
    return None


def available_fonts() -> list[str]:
    """The families of ``FONT_FILES`` installed here."""
    return [family for family in FONT_FILES if font_path(family) is not None]


@cache
def load_font(family: str, size: int) -> Font:
    """``family`` at ``size`` px (ConfigError when it is not installed)."""
    found = font_path(family)
    if found is None:
        raise ConfigError(f"font family {family!r} is not installed; run `make fonts`")
    path, index = found
    return ImageFont.truetype(str(path), size, index=index)


@cache
def _notdef(family: str) -> bytes:
    # A code point no CJK font maps: what the font draws for a missing glyph.
    return bytes(load_font(family, 32).getmask("\U000ffffd"))


@cache
def _has_glyph(family: str, char: str) -> bool:
    if char.isspace():
        return True
    return bytes(load_font(family, 32).getmask(char)) != _notdef(family)


def covers(family: str, text: str) -> bool:
    """Whether ``family`` is installed and has a glyph for every character of ``text``."""
    return font_path(family) is not None and all(_has_glyph(family, ch) for ch in text)


def pick_family(preferred: str, text: str) -> str:
    """``preferred`` when it can draw ``text``, else the first fallback family that can."""
    for family in (preferred, *FALLBACK, *FONT_FILES):
        if covers(family, text):
            return family
    raise ConfigError(f"no installed CJK font can draw {text!r}; run `make fonts`")


# --------------------------------------------------------------------------- colours


def _luminance(colour: Colour) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: Colour, b: Colour) -> float:
    """WCAG contrast ratio of two colours (1 = identical, 21 = black on white)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


#: Background colours seen on e-commerce ads: promotion reds and oranges, pastels, dark.
BACKGROUNDS: tuple[Colour, ...] = (
    (216, 30, 6), (237, 85, 59), (255, 140, 0), (255, 214, 0), (255, 236, 179),
    (255, 228, 225), (252, 228, 236), (225, 245, 254), (200, 230, 201), (255, 248, 240),
    (250, 250, 250), (38, 50, 56), (26, 35, 126), (74, 20, 140), (0, 77, 64), (33, 33, 33),
)  # fmt: skip
#: Text colours to choose from.
INKS: tuple[Colour, ...] = (
    (255, 255, 255), (20, 20, 20), (183, 28, 28), (255, 235, 59), (13, 71, 161),
    (62, 39, 35), (255, 193, 7), (0, 96, 100), (136, 14, 79),
)  # fmt: skip


def pick_ink(rng: random.Random, backgrounds: Sequence[Colour], minimum: float = 4.5) -> Colour:
    """A text colour with at least ``minimum`` contrast against every background colour."""
    good = [c for c in INKS if all(contrast(c, bg) >= minimum for bg in backgrounds)]
    if good:
        return rng.choice(good)
    extremes: tuple[Colour, Colour] = ((20, 20, 20), (255, 255, 255))
    return max(extremes, key=lambda c: min(contrast(c, b) for b in backgrounds))


def faint_ink(background: Colour, ratio: float) -> Colour:
    """A colour of about ``ratio`` contrast against ``background`` (low-contrast print)."""
    towards: Colour = (0, 0, 0) if _luminance(background) > 0.18 else (255, 255, 255)
    best = background
    for step in range(1, 101):
        candidate = _mix(background, towards, step / 100)
        best = candidate
        if contrast(candidate, background) >= ratio:
            break
    return best


# --------------------------------------------------------------------------- geometry


def rotation(
    size: tuple[int, int], angle: float
) -> tuple[tuple[int, int], Callable[[Point], Point]]:
    """The size ``Image.rotate(angle, expand=True)`` gives and where it sends each point.

    Mirrors Pillow's own matrix (counter-clockwise degrees about the centre), inverted.
    """
    w, h = size
    rad = -math.radians(angle)
    a, b = round(math.cos(rad), 15), round(math.sin(rad), 15)
    d, e = round(-math.sin(rad), 15), round(math.cos(rad), 15)

    def apply(x: float, y: float, c: float, f: float) -> tuple[float, float]:
        return a * x + b * y + c, d * x + e * y + f

    cx, cy = w / 2, h / 2
    c, f = apply(-cx, -cy, 0.0, 0.0)
    c, f = c + cx, f + cy
    corners = [apply(x, y, c, f) for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
    nw = math.ceil(max(p[0] for p in corners)) - math.floor(min(p[0] for p in corners))
    nh = math.ceil(max(p[1] for p in corners)) - math.floor(min(p[1] for p in corners))
    c, f = apply(-(nw - w) / 2.0, -(nh - h) / 2.0, c, f)

    def forward(point: Point) -> Point:
        # Pillow maps output -> input as M @ out + (c, f); M is a rotation, so M^-1 = M^T.
        x, y = point[0] - c, point[1] - f
        return a * x + d * y, b * x + e * y

    return (nw, nh), forward


def _rect_box(x0: float, y0: float, x1: float, y1: float) -> Box:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _move(box: Box, dx: float, dy: float) -> Box:
    return tuple((x + dx, y + dy) for x, y in box)  # type: ignore[return-value]


def _map(box: Box, forward: Callable[[Point], Point]) -> Box:
    return tuple(forward(p) for p in box)  # type: ignore[return-value]


def box_bounds(box: Box) -> tuple[float, float, float, float]:
    """The axis-aligned rectangle (x0, y0, x1, y1) around ``box``."""
    xs = [p[0] for p in box]
    ys = [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)
