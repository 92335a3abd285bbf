"""Drawing ad-like images whose text and its place are known exactly: text blocks with
effects, rows laid out on a decorated background, and the four corners of every drawn
line tracked through rotations (``compose``, ``render_ad``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from models.base import Box
from worker.samples.drawing import (
    BACKGROUNDS,
    Colour,
    Font,
    Rect,
    _luminance,
    _map,
    _mix,
    _move,
    _rect_box,
    _rng,
    load_font,
    pick_family,
    pick_ink,
    rotation,
)


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
