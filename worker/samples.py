"""Realistic ad-like images whose text is known: for tests, benchmarks and the demo.

Everything is deterministic: the same seed gives the same pixels (``random.Random`` seeded
per sample, so sample *i* of a group does not depend on how many were asked for).

An ad is composed from *blocks* (a headline, sub-lines, a price tag, fine print), each
rendered on its own transparent layer (with effects such as an outline, a drop shadow or
a gradient fill), optionally rotated, and laid out in rows on a coloured or gradient
background with decorative shapes; the whole card may be rotated as well. The four
corners of every drawn line are tracked through all of that, so the text *and where it
is* are known exactly.

Claims come from the categories the shipped rule set covers (absolute terms, medical
claims, guarantees) and the evasions seen in practice (全 网 第 一, 最·佳, 國家級, １００％,
NO.1, 无效★退款); the ``clean`` and ``context`` groups carry none (第一步, 最新款 and
最好在睡前使用 are not claims).
"""

from __future__ import annotations

import io
import math
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from models.base import Box, Point
from models.tiling import plan_tiles
from worker.errors import ConfigError
from worker.settings import Settings

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


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Style:
    """How one line of text is drawn."""

    family: str = "sans-bold"
    size: int = 40
    ink: Colour = (20, 20, 20)
    effect: str = "none"  # none | stroke | shadow | gradient
    accent: Colour = (255, 255, 255)  # stroke colour, shadow colour or gradient end
    tag: Colour | None = None  # draw the text on a rounded tag of this colour
    strike: bool = False  # a line through the text (crossed-out original price)
    angle: float = 0.0  # counter-clockwise degrees


@dataclass(frozen=True)
class Block:
    """A line of text to draw, the claims it carries and its style."""

    text: str
    style: Style
    claims: tuple[str, ...] = ()
    min_size: int = 14


def ink_bbox(font: Font, text: str, stroke: int = 0) -> Rect:
    """Whole-pixel (left, top, right, bottom) of ``text`` drawn at the origin."""
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    return math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom)


@dataclass
class _Layer:
    image: Image.Image  # RGBA
    box: Box  # the text's ink in layer pixels


def _render_block(block: Block) -> _Layer:
    style = block.style
    family = pick_family(style.family, block.text)
    font = load_font(family, style.size)
    stroke = max(2, style.size // 18) if style.effect == "stroke" else 0
    shadow = max(2, style.size // 16) if style.effect == "shadow" else 0
    left, top, right, bottom = ink_bbox(font, block.text, stroke)
    pad_x = pad_y = 4 + shadow
    if style.tag is not None:
        pad_x, pad_y = max(12, style.size // 2), max(8, style.size // 4)
    width = right - left + 2 * pad_x
    height = bottom - top + 2 * pad_y
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    origin = (pad_x - left, pad_y - top)
    if style.tag is not None:
        draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=height // 3, fill=style.tag)
    if shadow:
        draw.text((origin[0] + shadow, origin[1] + shadow), block.text, font=font,
                  fill=(*style.accent, 150))
    if style.effect == "gradient":
        mask = Image.new("L", layer.size, 0)
        ImageDraw.Draw(mask).text(origin, block.text, font=font, fill=255)
        fill = _gradient(layer.size, style.ink, style.accent, vertical=True).convert("RGBA")
        fill.putalpha(mask)
        layer.alpha_composite(fill)
    else:
        draw.text(origin, block.text, font=font, fill=style.ink, stroke_width=stroke,
                  stroke_fill=style.accent if stroke else None)
    ink = (pad_x, pad_y, pad_x + right - left, pad_y + bottom - top)
    if style.strike:
        mid = (ink[1] + ink[3]) // 2
        draw.line((ink[0], mid, ink[2], mid), fill=style.ink, width=max(1, style.size // 14))
    box = _rect_box(*ink)
    if style.angle:
        _, forward = rotation(layer.size, style.angle)
        layer = layer.rotate(style.angle, resample=Image.Resampling.BICUBIC, expand=True)
        box = _map(box, forward)
    return _Layer(layer, box)


def _fit(block: Block, max_width: int) -> tuple[Block, _Layer]:
    """Shrink the block's text until its layer fits ``max_width`` (not below ``min_size``)."""
    while True:
        layer = _render_block(block)
        size = block.style.size
        if layer.image.width <= max_width or size <= block.min_size:
            return block, layer
        smaller = max(block.min_size, int(size * 0.9))
        block = Block(block.text, _replace_size(block.style, smaller), block.claims, block.min_size)


def _replace_size(style: Style, size: int) -> Style:
    return Style(style.family, size, style.ink, style.effect, style.accent, style.tag,
                 style.strike, style.angle)


# --------------------------------------------------------------------------- backgrounds


def _gradient(size: tuple[int, int], start: Colour, end: Colour, *, vertical: bool = True,
              diagonal: bool = False) -> Image.Image:
    w, h = size
    if diagonal:
        t = (np.arange(w)[None, :] / max(1, w - 1) + np.arange(h)[:, None] / max(1, h - 1)) / 2
    elif vertical:
        t = np.repeat((np.arange(h) / max(1, h - 1))[:, None], w, axis=1)
    else:
        t = np.repeat((np.arange(w) / max(1, w - 1))[None, :], h, axis=0)
    a = np.array(start, dtype=np.float64)
    b = np.array(end, dtype=np.float64)
    pixels = a[None, None, :] + (b - a)[None, None, :] * t[:, :, None]
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGB")


def _background(rng: random.Random, size: tuple[int, int]) -> tuple[Image.Image, list[Colour]]:
    """A solid or gradient background, and the colours text must contrast against."""
    base = rng.choice(BACKGROUNDS)
    kind = rng.choice(("solid", "vertical", "diagonal", "vertical"))
    if kind == "solid":
        return Image.new("RGB", size, base), [base]
    toward: Colour = (255, 255, 255) if _luminance(base) < 0.5 else (0, 0, 0)
    other = _mix(base, toward, rng.uniform(0.12, 0.3))
    image = _gradient(size, base, other, diagonal=kind == "diagonal")
    return image, [base, other, _mix(base, other, 0.5)]


def _decorate(rng: random.Random, canvas: Image.Image, palette: Sequence[Colour]) -> None:
    """Faint shapes ads are full of: corner circles, stripes, confetti, a starburst."""
    w, h = canvas.size
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    base = palette[0]
    tones = [(255, 255, 255), (0, 0, 0), _mix(base, (255, 215, 0), 0.6)]
    for _ in range(rng.randint(2, 5)):
        kind = rng.choice(("circle", "circle", "stripe", "confetti", "burst", "ring"))
        tone = (*rng.choice(tones), rng.randint(18, 45))
        if kind == "circle":
            r = rng.randint(min(w, h) // 8, min(w, h) // 3)
            cx, cy = rng.choice((0, w)), rng.randint(0, h)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tone)
        elif kind == "ring":
            r = rng.randint(min(w, h) // 10, min(w, h) // 4)
            cx, cy = rng.randint(0, w), rng.choice((0, h))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=tone, width=max(3, r // 8))
        elif kind == "stripe":
            step = rng.randint(28, 60)
            for x in range(-h, w, step * 2):
                draw.polygon([(x, 0), (x + step, 0), (x + step + h, h), (x + h, h)], fill=tone)
        elif kind == "confetti":
            for _ in range(rng.randint(15, 40)):
                x, y, r = rng.randint(0, w), rng.randint(0, h), rng.randint(2, 6)
                draw.ellipse((x - r, y - r, x + r, y + r), fill=(*tone[:3], tone[3] + 30))
        else:
            cx, cy = rng.choice((w // 8, w - w // 8)), rng.choice((h // 8, h - h // 8))
            r0, r1, n = min(w, h) // 12, min(w, h) // 6, rng.randint(10, 16)
            points = [
                (cx + (r1 if k % 2 == 0 else r0) * math.cos(math.pi * k / n),
                 cy + (r1 if k % 2 == 0 else r0) * math.sin(math.pi * k / n))
                for k in range(2 * n)
            ]
            draw.polygon(points, fill=tone)
    canvas.alpha_composite(overlay)


def _product(rng: random.Random, size: tuple[int, int], base: Colour) -> Image.Image:
    """A product shot stand-in: a soft card with a bottle or box silhouette, no text."""
    w, h = size
    card = Image.new("RGBA", size, (0, 0, 0, 0))
    light = _mix(base, (255, 255, 255), 0.55)
    dark = _mix(base, (0, 0, 0), 0.35)
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=min(w, h) // 8, fill=(*light, 200))
    body = rng.choice(((110, 60, 40, 20), (80, 70, 35, 15)))
    cx = w // 2
    bw = max(8, w * body[1] // 400)
    top = h * body[3] // 100
    draw.rounded_rectangle((cx - bw, top, cx + bw, h - h // 10), radius=bw // 2, fill=(*dark, 230))
    draw.rectangle((cx - bw // 3, top - h // 12, cx + bw // 3, top), fill=(*dark, 255))
    draw.ellipse((cx - bw * 2, h - h // 8, cx + bw * 2, h - h // 20), fill=(0, 0, 0, 40))
    return card


# --------------------------------------------------------------------------- composition


@dataclass(frozen=True)
class Rendered:
    """An image and, per drawn line in reading order, its text and its four corners."""

    image: Image.Image
    lines: tuple[str, ...]
    boxes: tuple[Box, ...]
    claims: tuple[str, ...] = ()


#: Least vertical room between two rows of text (px).
ROW_GAP = 14
#: Room between two blocks of one row (px).
COLUMN_GAP = 24

_Row = list[tuple[Block, _Layer]]


def compose(
    rows: Sequence[Sequence[Block]],
    *,
    seed: int | str,
    size: tuple[int, int] = (800, 800),
    align: str = "center",
    backdrop: tuple[Image.Image, Sequence[Colour]] | None = None,
    decorate: bool = True,
    product: bool = True,
    rotate: float = 0.0,
) -> Rendered:
    """Lay ``rows`` of blocks out top to bottom on a decorated background.

    ``backdrop`` is the background image and the colours text must contrast against
    (by default a seeded solid or gradient one). Text is shrunk (down to each block's
    ``min_size``) until every row fits the width and all rows fit the height; rows that
    still do not fit are left out, with their claims. A product stand-in fills spare room.
    ``rotate`` then turns the whole card, growing the canvas so that nothing is cut.
    """
    rng = _rng(f"compose:{seed}")
    w, h = size
    background, palette = backdrop if backdrop is not None else _background(rng, size)
    canvas = background.convert("RGBA")
    if canvas.size != size:
        canvas = canvas.resize(size)
    if decorate:
        _decorate(rng, canvas, palette)
    margin = max(16, min(w, h) * 6 // 100)
    avail_w, avail_h = w - 2 * margin, h - 2 * margin

    placed: list[_Row] = []
    scale = 1.0
    for _attempt in range(8):
        placed = [_fit_row(row, scale, avail_w) for row in rows]
        if _height(placed) <= avail_h:
            break
        scale *= 0.9
    while placed and (_height(placed) > avail_h or any(_width(r) > avail_w for r in placed)):
        placed.pop()

    spare = avail_h - _height(placed)
    product_at, product_h = -1, 0
    if product and len(placed) >= 2 and spare > h // 4:
        product_h = min(spare - 4 * ROW_GAP, h // 2)
        product_at = rng.randint(1, len(placed) - 1)
        spare -= product_h + ROW_GAP
    slots = len(placed) + (1 if product_at >= 0 else 0) + 1
    gap = ROW_GAP + min(max(0, spare) // slots, 90)
    content = _height(placed) + (product_h + ROW_GAP if product_at >= 0 else 0)
    content += (gap - ROW_GAP) * (slots - 2)
    y = margin + max(0, avail_h - content) // 2

    lines: list[str] = []
    boxes: list[Box] = []
    claims: list[str] = []
    for index, row in enumerate(placed):
        if index == product_at:
            pw = min(avail_w, product_h * 4 // 5)
            card = _product(rng, (pw, product_h), palette[0])
            canvas.alpha_composite(card, (_aligned(align, pw, w, margin), y))
            y += product_h + gap
        row_h = max(layer.image.height for _, layer in row)
        x = _aligned(align, _width(row), w, margin)
        for block, layer in row:
            top = y + (row_h - layer.image.height) // 2
            canvas.alpha_composite(layer.image, (x, top))
            lines.append(block.text)
            boxes.append(_move(layer.box, x, top))
            claims.extend(block.claims)
            x += layer.image.width + COLUMN_GAP
        y += row_h + gap

    image = canvas.convert("RGB")
    if rotate:
        _, forward = rotation(image.size, rotate)
        desk = _mix(palette[0], (128, 128, 128), 0.7)
        image = image.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=True,
                             fillcolor=desk)
        boxes = [_map(box, forward) for box in boxes]
    return Rendered(image, tuple(lines), tuple(boxes), tuple(dict.fromkeys(claims)))


def _fit_row(row: Sequence[Block], scale: float, avail_w: int) -> _Row:
    share = (avail_w - COLUMN_GAP * (len(row) - 1)) // max(1, len(row))
    return [_fit(_scaled(block, scale), share) for block in row]


def _scaled(block: Block, scale: float) -> Block:
    if scale >= 1.0:
        return block
    size = max(block.min_size, int(block.style.size * scale))
    return Block(block.text, _replace_size(block.style, size), block.claims, block.min_size)


def _height(rows: Sequence[_Row]) -> int:
    heights = [max(layer.image.height for _, layer in row) for row in rows if row]
    return sum(heights) + ROW_GAP * max(0, len(heights) - 1)


def _width(row: _Row) -> int:
    return sum(layer.image.width for _, layer in row) + COLUMN_GAP * max(0, len(row) - 1)


def _aligned(align: str, width: int, total: int, margin: int) -> int:
    if align == "left":
        return margin
    if align == "right":
        return total - margin - width
    return (total - width) // 2


def render_ad(
    lines: Sequence[str],
    *,
    seed: int | str = 0,
    font: str = "sans-bold",
    size: tuple[int, int] = (800, 800),
    colours: tuple[Colour, Colour] | None = None,
    rotate: float = 0.0,
    text_size: int | None = None,
) -> Image.Image:
    """A simple ad: the first line as the headline, the others below it.

    ``colours`` is (background, text): a plain background without decoration; by default
    a seeded decorated background and a legible text colour. ``text_size`` sets every
    line's size; by default the headline is 64 px and the other lines 34 px. ``rotate``
    turns the whole card (counter-clockwise degrees).
    """
    rng = _rng(f"render_ad:{seed}")
    if colours is not None:
        backdrop = (Image.new("RGB", size, colours[0]), [colours[0]])
    else:
        backdrop = _background(rng, size)
    ink = colours[1] if colours is not None else pick_ink(rng, backdrop[1])
    rows = []
    for index, text in enumerate(lines):
        px = text_size or (64 if index == 0 else 34)
        rows.append([Block(text, Style(font, px, ink), min_size=min(px, 14))])
    return compose(rows, seed=seed, size=size, backdrop=backdrop, rotate=rotate,
                   decorate=colours is None, product=False).image


# --------------------------------------------------------------------------- ad copy

PRODUCTS = (
    "精华液", "保湿面霜", "洗发水", "蛋白粉", "运动鞋", "蓝牙耳机", "空气炸锅", "儿童牙膏",
    "防晒霜", "口红", "行李箱", "电动牙刷", "坚果礼盒", "羽绒服", "净水器", "扫地机器人",
    "养生茶", "台灯", "猫粮", "双肩包",
)  # fmt: skip
#: Ordinary copy with no claim in it (no 最 / 第一 / 首 / 极 / 顶 / 唯一 / 效 / 治 ...).
CLEAN_HEADLINES = (
    "{p}夏季新品上市", "{p}限时特惠", "会员专享福利", "新店开业 全场八折", "周末狂欢购",
    "{p}好物推荐", "轻松打理每一天", "开学季焕新", "{p}年货节大促", "买{p}就来这里",
)  # fmt: skip
CLEAN_LINES = (
    "满199减30", "全场包邮", "下单立减20元", "买二送一", "进店领取优惠券", "舒适透气 简约百搭",
    "大容量 轻巧便携", "现货速发", "七天无理由退换", "扫码关注领红包", "官方旗舰店",
    "新客专享价", "多色可选", "限时抢购中", "活动时间 6月1日至6月18日", "收藏加购 优先发货",
    "今日下单 明日送达", "支持花呗分期", "家庭装更划算", "送礼自用两相宜",
)  # fmt: skip
#: Claims as drawn -> the canonical phrase the rule set lists.
ABSOLUTE = (
    ("全网第一", "全网第一"), ("销量第一", "销量第一"), ("行业最佳", "最佳"),
    ("全网最好用", "最好"), ("同类最优", "最优"), ("顶级品质", "顶级"),
    ("极品享受", "极品"), ("国家级品质", "国家级"), ("行业唯一", "唯一"),
    ("史上最低价", "史上最低价"), ("世界领先技术", "世界领先"), ("销量NO.1", "NO.1"),
)  # fmt: skip
MEDICAL = (
    ("根治脱发", "根治"), ("三天治愈痘痘", "治愈"), ("药到病除", "药到病除"),
    ("纯天然无副作用", "无副作用"), ("7天见效", "7天见效"), ("祛斑淡印", "祛斑"),
    ("治愈率高达98%", "治愈率"),
)  # fmt: skip
GUARANTEE = (
    ("100%有效", "100%有效"), ("无效退款", "无效退款"), ("保证有效", "保证有效"),
    ("零风险", "零风险"), ("稳赚不赔", "稳赚不赔"), ("考试包过", "包过"),
)  # fmt: skip
CLAIMS = ABSOLUTE + MEDICAL + GUARANTEE
#: Claims dressed the way advertisers dodge filters.
EVASIONS = (
    ("全 网 第 一", "全网第一"), ("最·佳品质", "最佳"), ("國家級品質", "国家级"),
    ("１００％有效", "100%有效"), ("销量NO.1", "NO.1"), ("人气Top1", "TOP1"),
    ("无效★退款", "无效退款"), ("全-网-第-一", "全网第一"), ("No.1 {p}", "NO.1"),
    ("根 治 脱 发", "根治"),
)  # fmt: skip
#: Words that look like claims but are not (order, time, recency, usage advice).
CONTEXT = (
    "第一步：温水洁面", "第一次下单立减10元", "第一时间发货", "最新款上市", "最近三天热卖",
    "最好在睡前使用", "第二步：轻拍吸收", "第一季度新品",
)  # fmt: skip
PRICES = ("到手价 ¥{n}", "券后价¥{n}", "秒杀价 {n}元", "活动价 ¥{n}")
FINE_PRINT = (
    "*图片仅供参考 以实物为准", "*活动最终解释权归本店所有", "*具体优惠以结算页为准",
    "*详情请咨询在线客服",
)  # fmt: skip

#: Canonical claim -> the decision it brings under the shipped rule set: ``reject`` except
#: 祛斑, which registered special-use cosmetics may claim, so a reviewer decides.
CLAIM_DECISION = {phrase: "reject" for _, phrase in (*CLAIMS, *EVASIONS)} | {"祛斑": "review"}

GROUPS = ("plain", "artistic", "rotated", "small_lowcontrast", "evasion", "clean", "context")
SIZES = ((800, 800), (750, 1000), (1000, 1000), (1200, 628), (640, 960), (900, 600))


@dataclass(frozen=True)
class SampleAd:
    """A generated ad: the text drawn on it (reading order) and the expected decision.

    ``boxes`` holds the four corners of each line of ``lines`` in image pixels;
    ``claims`` the canonical banned phrases present; ``expect`` the decision the shipped
    rule set should reach on the text ("pass", "review" or "reject").
    """

    name: str
    group: str
    image: Image.Image
    lines: tuple[str, ...]
    expect: str
    claims: tuple[str, ...]
    boxes: tuple[Box, ...] = field(default=(), compare=False)


def _expect(claims: Sequence[str]) -> str:
    decisions = {CLAIM_DECISION[c] for c in claims}
    for decision in ("reject", "review"):
        if decision in decisions:
            return decision
    return "pass"


def _fill(template: str, product: str) -> str:
    return template.replace("{p}", product)


def _ad(group: str, seed: int, index: int) -> SampleAd:
    key = f"{group}:{seed}:{index}"
    rng = _rng(key)
    product = rng.choice(PRODUCTS)
    size = rng.choice(SIZES)
    backdrop = _background(rng, size)
    palette = backdrop[1]
    ink = pick_ink(rng, palette)
    family = rng.choice(ARTISTIC_FONTS if group == "artistic" else PLAIN_FONTS)
    head_size = rng.randint(48, 90) if size[0] >= 750 else rng.randint(40, 64)
    body_size = rng.randint(26, 40)
    small = group == "small_lowcontrast"
    faint = faint_ink(palette[0], rng.uniform(1.9, 2.6))
    turn_blocks = group == "rotated" and index % 2 == 0
    turn_card = 0.0
    if group == "rotated" and not turn_blocks:
        turn_card = rng.choice((-1, 1)) * rng.uniform(5, 15)

    def style(px: int, *, body: bool = False, claim: bool = False) -> Style:
        fam = rng.choice(PLAIN_FONTS) if group == "plain" and body else family
        effect, accent, colour, angle = "none", _accent(ink), ink, 0.0
        if group == "artistic" or (group == "plain" and not body and rng.random() < 0.3):
            effect = rng.choice(("stroke", "shadow", "gradient", "none"))
        if small and claim:
            # small print, faint print, or both
            kind = rng.choice(("small", "faint", "both"))
            if kind in ("small", "both"):
                px = rng.randint(14, 18)
            if kind in ("faint", "both"):
                colour = faint
        if turn_blocks:
            angle = rng.choice((-1, 1)) * rng.uniform(10, 30)
        return Style(fam, px, colour, effect, accent, angle=angle)

    pool: Sequence[tuple[str, str]] = ()
    if group in ("plain", "artistic", "rotated", "small_lowcontrast"):
        pool = CLAIMS
    elif group == "evasion":
        pool = EVASIONS
    chosen = rng.sample(list(pool), k=rng.randint(1, 2)) if pool else []
    context = rng.sample(CONTEXT, k=2) if group == "context" else []

    rows: list[list[Block]] = []
    if chosen and not small and rng.random() < 0.5:
        text, phrase = chosen.pop(0)
        rows.append([Block(_fill(text, product), style(head_size), (phrase,), 36)])
    else:
        headline = _fill(rng.choice(CLEAN_HEADLINES), product)
        rows.append([Block(headline, style(head_size), min_size=36)])
    body: list[tuple[str, tuple[str, ...]]] = [(t, ()) for t in rng.sample(CLEAN_LINES, k=2)]
    for text, phrase in chosen:
        body.insert(rng.randint(0, len(body)), (_fill(text, product), (phrase,)))
    for text in context:
        body.insert(rng.randint(0, len(body)), (text, ()))
    body = body[: max(3, len(chosen) + len(context) + 1)]
    for text, claims in body:
        line_style = style(body_size, body=True, claim=bool(claims))
        rows.append([Block(text, line_style, claims, min(line_style.size, 22))])

    price = rng.choice(PRICES).replace("{n}", str(rng.randint(19, 899)))
    tag = rng.choice(((216, 30, 6), (255, 214, 0), (20, 20, 20), (255, 255, 255)))
    price_row = [Block(price, Style(rng.choice(PLAIN_FONTS), body_size + 4,
                                    pick_ink(rng, [tag]), tag=tag), min_size=22)]
    if rng.random() < 0.5:
        original = f"原价¥{rng.randint(900, 1999)}"
        price_row.append(Block(original, Style("sans", max(22, body_size - 6), ink, strike=True),
                               min_size=20))
    rows.append(price_row)
    if small or rng.random() < 0.3:
        note_size = rng.randint(14, 18) if small else rng.randint(20, 24)
        note = Style("sans", note_size, faint if small else ink)
        rows.append([Block(rng.choice(FINE_PRINT), note, min_size=14)])

    rendered = compose(rows, seed=key, size=size, backdrop=backdrop,
                       align=rng.choice(("center", "center", "left")), rotate=turn_card)
    return SampleAd(
        name=f"{group}-{seed}-{index:02d}",
        group=group,
        image=rendered.image,
        lines=rendered.lines,
        expect=_expect(rendered.claims),
        claims=rendered.claims,
        boxes=rendered.boxes,
    )


def _accent(ink: Colour) -> Colour:
    # An outline or shadow reads as a contrasting rim around the ink.
    return (255, 255, 255) if _luminance(ink) < 0.4 else (40, 20, 20)


def corpus(seed: int = 0, per_group: int = 8) -> list[SampleAd]:
    """``per_group`` ads of each group in ``GROUPS`` (group by group)."""
    return [_ad(group, seed, index) for group in GROUPS for index in range(per_group)]


# --------------------------------------------------------------------------- long pages

DETAIL_SIZE = (750, 8000)


def _seam_lines() -> tuple[int, int]:
    """Where the reader, on default settings, cuts the detail page: the lower edges of
    its first and third tiles. A line centred there is cut in one tile, whole in the next."""
    tiles = plan_tiles(DETAIL_SIZE, Settings.model_construct())
    return tiles[0][3], tiles[2][3]


#: Where the detail page puts a claim across a tile seam (the line's centre, px).
SEAM_LINES = _seam_lines()
#: The claim lines of the detail page (top, seam 1, seam 2, middle, bottom) and their
#: canonical phrases.
DETAIL_CLAIMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("全网销量第一", ("销量第一",)),
    ("祛斑淡印 7天见效", ("祛斑", "7天见效")),
    ("无效退款 放心购买", ("无效退款",)),
    ("国家级品质 权威检测", ("国家级",)),
    ("100%有效 安心之选", ("100%有效",)),
)


def detail_page(seed: int = 0) -> tuple[Image.Image, list[tuple[str, Rect]]]:
    """A 750 x 8000 product detail page, and every drawn line with its rectangle.

    Claims sit near the top, in the middle and near the bottom; two more are centred on
    the y of ``SEAM_LINES`` so that they straddle where a tiled reader cuts the page.
    """
    rng = _rng(f"detail:{seed}")
    w = DETAIL_SIZE[0]
    product = rng.choice(PRODUCTS)
    base = rng.choice(((255, 248, 240), (250, 250, 250), (255, 236, 179), (225, 245, 254)))
    page = Image.new("RGBA", DETAIL_SIZE, (*base, 255))
    ink = pick_ink(rng, [base], 7.0)
    family = rng.choice(("sans", "serif", "zenhei"))
    head_family = rng.choice(("sans-bold", "serif-bold"))
    truth: list[tuple[str, Rect]] = []

    def put(text: str, y_centre: int, size: int, fam: str = family, colour: Colour = ink) -> None:
        font = load_font(pick_family(fam, text), size)
        left, top, right, bottom = ink_bbox(font, text)
        while right - left > w - 60 and size > 18:
            size -= 2
            font = load_font(pick_family(fam, text), size)
            left, top, right, bottom = ink_bbox(font, text)
        x = (w - (right - left)) // 2 - left
        y = y_centre - (bottom - top) // 2 - top
        ImageDraw.Draw(page).text((x, y), text, font=font, fill=colour)
        truth.append((text, (x + left, y + top, x + right, y + bottom)))

    def card(top: int, bottom: int) -> None:
        shot = _product(rng, (w - 120, bottom - top), _mix(base, (0, 0, 0), 0.25))
        page.alpha_composite(shot, (60, top))

    def fill(start: int, stop: int) -> None:
        """Paragraphs and product shots between two y positions."""
        y = start
        while stop - y > 120:
            if rng.random() < 0.45 and stop - y > 420:
                height = rng.randint(260, min(560, stop - y - 80))
                card(y + 30, y + 30 + height)
                y += height + 60
                continue
            heading = rng.choice(("产品特点", "使用说明", "规格参数", "温馨提示", "售后服务"))
            put(heading, y + 30, 40, head_family)
            y += 80
            for _ in range(rng.randint(1, 3)):
                if stop - y < 70:
                    break
                put(rng.choice(CLEAN_LINES), y + 22, rng.randint(28, 34))
                y += 58
            y += 30

    top, seam_1, seam_2, middle, bottom = (text for text, _ in DETAIL_CLAIMS)
    start = rng.choice(BACKGROUNDS[:4])
    header = _gradient((w, 700), start, base).convert("RGBA")
    page.alpha_composite(header, (0, 0))
    header_ink = pick_ink(rng, [start, _mix(start, base, 0.5)])
    put(f"{product}", 140, 72, head_family, header_ink)
    put(top, 250, 56, head_family, header_ink)
    put(rng.choice(CLEAN_LINES), 340, 34, family, header_ink)
    card(420, 680)
    fill(720, SEAM_LINES[0] - 60)
    put(seam_1, SEAM_LINES[0] + rng.randint(-8, 8), 40, head_family)
    fill(SEAM_LINES[0] + 60, SEAM_LINES[1] - 60)
    put(seam_2, SEAM_LINES[1] + rng.randint(-8, 8), 40, head_family)
    fill(SEAM_LINES[1] + 60, 3950)
    put(middle, 4000, 44, head_family)
    fill(4060, 7440)
    put(bottom, 7500, 44, head_family)
    fill(7560, 7860)
    put("*图片仅供参考 以实物为准", 7920, 22)
    return page.convert("RGB"), truth


# --------------------------------------------------------------------------- photos

#: A phone photo (portrait, 8 Mpx): longer than a tile on both sides, so it is read in a
#: grid of tiles.
PHOTO_SIZE = (2448, 3264)


def _photo_seam() -> tuple[int, int]:
    """The first and last row of a ``PHOTO_SIZE`` photo that the upper and the lower tiles
    both hold (default settings)."""
    tiles = plan_tiles(PHOTO_SIZE, Settings.model_construct())
    rows = sorted({(top, bottom) for _, top, _, bottom in tiles})
    return rows[1][0], rows[0][1]


#: Where the tiles of a photo overlap, top to bottom (px).
PHOTO_SEAM = _photo_seam()
#: What the sideways page says, line by line, with the canonical phrases of its claims.
#: Every line runs across the seam; the claim of the second is centred on it, and its
#: phrase is longer than the overlap, so that no tile holds it whole.
PAGE_LINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("产品使用说明", ()),
    ("本品精选优质原料 全网销量第一 值得信赖", ("销量第一",)),
    ("每日两次 每次一袋 温水冲服", ()),
    ("坚持服用七天 7天见效 效果看得见", ("7天见效",)),
    ("请置于阴凉干燥处 密封保存", ()),
)
#: The claim phrase of ``PAGE_LINES`` centred on the seam.
PAGE_SEAM_CLAIM = "销量第一"


@dataclass(frozen=True)
class DrawnLine:
    """A line drawn on a sample image: its text, its box (four points, the first two
    along the text, as ``TextLine`` boxes) and the canonical phrases of its claims."""

    text: str
    box: Box
    claims: tuple[str, ...] = ()


def page_photo(seed: int = 0, turn: int = 90) -> tuple[Image.Image, list[DrawnLine]]:
    """A ``PHOTO_SIZE`` photo of a printed page lying sideways on a desk.

    ``turn`` is how far the page is turned (counter-clockwise degrees, 90 or -90, plus a
    seeded tilt of up to a degree): at 90 its lines read up the photo, at -90 down it.
    Every line runs across ``PHOTO_SEAM``; ``PAGE_SEAM_CLAIM`` is centred on it. Returns
    the photo and its lines in reading order, plus the seam claim on its own (last).
    """
    rng = _rng(f"photo:{seed}:{turn}")
    page_w, page_h = 2900, 1400
    paper = rng.choice(((250, 248, 240), (246, 246, 242), (252, 250, 244)))
    page = Image.new("RGBA", (page_w, page_h), (*paper, 255))
    angle = turn + rng.uniform(-1.0, 1.0)
    (turned_w, turned_h), forward = rotation((page_w, page_h), angle)
    left = (PHOTO_SIZE[0] - turned_w) // 2 + rng.randint(-40, 40)
    top = (PHOTO_SIZE[1] - turned_h) // 2 + rng.randint(-40, 40)

    def to_photo(point: Point) -> Point:
        x, y = forward(point)
        return x + left, y + top

    # Photo y is affine in the page's x: solve where a claim must sit to be on the seam.
    origin_y, unit_y = to_photo((0.0, 0.0))[1], to_photo((1.0, 0.0))[1]
    down_y = to_photo((0.0, 1.0))[1] - origin_y
    seam_y = (PHOTO_SEAM[0] + PHOTO_SEAM[1]) / 2
    ink = rng.choice(((20, 20, 20), (33, 33, 60), (60, 30, 20)))
    draw = ImageDraw.Draw(page)
    drawn: list[DrawnLine] = []
    seam_claims: list[DrawnLine] = []
    y = 160
    for number, (text, claims) in enumerate(PAGE_LINES):
        size = 96 if number == 0 else 80
        font = load_font(pick_family("sans-bold" if number == 0 else "sans", text), size)
        x0, y0, x1, y1 = ink_bbox(font, text)
        x = (page_w - (x1 - x0)) // 2 - x0
        if PAGE_SEAM_CLAIM in text:
            prefix = text[: text.index(PAGE_SEAM_CLAIM)]
            centre = font.getlength(prefix) + font.getlength(PAGE_SEAM_CLAIM) / 2
            row = y + size / 2
            x = round((seam_y - origin_y - down_y * row) / (unit_y - origin_y) - centre)
        draw.text((x, y), text, font=font, fill=ink)
        box = _rect_box(x + x0, y + y0, x + x1, y + y1)
        drawn.append(DrawnLine(text, _map(box, to_photo), claims))
        if PAGE_SEAM_CLAIM in text:
            start = x + font.getlength(text[: text.index(PAGE_SEAM_CLAIM)])
            end = start + font.getlength(PAGE_SEAM_CLAIM)
            claim_box = _rect_box(start, y + y0, end, y + y1)
            seam_claims.append(DrawnLine(PAGE_SEAM_CLAIM, _map(claim_box, to_photo), claims))
        y += size + 140
    desk = _gradient(PHOTO_SIZE, rng.choice(((120, 90, 60), (90, 90, 95))),
                     rng.choice(((70, 50, 35), (55, 55, 60))), diagonal=True).convert("RGBA")
    shadow = Image.new("RGBA", page.size, (0, 0, 0, 90)).rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True)
    desk.alpha_composite(shadow, (left + 18, top + 24))
    desk.alpha_composite(page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True),
                         (left, top))
    pixels = np.asarray(desk.convert("RGB"), dtype=np.float64)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0.0, 4.0, pixels.shape)
    photo = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    return photo.filter(ImageFilter.GaussianBlur(0.8)), [*drawn, *seam_claims]


#: The columns of the vertical poster, right to left, with their claims' phrases: a claim
#: runs from the foot of the second column into the head of the third.
POSTER_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("百年老字号古法炮制", ()),
    ("精选道地药材全网销量", ("销量第一",)),
    ("第一口碑代代相传", ("销量第一",)),
    ("祖传秘方根治顽疾", ("根治顽疾",)),
    ("温和调理安心之选", ()),
)
#: The poster's horizontal title (above the columns) and foot line (below them).
POSTER_TITLE = "养生堂"
POSTER_FOOT = "理性消费 按需选购"


def vertical_poster(seed: int = 0) -> tuple[Image.Image, list[DrawnLine]]:
    """A poster in the traditional vertical layout (traditional medicine copy,
    calligraphy): a horizontal title, upright characters in columns read top to bottom
    and right to left, a horizontal foot line. Returns the image and its lines in
    reading order (column boxes run top to bottom)."""
    rng = _rng(f"poster:{seed}")
    family = rng.choice(("kaiti", "serif-bold", "wenkai-bold"))
    size = rng.choice((52, 56, 60))
    cell = round(size * 1.12)
    gap = round(size * rng.uniform(0.55, 0.8))
    columns = len(POSTER_COLUMNS)
    longest = max(len(text) for text, _ in POSTER_COLUMNS)
    width = 2 * 110 + columns * size + (columns - 1) * gap
    height = 260 + longest * cell + 200
    paper = rng.choice(((250, 240, 220), (245, 235, 210), (255, 248, 230)))
    ink = rng.choice(((40, 20, 10), (120, 20, 20), (20, 20, 20)))
    image = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(image)
    drawn: list[DrawnLine] = []

    def horizontal(text: str, y_centre: int, px: int) -> None:
        font = load_font(pick_family(family, text), px)
        x0, y0, x1, y1 = ink_bbox(font, text)
        x = (width - (x1 - x0)) // 2 - x0
        y = y_centre - (y1 - y0) // 2 - y0
        draw.text((x, y), text, font=font, fill=ink)
        drawn.append(DrawnLine(text, _rect_box(x + x0, y + y0, x + x1, y + y1)))

    horizontal(POSTER_TITLE, 120, 96)
    top = 260
    for index, (text, claims) in enumerate(POSTER_COLUMNS):
        x = width - 110 - size - index * (size + gap)
        font = load_font(pick_family(family, text), size)
        for row, char in enumerate(text):
            left, _, right, _ = ink_bbox(font, char)
            draw.text((x + (size - (right - left)) / 2 - left, top + row * cell), char,
                      font=font, fill=ink)
        x0, y0, x1, y1 = x, top, x + size, top + len(text) * cell
        # Along the text (top to bottom) first, as a reader's box of a vertical line.
        drawn.append(DrawnLine(text, ((x1, y0), (x1, y1), (x0, y1), (x0, y0)), claims))
    horizontal(POSTER_FOOT, top + longest * cell + 100, 40)
    return image, drawn


#: The claim the animated GIF shows in its later frames, and its canonical phrase.
GIF_CLAIM = ("全网销量第一 爆款直降", "销量第一")


def gif_frames(
    seed: int = 0, frames: int = 20, claim_frame: int = 12, shown: int | None = None
) -> list[Rendered]:
    """The frames of ``animated_gif``: the claim shows from ``claim_frame`` on, in
    ``shown`` frames (None: in every later frame)."""
    rng = _rng(f"gif:{seed}")
    product = rng.choice(PRODUCTS)
    base = rng.choice(BACKGROUNDS)
    ink = pick_ink(rng, [base], 7.0)
    accent = rng.choice(((255, 214, 0), (255, 255, 255), (20, 20, 20)))
    if contrast(accent, base) < 1.5:  # a highlight the background hides moves nothing
        accent = (20, 20, 20) if _luminance(base) > 0.18 else (255, 255, 255)
    result = []
    for k in range(frames):
        rows = [[Block(f"{product}限时特惠", Style("sans-bold", 48, ink))]]
        if claim_frame <= k and (shown is None or k < claim_frame + shown):
            rows.append([Block(GIF_CLAIM[0], Style("sans-bold", 40, ink), (GIF_CLAIM[1],))])
        else:
            rows.append([Block("满199减30 全场包邮", Style("sans", 34, ink))])
        backdrop = (Image.new("RGB", (480, 480), base), [base])
        rendered = compose(rows, seed=f"gif:{seed}", size=(480, 480), backdrop=backdrop,
                           decorate=False, product=False)
        # A moving highlight keeps every frame distinct (Pillow merges equal frames).
        frame = rendered.image
        draw = ImageDraw.Draw(frame)
        x = 20 + (440 * k) // max(1, frames - 1)
        draw.ellipse((x - 5, 445, x + 5, 455), fill=accent)
        result.append(Rendered(frame, rendered.lines, rendered.boxes, rendered.claims))
    return result


def animated_gif(
    seed: int = 0,
    frames: int = 20,
    claim_frame: int = 12,
    shown: int | None = None,
    duration: int | Sequence[int] = 100,
) -> bytes:
    """An animated GIF whose claim (``GIF_CLAIM``) appears only from frame ``claim_frame``
    (in ``shown`` frames; None: to the end). ``duration`` is every frame's display time in
    ms, or one per frame."""
    images = [r.image for r in gif_frames(seed, frames, claim_frame, shown)]
    out = io.BytesIO()
    times = duration if isinstance(duration, int) else list(duration)
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=times,
                   loop=0, optimize=False, disposal=1)
    return out.getvalue()


def demo_ads(folder: Path) -> list[Path]:
    """Write a handful of realistic sample ads into ``folder``; return their paths.

    Some carry claims (plain, dressed up to evade, rotated, in an animation's later frame,
    along a long detail page), some are clean or only look like claims.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str, image: Image.Image, quality: int = 90) -> None:
        path = folder / name
        if path.suffix in (".jpg", ".webp"):
            image.save(path, quality=quality)
        else:
            image.save(path)
        written.append(path)

    def ad(seed: str, rows: list[list[Block]], size: tuple[int, int],
           colours: tuple[Colour, Colour], rotate: float = 0.0, align: str = "center",
           ) -> Image.Image:
        start, end = colours
        backdrop = (_gradient(size, start, end), [start, end])
        return compose(rows, seed=seed, size=size, backdrop=backdrop, rotate=rotate,
                       align=align).image

    red, white, gold, dark = (216, 30, 6), (255, 255, 255), (255, 214, 0), (33, 33, 33)
    plum, teal, brown = (136, 14, 79), (0, 96, 100), (62, 39, 35)
    save("banner-sales-first.jpg", ad("demo-1", [
        [Block("蓝牙耳机 全网销量第一", Style("sans-bold", 64, white, "shadow", (60, 0, 0)))],
        [Block("行业最佳音质 史上最低价", Style("sans", 36, white))],
        [Block("到手价 ¥199", Style("sans-bold", 40, red, tag=gold)),
         Block("原价¥399", Style("sans", 30, white, strike=True))],
    ], (1200, 628), (red, (160, 10, 0))))
    save("cosmetics-medical-claims.png", ad("demo-2", [
        [Block("美白淡斑精华", Style("serif-bold", 72, dark))],
        [Block("祛斑淡印 7天见效", Style("sans", 38, plum))],
        [Block("纯天然配方 无副作用", Style("sans", 34, dark))],
        [Block("券后价¥259", Style("sans-bold", 40, white, tag=plum))],
    ], (800, 800), ((252, 228, 236), (255, 245, 248))))
    save("evasion-spaced-fullwidth.webp", ad("demo-3", [
        [Block("全 网 第 一", Style("display", 86, gold, "stroke", (120, 0, 0)))],
        [Block("１００％有效 无效★退款", Style("sans-bold", 40, white))],
        [Block("國家級品質 人气Top1", Style("serif-bold", 38, white))],
    ], (800, 800), ((26, 35, 126), (74, 20, 140))))
    save("clean-summer-sale.jpg", ad("demo-4", [
        [Block("夏季新品上市", Style("sans-bold", 72, dark))],
        [Block("满199减30 全场包邮", Style("sans", 38, (183, 28, 28)))],
        [Block("舒适透气 简约百搭", Style("sans", 34, dark))],
        [Block("到手价 ¥89", Style("sans-bold", 40, white, tag=red))],
    ], (750, 1000), ((225, 245, 254), (200, 230, 250))))
    save("clean-skincare-steps.png", ad("demo-5", [
        [Block("晚安修护精华", Style("serif-bold", 64, dark))],
        [Block("第一步：温水洁面", Style("sans", 36, dark))],
        [Block("第二步：取两滴轻拍", Style("sans", 36, dark))],
        [Block("最好在睡前使用", Style("wenkai-bold", 40, teal))],
        [Block("最新款 第一时间发货", Style("sans", 32, dark))],
    ], (750, 1000), ((255, 248, 240), (255, 236, 220)), align="left"))
    save("rotated-kaiti-claims.png", ad("demo-6", [
        [Block("养生茶礼盒", Style("kaiti", 80, brown, angle=12))],
        [Block("国家级非遗工艺 极品好茶", Style("kaiti", 40, (183, 28, 28), angle=-8))],
        [Block("送礼自用两相宜", Style("wenkai", 34, brown))],
    ], (900, 900), ((255, 236, 179), (255, 248, 225)), rotate=6))
    page, _truth = detail_page(7)
    save("detail-page-long.jpg", page, quality=88)
    gif = folder / "animated-claim-late-frame.gif"
    gif.write_bytes(animated_gif(3))
    written.append(gif)
    return written


# --------------------------------------------------------------------------- measuring


def _comparable(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace())


def char_recall(expected: str, read: str) -> tuple[int, int]:
    """(characters of ``expected`` found in ``read``, characters expected).

    Both sides are folded the same way first (NFKC, case, whitespace removed: an OCR
    engine that reads ``１００％`` as ``100%`` or drops a space has read it right), then
    compared with ``difflib.SequenceMatcher``; the matched count is the sum of its
    matching blocks, so the order of the text counts as well as its characters.
    """
    a, b = _comparable(expected), _comparable(read)
    if not a:
        return 0, 0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()), len(a)
