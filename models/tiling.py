"""Long and large images: cut into overlapping tiles, read, and put back together.

OCR engines shrink what they are given to a fixed budget, so a 750 x 8000 product detail
page read in one piece comes out as illegible smudges. ``plan_tiles`` cuts such images
into overlapping, roughly square tiles read at full resolution: an image is tiled when
its long side is more than ``settings.tile_aspect_ratio`` times its short side (tiles
then run along the long side, each at most ``TILE_LENGTH_FACTOR`` times the short side
long), or when a side is longer than ``settings.max_tile_side`` (a grid of tiles no side
of which exceeds it). Neighbouring tiles overlap by at least ``settings.tile_overlap`` of
the tile's length (for a long image: 0.225 x its width with the defaults, more than the
height of any ordinary text line), so a line cut by one seam is whole in the next tile.

Engines that read the whole image themselves (HunyuanOCR: its processor resizes within
its own pixel range) declare a ``WholeImage`` and are tiled only past its limits.

``merge_lines`` maps the lines read in each tile back to image coordinates and removes
what the overlaps read twice, whichever way the text runs: a line cut by a seam (across
or down the image, read left to right, right to left, top to bottom or bottom to top) is
joined once, its pieces in reading order. ``reading_order`` sorts lines into rows, top to
bottom and left to right; lines running another way (vertical columns, a page turned
sideways or upside down) are read as their layout says - columns top to bottom, right to
left for the traditional vertical layout - as one block placed among the rows.

Which way a line runs is read from its box: the first two points run along the text
(``TextLine``). Engines that give vertical text as an upright rectangle, first edge
across it, are taken to read it top to bottom (``orient``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from models.base import Box, TextLine
from worker.settings import Settings

#: A tile of a long image is at most this many times as long as the image is wide.
TILE_LENGTH_FACTOR = 1.5

#: Overlap fractions above this are clamped (tiles would mostly repeat each other).
MAX_OVERLAP = 0.5

#: Two lines from different tiles are one when their boxes overlap by at least this
#: share of the smaller box and one text contains the other ...
CONTAINED_OVERLAP = 0.5
#: ... or when the smaller box lies almost wholly inside the bigger one and the texts
#: are this similar (difflib ratio).
SIMILAR_OVERLAP = 0.8
SIMILAR_TEXT = 0.6

#: Pieces of a line cut along its length are joined when they share at least this share
#: of the smaller one's height (or width, for vertical text).
SAME_ROW = 0.6
#: Pieces whose texts do not simply overlap end to start (the character cut by a tile's
#: edge was misread or lost) are joined on the longest text they share, at least this
#: long, lying where the boxes overlap give or take ``OVERLAP_SLACK`` characters.
LEAST_SHARED = 2
OVERLAP_SLACK = 2

#: An upright rectangle at least this many times as tall as wide, holding two or more
#: characters, is a vertical line (engines that give no direction report them so).
TALL = 1.5

Rect = tuple[int, int, int, int]
Bounds = tuple[float, float, float, float]


def plan_tiles(size: tuple[int, int], settings: Settings) -> list[Rect]:
    """Tiles (left, top, right, bottom) covering an image of ``size``, row by row.

    A single box of the whole image when no tiling is needed.
    """
    width, height = size
    cap = max(1, settings.max_tile_side)
    short, long = sorted((width, height))
    is_long = long > settings.tile_aspect_ratio * short
    if short <= 0 or (not is_long and long <= cap):
        return [(0, 0, width, height)]
    overlap = min(max(settings.tile_overlap, 0.0), MAX_OVERLAP)
    short_spans = spans(short, cap, overlap)
    long_cap = cap
    if is_long:
        short_tile = max(end - start for start, end in short_spans)
        long_cap = min(cap, max(1, math.ceil(short_tile * TILE_LENGTH_FACTOR)))
    long_spans = spans(long, long_cap, overlap)
    xs, ys = (long_spans, short_spans) if width >= height else (short_spans, long_spans)
    return [(x0, y0, x1, y1) for y0, y1 in ys for x0, x1 in xs]


@dataclass(frozen=True)
class WholeImage:
    """An engine that reads the whole image (its processor resizes it) up to its limits.

    HunyuanOCR's processor scales any image to between its min and max pixels and refuses
    aspect ratios past 200; Tencent sends it the whole image. Only an image past
    ``max_pixels`` (which the processor would shrink) or past ``max_aspect`` is cut, into
    the fewest overlapping tiles that are each within both limits.
    """

    max_pixels: int
    max_aspect: float = 200.0

    def fits(self, size: tuple[int, int]) -> bool:
        """Whether an image of ``size`` is read whole."""
        width, height = size
        short, long = sorted((width, height))
        return short > 0 and width * height <= self.max_pixels and long <= self.max_aspect * short

    def plan(self, size: tuple[int, int], overlap: float) -> list[Rect]:
        """Tiles (left, top, right, bottom) covering an image of ``size``, row by row: the
        whole image when it fits, else tiles each within ``max_pixels`` and ``max_aspect``."""
        width, height = size
        if self.fits(size) or min(width, height) <= 0:
            return [(0, 0, width, height)]
        overlap = min(max(overlap, 0.0), MAX_OVERLAP)
        short, long = sorted((width, height))
        side = max(1, math.isqrt(max(self.max_pixels, 1)))
        short_spans = spans(short, min(short, side), overlap)
        short_tile = max(end - start for start, end in short_spans)
        long_cap = max(1, min(math.floor(self.max_aspect * short_tile),
                              self.max_pixels // short_tile))
        long_spans = spans(long, long_cap, overlap)
        xs, ys = (long_spans, short_spans) if width >= height else (short_spans, long_spans)
        return [(x0, y0, x1, y1) for y0, y1 in ys for x0, x1 in xs]


def spans(length: int, cap: int, overlap: float) -> list[tuple[int, int]]:
    """Cut ``[0, length)`` into the fewest equal spans of at most ``cap`` pixels whose
    neighbours overlap by at least ``overlap_pixels(span, overlap)``; spans as short as
    that allows, spread evenly, the last ending at ``length``."""
    cap = max(1, cap)
    if length <= cap:
        return [(0, length)]
    fixed = overlap_pixels(cap, overlap)
    count = math.ceil((length - fixed) / (cap - fixed))
    # The shortest span that still covers ``length`` with ``count`` spans.
    span = min(cap, max(1, math.ceil(length / (count - (count - 1) * overlap))))
    while (count - 1) * (span - overlap_pixels(span, overlap)) + span < length:
        span += 1
    starts = [(i * (length - span)) // (count - 1) for i in range(count)]
    return [(start, start + span) for start in starts]


def overlap_pixels(span: int, overlap: float) -> int:
    """The overlap, in pixels, that neighbouring spans of ``span`` pixels need."""
    return max(0, min(math.ceil(overlap * span), span - 1))


def merge_lines(
    pieces: Sequence[tuple[tuple[int, int], list[TextLine]]],
    *,
    frames: Sequence[int] | None = None,
) -> list[TextLine]:
    """Lines read tile by tile -> lines in image coordinates, each read once.

    ``pieces`` holds, per tile, its (left, top) offset and the lines read in it in tile
    coordinates. ``frames`` gives the animation frame of each piece; by default a piece
    whose offset repeats an earlier piece's belongs to the next frame (list the tiles
    frame by frame).

    Within one frame, a line read in two tiles is kept once: when the boxes overlap and
    one text contains the other (or they are very similar and one box lies inside the
    other), the whole reading - longer text, then bigger box - is kept and the part cut
    by the seam dropped. A line longer than a tile's overlap, cut along its length by a
    seam, is joined back from its pieces when the end of one repeats the start of the
    next. Across frames, a line at the same place with the same text is kept once; a
    different text at the same place is a different line and kept. Lines read in the
    same tile are never merged with each other, and blank lines are dropped.
    """
    if frames is None:
        frames = _infer_frames([offset for offset, _ in pieces])
    elif len(frames) != len(pieces):
        raise ValueError(f"{len(frames)} frame numbers for {len(pieces)} pieces")
    by_frame: dict[int, list[_Item]] = {}
    for number, ((dx, dy), lines) in enumerate(pieces):
        items = by_frame.setdefault(frames[number], [])
        for line in lines:
            if line.text.strip():
                items.append(_Item.of(orient(_shift(line, dx, dy)), number))
    merged: list[_Item] = []
    for frame in sorted(by_frame):
        own = _stitch(_absorb(by_frame[frame]))
        kept_before = len(merged)
        for item in own:
            if not any(_same_text_and_place(item, other) for other in merged[:kept_before]):
                merged.append(item)
    return [item.line for item in merged]


def reading_order(lines: Sequence[TextLine]) -> list[TextLine]:
    """Lines in reading order: rows top to bottom, each row left to right.

    Two lines share a row when each one's vertical centre lies within the other's
    vertical extent. Lines of an animation are ordered frame by frame (a frame's own
    lines together, in reading order), so that no claim is pieced together from
    frames shown at different times.

    Lines running another way than left to right - vertical columns, a page turned
    sideways or upside down - are gathered into blocks of neighbouring lines running
    the same way; a block is read in its own direction (the next line lies below the
    text as it stands: vertical columns read top to bottom go right to left) and takes
    its place among the rows as one piece.
    """
    frames = sorted({line.frame for line in lines if line.frame is not None})
    if frames:
        stills = [line for line in lines if line.frame is None]
        ordered = _rows_and_blocks(stills)
        for frame in frames:
            ordered += _rows_and_blocks([line for line in lines if line.frame == frame])
        return ordered
    return _rows_and_blocks(lines)


def orient(line: TextLine) -> TextLine:
    """``line`` with a box whose first edge runs along its text.

    An upright rectangle given first edge across (top-left, top-right, ...) that is at
    least ``TALL`` times as tall as wide and holds two or more characters is vertical
    text read top to bottom (how engines without a direction report it): its points are
    turned to start at the top right. Every other line is returned as it is.
    """
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = line.box
    upright = y0 == y1 and x1 == x2 and y2 == y3 and x3 == x0 and x1 > x0 and y3 > y0
    if not upright or len("".join(line.text.split())) < 2 or (y3 - y0) < TALL * (x1 - x0):
        return line
    return replace(line, box=((x1, y1), (x2, y2), (x3, y3), (x0, y0)))


# --- reading order -------------------------------------------------------------------

#: A line's reading direction: the image axis it runs along (0 for x, 1 for y) and
#: whether it runs towards larger (+1) or smaller (-1) coordinates.
Direction = tuple[int, int]
ACROSS: Direction = (0, 1)


def direction(line: TextLine) -> Direction:
    """The image axis ``line`` runs along and which way (see ``Direction``)."""
    (x0, y0), (x1, y1) = line.box[0], line.box[1]
    dx, dy = x1 - x0, y1 - y0
    if abs(dy) > abs(dx):
        return (1, 1 if dy > 0 else -1)
    return (0, -1 if dx < 0 else 1)


def _to_text_frame(bounds: Bounds, way: Direction) -> Bounds:
    """``bounds`` in coordinates where lines running ``way`` run left to right and the
    next line lies below (a rotation of the image by a multiple of 90 degrees)."""
    x0, y0, x1, y1 = bounds
    if way == (0, -1):  # upside down
        return (-x1, -y1, -x0, -y0)
    if way == (1, 1):  # top to bottom, next column to the left
        return (y0, -x1, y1, -x0)
    if way == (1, -1):  # bottom to top, next column to the right
        return (-y1, x0, -y0, x1)
    return bounds


def _rows(items: Sequence[tuple[object, Bounds]]) -> list[int]:
    """The indices of ``items`` (anything with its bounds) in row order."""
    order = sorted(
        range(len(items)),
        key=lambda i: ((items[i][1][1] + items[i][1][3]) / 2, items[i][1][0]),
    )
    rows: list[list[int]] = []
    for index in order:
        bounds = items[index][1]
        centre = (bounds[1] + bounds[3]) / 2
        for row in reversed(rows):
            anchor = items[row[0]][1]
            anchor_centre = (anchor[1] + anchor[3]) / 2
            if anchor[1] <= centre <= anchor[3] and bounds[1] <= anchor_centre <= bounds[3]:
                row.append(index)
                break
        else:
            rows.append([index])
    return [i for row in rows for i in sorted(row, key=lambda i: items[i][1][0])]


def _rows_and_blocks(lines: Sequence[TextLine]) -> list[TextLine]:
    """Left-to-right lines in rows, other lines in blocks placed among them."""
    units: list[tuple[list[TextLine], Bounds]] = []
    others: dict[Direction, list[TextLine]] = {}
    for line in lines:
        way = direction(line)
        if way == ACROSS:
            units.append(([line], line.bounds()))
        else:
            others.setdefault(way, []).append(line)
    for way, group in others.items():
        for block in _blocks(group):
            framed = [(line, _to_text_frame(line.bounds(), way)) for line in block]
            ordered = [block[i] for i in _rows(framed)]
            bounds = [line.bounds() for line in block]
            units.append((ordered, (min(b[0] for b in bounds), min(b[1] for b in bounds),
                                    max(b[2] for b in bounds), max(b[3] for b in bounds))))
    return [line for i in _rows(units) for line in units[i][0]]


def _blocks(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """``lines`` (all running one way) in groups of neighbours: lines whose boxes, grown
    by a line's thickness, touch - the columns of one text."""
    bounds = [line.bounds() for line in lines]
    grown = []
    for x0, y0, x1, y1 in bounds:
        margin = min(x1 - x0, y1 - y0)
        grown.append((x0 - margin, y0 - margin, x1 + margin, y1 + margin))
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _intersection(grown[i], grown[j]) > 0:
                parent[root(i)] = root(j)
    groups: dict[int, list[TextLine]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(root(i), []).append(line)
    return list(groups.values())


# --- merging -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """A line in image coordinates and the pieces (tiles) it was read in."""

    line: TextLine
    pieces: frozenset[int]
    bounds: Bounds
    key: str
    way: Direction

    @staticmethod
    def of(line: TextLine, *pieces: int) -> _Item:
        return _Item(line, frozenset(pieces), line.bounds(), "".join(line.text.split()),
                     direction(line))

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bounds
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def _infer_frames(offsets: Sequence[tuple[int, int]]) -> list[int]:
    seen: dict[tuple[int, int], int] = {}
    frames = []
    for offset in offsets:
        frames.append(seen.get(offset, 0))
        seen[offset] = frames[-1] + 1
    return frames


def _shift(line: TextLine, dx: int, dy: int) -> TextLine:
    if not dx and not dy:
        return line
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = line.box
    box = ((x0 + dx, y0 + dy), (x1 + dx, y1 + dy), (x2 + dx, y2 + dy), (x3 + dx, y3 + dy))
    return replace(line, box=box)


def _intersection(a: Bounds, b: Bounds) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def _absorb(items: list[_Item]) -> list[_Item]:
    """Drop every line that is a (partial) second reading of a more complete one.

    Lines are visited most complete first and only ever absorbed into a line kept
    before them, so two different lines can never be chained together into one.
    """
    order = sorted(
        range(len(items)),
        key=lambda i: (
            -len(items[i].key),
            -items[i].area,
            -(items[i].line.score or 0.0),
            i,
        ),
    )
    kept: list[int] = []
    for index in order:
        if not any(_same_line(items[index], items[other]) for other in kept):
            kept.append(index)
    return [items[index] for index in sorted(kept)]


def _same_line(part: _Item, whole: _Item) -> bool:
    """Is ``part`` another tile's reading of the line ``whole``?"""
    shared = _intersection(part.bounds, whole.bounds)
    if shared <= 0 or part.pieces & whole.pieces:
        return False
    smaller = min(part.area, whole.area)
    if smaller <= 0:
        return False
    if shared >= CONTAINED_OVERLAP * smaller and (
        part.key in whole.key or whole.key in part.key
    ):
        return True
    # Two pieces of a line cut along its length can look alike ("abc", "bcd"); they are
    # joined by ``_stitch``, not merged here.
    return (
        shared >= SIMILAR_OVERLAP * smaller
        and SequenceMatcher(None, part.key, whole.key).ratio() >= SIMILAR_TEXT
        and _continues(part, whole) is None
        and _continues(whole, part) is None
    )


def _same_text_and_place(a: _Item, b: _Item) -> bool:
    shared = _intersection(a.bounds, b.bounds)
    return (
        a.key == b.key
        and shared > 0
        and shared >= CONTAINED_OVERLAP * min(a.area, b.area)
    )


def _stitch(items: list[_Item]) -> list[_Item]:
    """Join the pieces of lines that a seam cut along their length.

    Each pass joins every piece to at most one neighbour; a line cut by several seams is
    joined over as many passes.
    """
    while True:
        used = [False] * len(items)
        joined: list[_Item] = []
        for i, first in enumerate(items):
            if used[i]:
                continue
            used[i] = True
            for j, second in enumerate(items):
                if used[j] or _intersection(first.bounds, second.bounds) <= 0:
                    continue
                line = _join(first, second) or _join(second, first)
                if line is not None:
                    used[j] = True
                    first = line
                    break
            joined.append(first)
        if len(joined) == len(items):
            return joined
        items = joined


def _join(first: _Item, second: _Item) -> _Item | None:
    """``first`` and ``second`` as one line, if ``second`` continues ``first`` across a
    seam (see ``_continues``); None otherwise."""
    cut = _continues(first, second)
    if cut is None:
        return None
    a, b = first.line.text.strip(), second.line.text.strip()
    ax0, ay0, ax1, ay1 = first.bounds
    bx0, by0, bx1, by1 = second.bounds
    scores = [s for s in (first.line.score, second.line.score) if s is not None]
    box = _box_along((min(ax0, bx0), min(ay0, by0), max(ax1, bx1), max(ay1, by1)), first.way)
    line = replace(first.line, text=a[: cut[0]] + b[cut[1]:], box=box,
                   score=min(scores) if scores else None)
    return _Item(line, first.pieces | second.pieces, line.bounds(), "".join(line.text.split()),
                 first.way)


def _box_along(bounds: Bounds, way: Direction) -> Box:
    """The rectangle ``bounds`` as a box whose first edge runs ``way``."""
    x0, y0, x1, y1 = bounds
    if way == (0, -1):
        return ((x1, y1), (x0, y1), (x0, y0), (x1, y0))
    if way == (1, 1):
        return ((x1, y0), (x1, y1), (x0, y1), (x0, y0))
    if way == (1, -1):
        return ((x0, y1), (x0, y0), (x1, y0), (x1, y1))
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _continues(first: _Item, second: _Item) -> tuple[int, int] | None:
    """Where to cut the texts to join ``second`` after ``first``, if ``second`` is the
    next piece of a line cut along its length: read in other tiles, running the same way
    on the same row (or column), its box overlapping ``first``'s and reaching further in
    the reading direction, its text going on past ``first``'s. The joined text is
    ``first[:cut[0]] + second[cut[1]:]``: when the end of ``first`` repeats the start of
    ``second``, all of ``first`` and the rest of ``second``; otherwise the two are cut
    after the longest text both read where their boxes overlap (at least
    ``LEAST_SHARED`` characters: a character cut by a tile's edge is often misread or
    lost). None if not."""
    if first.pieces & second.pieces or first.way != second.way:
        return None
    axis, sign = first.way
    a_lo, a_hi = first.bounds[axis], first.bounds[axis + 2]
    b_lo, b_hi = second.bounds[axis], second.bounds[axis + 2]
    c_lo, c_hi = first.bounds[1 - axis], first.bounds[3 - axis]
    d_lo, d_hi = second.bounds[1 - axis], second.bounds[3 - axis]
    if min(c_hi, d_hi) - max(c_lo, d_lo) < SAME_ROW * min(c_hi - c_lo, d_hi - d_lo):
        return None
    if sign < 0:  # reading towards smaller coordinates: mirror the axis
        a_lo, a_hi, b_lo, b_hi = -a_hi, -a_lo, -b_hi, -b_lo
    if not a_lo < b_lo < a_hi < b_hi:
        return None
    a, b = first.line.text.strip(), second.line.text.strip()
    shared = next((k for k in range(min(len(a), len(b)), 0, -1) if a.endswith(b[:k])), 0)
    if 0 < shared < min(len(a), len(b)):
        return len(a), shared
    # The overlap runs from ``b_lo`` to ``a_hi``: where it lies in each text.
    start = math.floor(len(a) * (b_lo - a_lo) / (a_hi - a_lo)) - OVERLAP_SLACK
    stop = math.ceil(len(b) * (a_hi - b_lo) / (b_hi - b_lo)) + OVERLAP_SLACK
    block = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(
        max(0, start), len(a), 0, min(len(b), stop))
    end_a, end_b = block.a + block.size, block.b + block.size
    if block.size < LEAST_SHARED or block.a == 0 or end_b >= len(b):
        return None
    return end_a, end_b
