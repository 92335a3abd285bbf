"""Long pages and photos: a 750 x 8000 detail page with claims on its tile seams,
a phone photo of a page turned sideways, and a vertical traditional-medicine poster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from models.base import Box, Point
from models.tiling import plan_tiles
from worker.samples.banners import CLEAN_LINES, PRODUCTS
from worker.samples.drawing import (
    BACKGROUNDS,
    Colour,
    Rect,
    _map,
    _mix,
    _rect_box,
    _rng,
    load_font,
    pick_family,
    pick_ink,
    rotation,
)
from worker.samples.render import _gradient, _product, ink_bbox
from worker.settings import Settings

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
