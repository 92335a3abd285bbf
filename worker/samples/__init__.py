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

from worker.samples.animated import GIF_CLAIM, animated_gif, gif_frames
from worker.samples.banners import (
    ABSOLUTE,
    CLAIM_DECISION,
    CLAIMS,
    CLEAN_HEADLINES,
    CLEAN_LINES,
    CONTEXT,
    EVASIONS,
    FINE_PRINT,
    GROUPS,
    GUARANTEE,
    MEDICAL,
    PRICES,
    PRODUCTS,
    SIZES,
    SampleAd,
    corpus,
)
from worker.samples.demo import demo_ads
from worker.samples.drawing import (
    ARTISTIC_FONTS,
    BACKGROUNDS,
    FALLBACK,
    FONT_DIRS,
    FONT_FILES,
    INKS,
    PLAIN_FONTS,
    Colour,
    Font,
    Rect,
    available_fonts,
    box_bounds,
    contrast,
    covers,
    faint_ink,
    font_path,
    load_font,
    pick_family,
    pick_ink,
    rotation,
)
from worker.samples.measure import char_recall
from worker.samples.pages import (
    DETAIL_CLAIMS,
    DETAIL_SIZE,
    PAGE_LINES,
    PAGE_SEAM_CLAIM,
    PHOTO_SEAM,
    PHOTO_SIZE,
    POSTER_COLUMNS,
    POSTER_FOOT,
    POSTER_TITLE,
    SEAM_LINES,
    DrawnLine,
    detail_page,
    page_photo,
    vertical_poster,
)
from worker.samples.render import (
    COLUMN_GAP,
    ROW_GAP,
    Block,
    Rendered,
    Style,
    compose,
    ink_bbox,
    render_ad,
)

__all__ = [
    "ABSOLUTE",
    "ARTISTIC_FONTS",
    "BACKGROUNDS",
    "CLAIMS",
    "CLAIM_DECISION",
    "CLEAN_HEADLINES",
    "CLEAN_LINES",
    "COLUMN_GAP",
    "CONTEXT",
    "DETAIL_CLAIMS",
    "DETAIL_SIZE",
    "EVASIONS",
    "FALLBACK",
    "FINE_PRINT",
    "FONT_DIRS",
    "FONT_FILES",
    "GIF_CLAIM",
    "GROUPS",
    "GUARANTEE",
    "INKS",
    "MEDICAL",
    "PAGE_LINES",
    "PAGE_SEAM_CLAIM",
    "PHOTO_SEAM",
    "PHOTO_SIZE",
    "PLAIN_FONTS",
    "POSTER_COLUMNS",
    "POSTER_FOOT",
    "POSTER_TITLE",
    "PRICES",
    "PRODUCTS",
    "ROW_GAP",
    "SEAM_LINES",
    "SIZES",
    "Block",
    "Colour",
    "DrawnLine",
    "Font",
    "Rect",
    "Rendered",
    "SampleAd",
    "Style",
    "animated_gif",
    "available_fonts",
    "box_bounds",
    "char_recall",
    "compose",
    "contrast",
    "corpus",
    "covers",
    "demo_ads",
    "detail_page",
    "faint_ink",
    "font_path",
    "gif_frames",
    "ink_bbox",
    "load_font",
    "page_photo",
    "pick_family",
    "pick_ink",
    "render_ad",
    "rotation",
    "vertical_poster",
]
