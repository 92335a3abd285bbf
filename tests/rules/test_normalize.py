"""Normalisation folds evasions to one form and maps every character back."""

from __future__ import annotations

import pytest

from rules.normalize import Normalizer, fold_char


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("１００％", "100%"),  # full-width digits and percent
        ("ＮＯ．１", "no1"),  # full-width letters, dot is a separator
        ("TOP 1", "top1"),
        ("國家級", "国家级"),  # traditional to simplified
        ("全 网 第 一", "全网第一"),
        ("最·佳", "最佳"),
        ("无效★退款", "无效退款"),
        ("全\u200b网\u200d第\ufeff一", "全网第一"),  # zero-width characters
        ("最-佳_好~", "最佳好"),
        ("第①", "第1"),
        ("第❶", "第1"),
        ("第⑴", "第1"),
        ("第壹", "第一"),
        ("貳", "二"),
        ("全网\n第一", "全网第一"),  # a phrase broken across OCR lines
        ("【最佳】", "最佳"),
    ],
)
def test_when_text_uses_an_evasion_form_then_it_folds_to_the_plain_form(
    raw: str, folded: str
) -> None:
    assert Normalizer().fold(raw) == folded


def test_sentence_punctuation_is_kept_so_phrases_never_span_clauses() -> None:
    assert Normalizer().fold("全网，第一。最好？") == "全网,第一。最好?"
    assert Normalizer().fold("第一，第二，第三。") == "第一,第二,第三。"


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        # a sentence mark between single characters is a separator
        ("全，网，第，一", "全网第一"),
        ("最！佳", "最佳"),
        ("国、家、级", "国家级"),
        # arithmetic signs between Han characters; kept beside digits
        ("全+网+第+一", "全网第一"),
        ("最=佳", "最佳"),
        ("满100+送", "满100+送"),
        # pipes, tildes, the ideographic space, brackets
        ("全|网|第|一", "全网第一"),
        ("最～佳", "最佳"),
        ("国\u3000家\u3000级", "国家级"),
        ("〔根〕《治》", "根治"),
        # Han look-alikes
        ("笫一", "第一"),
        ("冣佳", "最佳"),
        ("囯家级", "国家级"),
        ("ー", "一"),
        # Latin and digit confusions inside Latin tokens
        ("N0.1", "no1"),
        ("T0P1", "top1"),
        ("l00%有效", "100%有效"),
        ("ТОР1", "top1"),  # Cyrillic Т, О, Р
        ("🅽🅾.1", "no1"),  # negative squared letters
        # keycap and enclosed digits
        ("第1\ufe0f\u20e3", "第1"),
        ("第㊀", "第一"),
        ("第⒈", "第1"),
        # pinyin for the characters that carry a claim
        ("zui佳", "最佳"),
        ("全网ZUI低", "全网最低"),
        ("销量di yi", "销量第一"),
        ("销量DI 1", "销量第1"),
        ("ding级", "顶级"),
        ("ji品", "极品"),
    ],
)
def test_when_a_claim_is_written_with_an_evasion_then_it_folds_to_the_claim(
    raw: str, folded: str
) -> None:
    assert Normalizer().fold(raw) == folded
    assert Normalizer().normalize(raw).text == folded


@pytest.mark.parametrize(
    "ordinary",
    ["1080p高清", "hello world", "ding dong", "好的，我知道了", "di da", "zui", "iphone 15",
     "A4纸", "零，一，二", "x=1", "3+2=5"],
)
def test_when_text_is_ordinary_then_the_context_folds_leave_it_alone(ordinary: str) -> None:
    folded = Normalizer().fold(ordinary)
    assert "最" not in folded and "第" not in folded and "顶" not in folded
    assert folded.replace(",", "") == Normalizer().fold(ordinary.replace("，", ""))


def test_when_pinyin_folds_then_the_match_span_covers_the_whole_syllable() -> None:
    text = "全网zui低价 销量di yi"
    norm = Normalizer().normalize(text)
    assert norm.text == "全网最低价销量第一"
    start, end = norm.span(2, 4)
    assert text[start:end] == "zui低"
    start, end = norm.span(7, 9)
    assert text[start:end] == "di yi"
    assert not norm.gap_before(3) and norm.gap_before(8)


def test_fold_char_drops_separators_and_keeps_cjk() -> None:
    assert fold_char(" ") == ""
    assert fold_char("★") == ""
    assert fold_char("网") == "网"
    assert fold_char("Ａ") == "a"


def test_when_characters_expand_or_vanish_then_offsets_still_point_to_their_origin() -> None:
    text = "a⑴ b★ＮＯ"
    norm = Normalizer().normalize(text)
    assert norm.text == "a1bno"
    assert [text[i] for i in norm.origin] == ["a", "⑴", "b", "Ｎ", "Ｏ"]
    assert norm.span(1, 3) == (1, 4)  # "⑴ b"


def test_identity_text_gets_identity_offsets() -> None:
    norm = Normalizer().normalize("全网第一")
    assert list(norm.origin) == [0, 1, 2, 3]
    assert not norm.gap_before(1)


def test_gap_before_reports_dropped_separators() -> None:
    norm = Normalizer().normalize("no 1x")
    assert norm.text == "no1x"
    assert norm.gap_before(2)  # the space before "1"
    assert not norm.gap_before(3)
    assert norm.gap_before(0) and norm.gap_before(4)


def test_empty_text_normalises_to_empty() -> None:
    norm = Normalizer().normalize("")
    assert norm.text == "" and len(norm.origin) == 0
