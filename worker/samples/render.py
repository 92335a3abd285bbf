"""Drawing ad-like images whose text and its place are known exactly.

Fonts and
colours, text blocks with effects, rows laid out on a decorated background, and the four
corners of every drawn line tracked through rotations (``compose``, ``render_ad``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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
