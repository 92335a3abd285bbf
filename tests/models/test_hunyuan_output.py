"""The HunyuanOCR reply parser and repetition trimmer, on recorded-style replies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.base import TextLine
from models.hunyuan_output import (
    SPOTTING_PROMPT,
    build_messages,
    is_no_text_reply,
    parse_spotting,
    trim_repetition,
)


def texts(lines: list[TextLine]) -> list[str]:
    return [line.text for line in lines]


def test_spotting_prompt_is_the_official_one_verbatim() -> None:
    assert SPOTTING_PROMPT == "检测并识别图片中的文字，将文本坐标格式化输出。"


def test_build_messages_has_empty_system_then_image_then_prompt() -> None:
    image = {"type": "image", "image": "ad.png"}
    messages = build_messages(image)
    assert messages == [
        {"role": "system", "content": ""},
        {"role": "user", "content": [image, {"type": "text", "text": SPOTTING_PROMPT}]},
    ]


def test_coordinates_are_scaled_from_0_1000_to_pixels_of_the_original_image() -> None:
    [line] = parse_spotting("全网第一(100,250),(500,750)", 2000, 400)
    assert line == TextLine.rect("全网第一", 200.0, 100.0, 1000.0, 300.0)
    assert line.score is None


def test_a_long_detail_page_scales_each_axis_by_its_own_side() -> None:
    [line] = parse_spotting("销量第一(0,500),(1000,510)", 750, 8000)
    assert line.bounds() == (0.0, 4000.0, 750.0, 4080.0)


def test_items_back_to_back_become_separate_lines_in_order() -> None:
    reply = "限时特惠(10,10),(300,60)最佳选择(10,100),(400,150)100%有效(500,900),(990,990)"
    lines = parse_spotting(reply, 1000, 1000)
    assert texts(lines) == ["限时特惠", "最佳选择", "100%有效"]
    assert lines[2].bounds() == (500.0, 900.0, 990.0, 990.0)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("金额(小写)(12,30),(400,60)", "金额(小写)"),
        ("(限时)特惠(12,30),(400,60)", "(限时)特惠"),
        ("规格(3,4)(12,30),(400,60)", "规格(3,4)"),
        ("第(1)名(12,30),(400,60)", "第(1)名"),
        ("满(100)减(20)元(12,30),(400,60)", "满(100)减(20)元"),
        ("价格（元）(12,30),(400,60)", "价格（元）"),
        ("<ref>金额(小写)</ref><quad>(12,30),(400,60)</quad>", "金额(小写)"),
    ],
)
def test_parentheses_that_belong_to_the_text_are_kept(reply: str, expected: str) -> None:
    [line] = parse_spotting(reply, 1000, 1000)
    assert line.text == expected
    assert line.bounds() == (12.0, 30.0, 400.0, 60.0)


def test_the_tagged_form_with_special_tokens_kept() -> None:
    reply = (
        "<ref>全网第一</ref><quad>(100,100),(500,200)</quad>"
        "<ref>无效退款</ref><quad>(100,300),(500,400)</quad>"
    )
    lines = parse_spotting(reply, 500, 1000)
    assert lines == [
        TextLine.rect("全网第一", 50.0, 100.0, 250.0, 200.0),
        TextLine.rect("无效退款", 50.0, 300.0, 250.0, 400.0),
    ]


def test_a_four_point_quad_is_kept_as_given() -> None:
    [line] = parse_spotting("斜着的字(100,100),(400,150),(390,250),(90,200)", 1000, 2000)
    assert line.box == ((100.0, 200.0), (400.0, 300.0), (390.0, 500.0), (90.0, 400.0))


def test_corners_given_in_reverse_still_give_a_top_left_first_rectangle() -> None:
    [line] = parse_spotting("倒序(500,600),(100,200)", 1000, 1000)
    assert line == TextLine.rect("倒序", 100.0, 200.0, 500.0, 600.0)


def test_newlines_and_spaces_between_items_and_inside_coordinates_are_tolerated() -> None:
    reply = "\n 第一行 ( 10 , 20 ) , ( 30 , 40 )\n\n第二行(50,60),(70,80)\r\n"
    lines = parse_spotting(reply, 1000, 1000)
    assert texts(lines) == ["第一行", "第二行"]
    assert lines[0].bounds() == (10.0, 20.0, 30.0, 40.0)


def test_points_outside_the_0_1000_range_are_clamped_to_the_image() -> None:
    [line] = parse_spotting("出界(900,950),(1200,1100)", 300, 200)
    assert line.bounds() == (270.0, 190.0, 300.0, 200.0)


def test_a_box_without_text_is_skipped() -> None:
    lines = parse_spotting("(1,2),(3,4)  (5,6),(7,8)有字(9,10),(11,12)", 1000, 1000)
    assert texts(lines) == ["有字"]


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   \n",
        "图中没有文字",
        "图中没有文字。",
        "无文字",
        "图片中没有任何文字",
        "未检测到文字",
        "No text",
        "no text found.",
        "None",
    ],
)
def test_a_no_text_reply_gives_no_lines(reply: str) -> None:
    assert is_no_text_reply(reply)
    assert parse_spotting(reply, 640, 480) == []


@pytest.mark.parametrize("reply", ["没有效果(1,2),(3,4)", "无文字游戏", "text(1,2),(3,4)"])
def test_text_that_merely_mentions_no_text_is_not_a_no_text_reply(reply: str) -> None:
    assert not is_no_text_reply(reply)


@pytest.mark.parametrize(
    "tail",
    [
        "第二行",
        "第二行(",
        "第二行(50,",
        "第二行(50,60)",
        "第二行(50,60),",
        "第二行(50,60),(70",
        "第二行(50,60),(70,80",
        "<ref>第二行</ref><quad>(50,60),(7",
    ],
)
def test_a_truncated_tail_is_dropped_and_the_good_lines_kept(tail: str) -> None:
    reply = "第一行(10,20),(30,40)" + tail
    assert texts(parse_spotting(reply, 1000, 1000)) == ["第一行"]


def test_a_recorded_style_ad_reply() -> None:
    reply = (
        "爆款直降(43,36),(412,118)全网销量第一(40,140),(760,230)\n"
        "原价(199)现价(99)(52,260),(520,310)7天见效 无效退款(50,820),(610,880)"
        "*图片仅供参考(600,950),(980,985)"
    )
    lines = parse_spotting(reply, 800, 1200)
    assert texts(lines) == [
        "爆款直降",
        "全网销量第一",
        "原价(199)现价(99)",
        "7天见效 无效退款",
        "*图片仅供参考",
    ]
    assert lines[1] == TextLine.rect("全网销量第一", 32.0, 168.0, 608.0, 276.0)


# ---------------------------------------------------------------- repetition


def test_a_runaway_item_cut_by_the_token_cap_is_trimmed_to_one_copy() -> None:
    loop = "最佳(100,200),(300,260)"
    reply = "限时特惠(10,10),(300,60)" + loop * 40 + loop[:9]
    trimmed = trim_repetition(reply)
    assert trimmed == "限时特惠(10,10),(300,60)" + loop
    assert texts(parse_spotting(trimmed, 1000, 1000)) == ["限时特惠", "最佳"]


def test_the_copy_kept_is_whole_even_when_the_text_before_ends_like_the_loop() -> None:
    # The line before the loop ends with the loop's own tail "(300,260)".
    loop = "最佳(100,200),(300,260)"
    reply = "特惠(10,10),(300,260)" + loop * 20 + loop[:5]
    trimmed = trim_repetition(reply)
    assert texts(parse_spotting(trimmed, 1000, 1000)) == ["特惠", "最佳"]
    assert trimmed.count("最佳") == 1


def test_a_repeated_line_is_kept_once() -> None:
    reply = "第一行\n" + "重复的行\n" * 30 + "重复"
    assert trim_repetition(reply) == "第一行\n重复的行\n"


def test_a_runaway_character_is_kept_once() -> None:
    assert trim_repetition("正品" + "好" * 200) == "正品好"


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "哈哈哈哈",
        "全网第一(10,20),(30,40)最佳(50,60),(70,80)",
        "好评(1,1),(9,9)好评(1,11),(9,19)好评(1,21),(9,29)好评(1,31),(9,39)好评(1,41),(9,49)",
        "8888888(1,1),(9,9)",
    ],
)
def test_replies_without_runaway_repetition_are_left_alone(reply: str) -> None:
    assert trim_repetition(reply) == reply


def test_trimming_a_long_runaway_reply_is_fast() -> None:
    import time

    reply = "这是一行很长的广告文字内容(100,200),(900,260)" * 400
    started = time.perf_counter()
    trimmed = trim_repetition(reply)
    assert time.perf_counter() - started < 1.0
    assert trimmed == "这是一行很长的广告文字内容(100,200),(900,260)"


# ---------------------------------------------------------------- properties

REPLY_ALPHABET = st.sampled_from(list("0123456789(),(),<>/refquad \n最佳第一金额(小写)限时xX.-"))
REPLIES = st.one_of(st.text(), st.text(alphabet=REPLY_ALPHABET, max_size=300))
SIZES = st.tuples(st.integers(1, 10_000), st.integers(1, 10_000))


@settings(max_examples=400, deadline=None)
@given(reply=REPLIES, size=SIZES)
def test_parse_never_raises_and_every_box_lies_within_the_image(
    reply: str, size: tuple[int, int]
) -> None:
    width, height = size
    for line in parse_spotting(reply, width, height):
        assert line.text and line.text == line.text.strip()
        assert line.score is None
        for x, y in line.box:
            assert 0.0 <= x <= width
            assert 0.0 <= y <= height


@settings(max_examples=200, deadline=None)
@given(reply=REPLIES)
def test_trimming_never_raises_and_keeps_a_prefix(reply: str) -> None:
    trimmed = trim_repetition(reply)
    assert reply.startswith(trimmed)


ITEM_TEXT = st.text(
    alphabet=st.sampled_from(list("最佳第一金额小写限时特惠()（）% abc")), min_size=1
)
COORD = st.integers(0, 1000)


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(st.tuples(ITEM_TEXT, COORD, COORD, COORD, COORD), max_size=8),
    separator=st.sampled_from(["", "\n"]),
)
def test_rendered_items_parse_back(
    items: list[tuple[str, int, int, int, int]], separator: str
) -> None:
    reply = separator.join(f"{text}({x0},{y0}),({x1},{y1})" for text, x0, y0, x1, y1 in items)
    expected = [
        TextLine.rect(text.strip(), min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        for text, x0, y0, x1, y1 in items
        if text.strip()
    ]
    assert parse_spotting(reply, 1000, 1000) == expected
