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
    assert Normalizer().fold("全网，第一。最！佳？") == "全网,第一。最!佳?"


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
