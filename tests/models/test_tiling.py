"""Tiling: tile plans, seam de-duplication with exact geometry, reading order."""

from __future__ import annotations

import itertools
import math
import string
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.base import FakeEngine, TextLine
from models.tiling import (
    TILE_LENGTH_FACTOR,
    WholeImage,
    merge_lines,
    orient,
    plan_tiles,
    reading_order,
    spans,
)
from tests.models.labels import Label, draw, reader
from worker.settings import Settings

DEFAULTS = Settings()


def axis_spans(tiles: list[tuple[int, int, int, int]]) -> tuple[list[tuple[int, int]], ...]:
    xs = sorted({(t[0], t[2]) for t in tiles})
    ys = sorted({(t[1], t[3]) for t in tiles})
    return xs, ys


def read_tiled(image, labels, config: Settings) -> list[TextLine]:
    """Crop the tiles of the plan, read each with the label reader, merge."""
    engine = FakeEngine(reader(labels))
    tiles = plan_tiles(image.size, config)
    results = engine.recognize([image.crop(tile) for tile in tiles])
    return merge_lines([((t[0], t[1]), lines) for t, lines in zip(tiles, results, strict=True)])


def texts(lines: list[TextLine]) -> list[str]:
    return [line.text for line in lines]


# --- plan_tiles ----------------------------------------------------------------------


def test_an_ordinary_image_is_one_tile() -> None:
    assert plan_tiles((800, 600), DEFAULTS) == [(0, 0, 800, 600)]
    assert plan_tiles((2048, 2048), DEFAULTS) == [(0, 0, 2048, 2048)]


def test_when_aspect_ratio_only_reaches_the_threshold_then_no_tiles() -> None:
    assert plan_tiles((800, 2000), DEFAULTS) == [(0, 0, 800, 2000)]
    assert len(plan_tiles((800, 2001), DEFAULTS)) > 1


def test_when_a_detail_page_is_long_then_square_ish_tiles_run_down_it() -> None:
    tiles = plan_tiles((750, 8000), DEFAULTS)
    xs, ys = axis_spans(tiles)
    assert xs == [(0, 750)]
    assert ys[0][0] == 0 and ys[-1][1] == 8000
    heights = {bottom - top for top, bottom in ys}
    assert max(heights) <= TILE_LENGTH_FACTOR * 750
    assert min(heights) >= 750
    for (_, end), (start, _) in itertools.pairwise(ys):
        # More than a headline's height on a 750 px wide ad, so a cut line is whole next door.
        assert end - start >= DEFAULTS.tile_overlap * max(heights)
        assert end - start >= 150


def test_when_a_banner_is_wide_then_tiles_run_across_it() -> None:
    xs, ys = axis_spans(plan_tiles((8000, 750), DEFAULTS))
    assert ys == [(0, 750)]
    assert len(xs) > 1 and xs[-1][1] == 8000


def test_when_both_sides_exceed_the_tile_limit_then_a_grid_is_cut() -> None:
    tiles = plan_tiles((5000, 5000), DEFAULTS)
    xs, ys = axis_spans(tiles)
    assert len(tiles) == len(xs) * len(ys) == 9
    assert all(r - l <= 2048 and b - t <= 2048 for l, t, r, b in tiles)  # noqa: E741


def test_when_the_image_is_just_over_the_limit_then_tiles_shrink_to_fit() -> None:
    # Two tiles of about half the side each, not two 2048 px tiles repeating each other.
    xs, _ = axis_spans(plan_tiles((2100, 2100), DEFAULTS))
    assert len(xs) == 2
    assert all(end - start < 1200 for start, end in xs)


def test_spans_of_a_short_side_are_the_whole_side() -> None:
    assert spans(500, 500, 0.15) == [(0, 500)]
    assert spans(1, 1, 0.5) == [(0, 1)]


@settings(max_examples=300, deadline=None)
@given(
    length=st.integers(1, 200_000),
    cap=st.integers(1, 5000).filter(lambda cap: cap >= 16 or cap == 1),
    overlap=st.floats(0.0, 0.5),
)
def test_spans_cover_the_length_with_the_overlap_asked(
    length: int, cap: int, overlap: float
) -> None:
    cut = spans(length, cap, overlap)
    assert cut[0][0] == 0 and cut[-1][1] == length
    assert all(0 <= start < end <= length and end - start <= cap for start, end in cut)
    assert len({end - start for start, end in cut}) == 1, "spans are equal"
    for (_, end), (start, next_end) in itertools.pairwise(cut):
        span = next_end - start
        assert end - start >= min(overlap * span, span - 1) - 1e-6
    # The fewest spans: one fewer could not cover the length with that overlap.
    fewer = len(cut) - 1
    if fewer >= 1:
        least = math.ceil(overlap * cap) if cap > 1 else 0
        assert fewer * cap - (fewer - 1) * min(least, cap - 1) < length


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(1, 30_000),
    height=st.integers(1, 30_000),
    ratio=st.floats(1.0, 10.0),
    overlap=st.floats(0.0, 0.5),
    max_side=st.integers(256, 4096),
)
def test_tile_plans_cover_the_image_within_bounds_with_the_overlap_asked(
    width: int, height: int, ratio: float, overlap: float, max_side: int
) -> None:
    config = Settings(tile_aspect_ratio=ratio, tile_overlap=overlap, max_tile_side=max_side)
    tiles = plan_tiles((width, height), config)
    xs, ys = axis_spans(tiles)
    assert sorted(tiles) == sorted((x0, y0, x1, y1) for x0, x1 in xs for y0, y1 in ys)
    for axis, length in ((xs, width), (ys, height)):
        assert axis[0][0] == 0 and axis[-1][1] == length
        for start, end in axis:
            assert 0 <= start < end <= length
            if len(axis) > 1:
                assert end - start <= max_side
        for (_, end), (start, next_end) in itertools.pairwise(axis):
            tile_length = next_end - start
            assert start <= end, "no gap between neighbouring tiles"
            assert end - start >= min(overlap * tile_length, tile_length - 1) - 1e-6
    if max(width, height) > max_side:
        assert len(tiles) > 1


# --- WholeImage: engines that read the whole image ------------------------------------

HUNYUAN = WholeImage(2048 * 2048)


def test_a_banner_is_read_whole_by_a_whole_image_engine() -> None:
    # Today's tiling cuts it into 120 x 90 pieces; HunyuanOCR's processor takes it as is.
    assert len(plan_tiles((728, 90), Settings())) > 1
    assert HUNYUAN.plan((728, 90), 0.15) == [(0, 0, 728, 90)]


def test_a_phone_photo_within_max_pixels_is_read_whole() -> None:
    assert HUNYUAN.plan((2000, 2000), 0.15) == [(0, 0, 2000, 2000)]
    assert HUNYUAN.plan((20000, 101), 0.15) == [(0, 0, 20000, 101)]


def test_past_max_pixels_a_detail_page_is_cut_into_tiles_within_the_limits() -> None:
    tiles = HUNYUAN.plan((750, 8000), 0.15)
    assert len(tiles) > 1
    for x0, y0, x1, y1 in tiles:
        assert (x0, x1) == (0, 750)
        assert (x1 - x0) * (y1 - y0) <= HUNYUAN.max_pixels


def test_past_the_aspect_limit_a_strip_is_cut_into_tiles_within_it() -> None:
    tiles = HUNYUAN.plan((30000, 100), 0.15)
    assert len(tiles) == 2
    for x0, y0, x1, y1 in tiles:
        assert (y0, y1) == (0, 100)
        assert (x1 - x0) <= 200 * 100


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 40000),
    height=st.integers(1, 40000),
    max_pixels=st.integers(64 * 64, 4096 * 4096),
    overlap=st.floats(0.0, 0.5),
)
def test_whole_image_plans_cover_the_image_with_tiles_within_the_limits(
    width: int, height: int, max_pixels: int, overlap: float
) -> None:
    limits = WholeImage(max_pixels)
    tiles = limits.plan((width, height), overlap)
    xs, ys = axis_spans(tiles)
    assert sorted(tiles) == sorted((x0, y0, x1, y1) for x0, x1 in xs for y0, y1 in ys)
    for axis, length in ((xs, width), (ys, height)):
        assert axis[0][0] == 0 and axis[-1][1] == length
        for (_, end), (start, _) in itertools.pairwise(axis):
            assert start <= end, "no gap between neighbouring tiles"
    if limits.fits((width, height)):
        assert tiles == [(0, 0, width, height)]
    else:
        for x0, y0, x1, y1 in tiles:
            w, h = x1 - x0, y1 - y0
            assert w * h <= max_pixels
            assert max(w, h) <= 200 * min(w, h)


# --- merge_lines ---------------------------------------------------------------------


def test_boxes_are_moved_from_tile_to_image_coordinates() -> None:
    line = TextLine.rect("限时优惠", 5, 6, 50, 20, 0.8)
    [merged] = merge_lines([((100, 200), [line])])
    assert merged.box == ((105, 206), (150, 206), (150, 220), (105, 220))
    assert merged.score == 0.8


def test_when_a_seam_cuts_a_line_then_the_whole_reading_is_kept() -> None:
    partial = TextLine.rect("全网销量", 10, 90, 200, 100)  # tile 0: top half of the line
    whole = TextLine.rect("全网销量第一", 10, 10, 250, 40)  # tile 1, which starts at y=80
    merged = merge_lines([((0, 0), [partial]), ((0, 80), [whole])])
    assert merged == [TextLine.rect("全网销量第一", 10, 90, 250, 120)]


def test_when_the_cut_reading_is_garbled_but_similar_then_it_is_dropped() -> None:
    partial = TextLine.rect("全网销量弟一", 10, 90, 250, 105)
    whole = TextLine.rect("全网销量第一", 10, 10, 250, 40)
    merged = merge_lines([((0, 0), [partial]), ((0, 80), [whole])])
    assert texts(merged) == ["全网销量第一"]


def test_when_readings_differ_entirely_then_both_are_kept() -> None:
    # Different text at the same place in two tiles of one frame is not a duplicate the
    # merger may guess away: a review would rather see one line too many.
    first = TextLine.rect("限时优惠", 10, 90, 250, 120)
    second = TextLine.rect("根治脱发", 10, 10, 250, 40)
    assert len(merge_lines([((0, 0), [first]), ((0, 80), [second])])) == 2


def test_a_line_in_the_overlap_read_by_both_tiles_is_kept_once() -> None:
    above = [TextLine.rect("第一行", 10, 10, 200, 40), TextLine.rect("重叠处", 10, 100, 200, 130)]
    below = [TextLine.rect("重叠处", 10, 20, 200, 50), TextLine.rect("第三行", 10, 300, 200, 330)]
    merged = merge_lines([((0, 0), above), ((0, 80), below)])
    assert sorted(texts(merged)) == sorted(["第一行", "重叠处", "第三行"])


def test_lines_of_one_tile_are_never_merged_with_each_other() -> None:
    same = [TextLine.rect("第一", 10, 10, 60, 40), TextLine.rect("第一", 12, 12, 62, 42)]
    assert len(merge_lines([((0, 0), same)])) == 2


def test_blank_lines_are_dropped() -> None:
    lines = [TextLine.rect("  ", 0, 0, 5, 5), TextLine.rect("", 0, 0, 5, 5)]
    assert merge_lines([((0, 0), lines)]) == []


def test_when_a_seam_cuts_a_line_along_its_length_then_the_pieces_are_joined() -> None:
    # Tiles [0, 371) and [314, 685): neither holds the whole line x = 250..500.
    left = TextLine.rect("ABCDE", 250, 10, 371, 40, 0.9)
    right = TextLine.rect("DEFGHIJ", 0, 10, 186, 40, 0.7)
    merged = merge_lines([((0, 0), [left]), ((314, 0), [right])])
    assert merged == [TextLine.rect("ABCDEFGHIJ", 250, 10, 500, 40, 0.7)]


def test_a_line_across_three_tiles_is_joined_from_three_pieces() -> None:
    pieces = [
        ((0, 0), [TextLine.rect("全网销量", 100, 10, 371, 40)]),
        ((314, 0), [TextLine.rect("销量第一的", 0, 10, 371, 40)]),
        ((629, 0), [TextLine.rect("一的品牌", 0, 10, 271, 40)]),
    ]
    merged = merge_lines(pieces)
    assert merged == [TextLine.rect("全网销量第一的品牌", 100, 10, 900, 40)]


def test_when_pieces_share_no_text_then_they_are_not_joined() -> None:
    left = TextLine.rect("ABC", 250, 10, 371, 40)
    right = TextLine.rect("XYZ", 0, 10, 186, 40)
    assert len(merge_lines([((0, 0), [left]), ((314, 0), [right])])) == 2


def down(text: str, x0: float, y0: float, x1: float, y1: float) -> TextLine:
    """A vertical line read top to bottom, as engines that know the direction give it."""
    return TextLine(text, ((x1, y0), (x1, y1), (x0, y1), (x0, y0)))


def up(text: str, x0: float, y0: float, x1: float, y1: float) -> TextLine:
    """A vertical line read bottom to top (a page turned a quarter to the left)."""
    return TextLine(text, ((x0, y1), (x0, y0), (x1, y0), (x1, y1)))


def backwards(text: str, x0: float, y0: float, x1: float, y1: float) -> TextLine:
    """A line read right to left (a page upside down)."""
    return TextLine(text, ((x1, y1), (x0, y1), (x0, y0), (x1, y0)))


def test_vertical_text_cut_by_a_seam_is_joined_down_the_column() -> None:
    top = TextLine.rect("国家级", 100, 500, 130, 600)  # upright rectangles: read downwards
    bottom = TextLine.rect("家级品质", 100, 20, 130, 150)  # tile starting at y=520
    merged = merge_lines([((0, 0), [top]), ((0, 520), [bottom])])
    assert merged == [down("国家级品质", 100, 500, 130, 670)]


def test_text_read_up_the_image_is_joined_with_its_start_below() -> None:
    # A page turned to the left: the line starts at the bottom. The lower tile (from
    # y=520) holds its start, the upper one its end.
    start = up("本品全网销量", 100, 20, 130, 200)  # y 540..720 in the image
    end = up("销量第一值得", 100, 380, 130, 560)  # y 380..560
    merged = merge_lines([((0, 0), [end]), ((0, 520), [start])])
    assert merged == [up("本品全网销量第一值得", 100, 380, 130, 720)]


def test_text_read_right_to_left_is_joined_across_a_vertical_seam() -> None:
    start = backwards("ABCDE", 0, 10, 186, 40)  # right tile from x=314: x 314..500
    end = backwards("DEFGHIJ", 200, 10, 371, 40)  # left tile: x 200..371
    merged = merge_lines([((0, 0), [end]), ((314, 0), [start])])
    assert merged == [backwards("ABCDEFGHIJ", 200, 10, 500, 40)]


def test_a_character_misread_at_the_edge_of_a_tile_does_not_keep_pieces_apart() -> None:
    # The upper tile ends inside 效, read as 交; the lower tile starts inside 7, lost.
    upper = down("坚持服用七天7天见交", 100, 100, 130, 560)
    lower = down("天见效效果看得见", 100, 0, 130, 400)  # tile from y=440
    merged = merge_lines([((0, 0), [upper]), ((0, 440), [lower])])
    assert [line.text for line in merged] == ["坚持服用七天7天见效效果看得见"]
    assert merged[0].bounds() == (100, 100, 130, 840)


def test_pieces_running_different_ways_are_not_joined() -> None:
    first = down("国家级", 100, 500, 130, 600)
    second = up("家级品质", 100, 20, 130, 150)
    assert len(merge_lines([((0, 0), [first]), ((0, 520), [second])])) == 2


def test_a_shared_character_far_from_the_overlap_does_not_join_pieces() -> None:
    upper = down("品质第一流", 100, 100, 130, 560)
    lower = down("量大品质优良", 100, 0, 130, 400)  # "品质" lies far from the overlap
    assert len(merge_lines([((0, 0), [upper]), ((0, 440), [lower])])) == 2


def test_when_frames_show_the_same_line_in_the_same_place_then_it_is_one_line() -> None:
    line = TextLine.rect("全网第一", 10, 10, 200, 40)
    moved = TextLine.rect("全网第一", 11, 10, 201, 41)
    assert len(merge_lines([((0, 0), [line]), ((0, 0), [moved])], frames=[0, 1])) == 1


def test_when_frames_show_different_text_in_the_same_place_then_both_are_kept() -> None:
    first = TextLine.rect("限时优惠", 10, 10, 200, 40)
    later = TextLine.rect("全网第一", 10, 10, 200, 40)
    merged = merge_lines([((0, 0), [first]), ((0, 0), [later])], frames=[0, 1])
    assert texts(merged) == ["限时优惠", "全网第一"]


def test_a_frame_showing_part_of_another_frames_text_keeps_its_own_line() -> None:
    # "第一步" (an exception) then "第一" (a claim) in the same place: containment merges
    # cut readings within a frame, but never folds one frame's text into another's.
    first = TextLine.rect("第一步", 10, 10, 120, 40)
    later = TextLine.rect("第一", 10, 10, 80, 40)
    merged = merge_lines([((0, 0), [first]), ((0, 0), [later])])  # frames from offsets
    assert texts(merged) == ["第一步", "第一"]


def test_the_same_text_in_the_same_place_across_frames_and_tiles_is_one_line() -> None:
    cut = TextLine.rect("全网", 10, 90, 120, 100)
    whole = TextLine.rect("全网第一", 10, 10, 200, 40)
    pieces = [((0, 0), [cut]), ((0, 80), [whole]), ((0, 0), [cut]), ((0, 80), [whole])]
    assert merge_lines(pieces) == [TextLine.rect("全网第一", 10, 90, 200, 120)]
    assert merge_lines(pieces, frames=[0, 0, 1, 1]) == merge_lines(pieces)


def test_frame_numbers_must_match_the_pieces() -> None:
    try:
        merge_lines([((0, 0), [])], frames=[0, 1])
    except ValueError as exc:
        assert "2 frame numbers for 1 pieces" in str(exc)
    else:
        raise AssertionError("expected ValueError")


# --- geometry with the label reader --------------------------------------------------


def test_a_long_page_is_read_once_per_line_with_exact_boxes() -> None:
    size = (600, 5000)
    tiles = plan_tiles(size, DEFAULTS)
    seam = tiles[0][3]  # bottom edge of the first tile, inside the second
    labels = [
        Label(1, "顶部文字", (40, 20, 560, 80)),
        Label(2, "全网销量第一", (60, seam - 30, 540, seam + 30)),
        Label(3, "中间文字", (40, 2500, 400, 2560)),
        Label(4, "底部文字", (100, 4920, 500, 4980)),
    ]
    lines = reading_order(read_tiled(draw(size, labels), labels, DEFAULTS))
    assert [(line.text, line.bounds()) for line in lines] == [
        (label.text, label.box) for label in labels
    ]


def test_a_wide_line_in_a_grid_is_joined_across_vertical_seams() -> None:
    config = Settings(max_tile_side=400)
    size = (1000, 900)
    labels = [
        Label(1, string.ascii_uppercase, (100, 100, 700, 130)),  # across three tiles
        Label(2, "ABCDEFGHIJ", (250, 500, 500, 530)),
    ]
    lines = reading_order(read_tiled(draw(size, labels), labels, config))
    assert [(line.text, line.bounds()) for line in lines] == [
        (label.text, label.box) for label in labels
    ]


@st.composite
def layouts(draw_: st.DrawFn) -> tuple[Settings, tuple[int, int], list[Label]]:
    """Random tile settings, an image, and labels that the tiling must read exactly once:
    no label taller than a seam's overlap, and characters narrow enough that a line cut
    along its length shares at least one whole character between neighbouring tiles."""
    config = Settings(
        max_tile_side=draw_(st.integers(200, 600)),
        tile_overlap=draw_(st.floats(0.1, 0.3)),
        tile_aspect_ratio=draw_(st.floats(1.5, 4.0)),
    )
    size = (draw_(st.integers(200, 1400)), draw_(st.integers(200, 3000)))
    xs, ys = axis_spans(plan_tiles(size, config))

    def least_overlap(axis: list[tuple[int, int]], length: int) -> int:
        gaps = [end - start for (_, end), (start, _) in itertools.pairwise(axis)]
        return min(gaps, default=length)

    line_height_limit = min(least_overlap(ys, size[1]), 60)
    char_width_limit = max(1, least_overlap(xs, size[0]) // 3)
    # A line of text is never much taller than wide (an upright box that is reads as a
    # vertical line, see ``models.tiling.orient``).
    labels: list[Label] = []
    top = draw_(st.integers(0, 20))
    alphabet = string.ascii_letters + string.digits
    while len(labels) < 8:
        height = draw_(st.integers(8, max(8, line_height_limit - 1)))
        if top + height > size[1] or height >= line_height_limit:
            break
        chars = draw_(st.integers(2, len(alphabet)))
        char_width = draw_(st.integers(1, min(char_width_limit, 40)))
        width = min(max(chars * char_width, height), size[0])
        chars = max(1, width // char_width)
        left = draw_(st.integers(0, size[0] - width))
        text = "".join(draw_(st.permutations(alphabet))[:chars])
        labels.append(Label(len(labels) + 1, text, (left, top, left + width, top + height)))
        top += height + draw_(st.integers(2, 400))
    return config, size, labels


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_every_line_is_read_exactly_once_at_its_place_whatever_the_tiling(
    layout: tuple[Settings, tuple[int, int], list[Label]],
) -> None:
    config, size, labels = layout
    lines = reading_order(read_tiled(draw(size, labels), labels, config))
    assert [(line.text, line.bounds()) for line in lines] == [
        (label.text, label.box) for label in labels
    ]


# --- reading_order -------------------------------------------------------------------


def test_reading_order_is_rows_top_to_bottom_then_left_to_right() -> None:
    a = TextLine.rect("左上", 10, 10, 100, 40)
    b = TextLine.rect("右上", 300, 14, 400, 44)  # a little lower, same row
    c = TextLine.rect("左下", 10, 100, 100, 130)
    d = TextLine.rect("右下", 300, 95, 400, 125)  # a little higher, same row
    assert reading_order([d, c, b, a]) == [a, b, c, d]


def test_a_big_headline_and_a_small_line_beside_its_middle_share_a_row() -> None:
    headline = TextLine.rect("大标题", 200, 0, 600, 200)
    small = TextLine.rect("小字", 10, 90, 100, 110)
    below = TextLine.rect("下一行", 10, 300, 100, 330)
    assert reading_order([below, headline, small]) == [small, headline, below]


def test_lines_that_only_touch_vertically_are_separate_rows() -> None:
    upper = TextLine.rect("上行", 500, 0, 600, 30)
    lower = TextLine.rect("下行", 0, 28, 100, 58)
    assert reading_order([lower, upper]) == [upper, lower]


def test_reading_order_of_nothing_is_nothing() -> None:
    assert reading_order([]) == []


def test_rotated_boxes_are_ordered_by_their_bounds() -> None:
    tilted = TextLine("斜体", ((10, 60), (100, 20), (110, 40), (20, 80)))
    top = TextLine.rect("顶部", 0, 0, 50, 10)
    assert reading_order([tilted, top]) == [top, tilted]
    assert math.isclose(tilted.bounds()[1], 20)


def test_vertical_columns_are_read_top_to_bottom_right_to_left() -> None:
    columns = [down(text, x, 100, x + 40, 500) for text, x in
               (("第一列", 400), ("第二列", 340), ("第三列", 280))]
    assert reading_order(list(reversed(columns))) == columns


def test_pieces_of_one_column_are_read_down_before_the_next_column() -> None:
    upper, lower = down("上半", 300, 100, 340, 250), down("下半", 300, 270, 340, 420)
    left = down("左列", 240, 100, 280, 420)
    assert reading_order([left, lower, upper]) == [upper, lower, left]


def test_a_vertical_block_takes_its_place_between_horizontal_rows() -> None:
    title = TextLine.rect("养生堂", 100, 10, 400, 80)
    columns = [down("右列文字", 300, 120, 340, 500), down("左列文字", 240, 120, 280, 500)]
    foot = TextLine.rect("理性消费", 100, 540, 400, 580)
    assert reading_order([foot, *reversed(columns), title]) == [title, *columns, foot]


def test_a_page_turned_to_the_left_is_read_left_to_right_up_each_line() -> None:
    # Its first line lies at the left, read from the bottom up.
    lines = [up(text, x, 100, x + 40, 900) for text, x in (("一", 100), ("二", 200), ("三", 300))]
    assert reading_order(list(reversed(lines))) == lines


def test_an_upside_down_page_is_read_from_its_bottom_line_right_to_left() -> None:
    top = backwards("末行", 100, 10, 400, 40)
    bottom_right = backwards("首行右", 300, 70, 400, 100)
    bottom_left = backwards("首行左", 100, 70, 200, 100)
    assert reading_order([top, bottom_left, bottom_right]) == [bottom_right, bottom_left, top]


def test_lines_of_an_animation_are_ordered_frame_by_frame() -> None:
    first = replace(TextLine.rect("满199减30", 10, 100, 200, 130), frame=0)
    title = replace(TextLine.rect("限时特惠", 10, 10, 200, 40), frame=0)
    later = replace(TextLine.rect("全网第一", 10, 60, 200, 90), frame=12)
    assert reading_order([later, first, title]) == [title, first, later]


def test_an_upright_rectangle_of_two_or_more_characters_reads_down() -> None:
    column = TextLine.rect("国家级", 100, 0, 130, 100)
    assert orient(column) == down("国家级", 100, 0, 130, 100) and orient(column).is_vertical()
    for line in (TextLine.rect("级", 100, 0, 130, 100), TextLine.rect("国家级", 0, 0, 90, 30),
                 down("国家级", 100, 0, 130, 100)):
        assert orient(line) == line
