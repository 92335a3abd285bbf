"""judge_lines: OCR lines in reading order -> decision and evidence tied to boxes."""

from __future__ import annotations

import pytest

from models.base import TextLine
from rules import Decision, RuleSet, Severity
from worker.pipeline import judge_lines, sub_box


def test_when_a_phrase_is_broken_across_two_lines_then_it_is_found_on_both(small: RuleSet) -> None:
    lines = [
        TextLine.rect("本店销量全网", 10, 10, 130, 30, 0.95),
        TextLine.rect("第一好物", 10, 40, 90, 60, 0.9),
    ]
    judged = judge_lines(lines, small)
    assert judged.decision is Decision.REJECT
    (evidence,) = [e for e in judged.evidence if e.phrase == "全网第一"]
    assert evidence.text == "全网\n第一"
    assert evidence.line == "本店销量全网\n第一好物"
    # the union of the two partial boxes: x 90-130 on line 1 (全网), x 10-50 on line 2 (第一)
    assert evidence.box == ((10.0, 10.0), (130.0, 10.0), (130.0, 60.0), (10.0, 60.0))
    assert evidence.score == 0.9


def test_evidence_box_covers_only_the_matched_characters(small: RuleSet) -> None:
    line = TextLine.rect("限时特惠根治脱发", 0, 0, 160, 20, 0.99)
    (evidence,) = judge_lines([line], small).evidence
    assert evidence.text == "根治"
    assert evidence.box == ((80.0, 0.0), (120.0, 0.0), (120.0, 20.0), (80.0, 20.0))


def test_when_the_reject_evidence_is_read_with_low_confidence_then_decision_is_review(
    small: RuleSet,
) -> None:
    judged = judge_lines([TextLine.rect("根治", 0, 0, 40, 20, 0.3)], small, min_confidence=0.5)
    assert judged.decision is Decision.REVIEW
    (evidence,) = judged.evidence
    assert evidence.uncertain and evidence.severity is Severity.REJECT


def test_confident_evidence_rejects(small: RuleSet) -> None:
    judged = judge_lines([TextLine.rect("根治", 0, 0, 40, 20, 0.8)], small, min_confidence=0.5)
    assert judged.decision is Decision.REJECT
    assert not judged.evidence[0].uncertain


def test_engines_without_scores_are_trusted(small: RuleSet) -> None:
    judged = judge_lines([TextLine.rect("根治", 0, 0, 40, 20, None)], small, min_confidence=0.5)
    assert judged.decision is Decision.REJECT


def test_no_lines_pass(small: RuleSet) -> None:
    judged = judge_lines([], small)
    assert judged.decision is Decision.PASS and judged.evidence == ()


def test_sub_box_follows_a_rotated_line() -> None:
    # a line rotated 90 degrees: it runs downwards from (100, 0) to (100, 100)
    box = ((100.0, 0.0), (100.0, 100.0), (80.0, 100.0), (80.0, 0.0))
    assert sub_box(box, 1, 3, 4) == ((100.0, 25.0), (100.0, 75.0), (80.0, 75.0), (80.0, 25.0))


@pytest.mark.parametrize("length", [0])
def test_sub_box_of_an_empty_line_is_the_line_box(length: int) -> None:
    box = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    assert sub_box(box, 0, 0, length) == box


def test_low_confidence_evidence_says_why_it_is_uncertain(small: RuleSet) -> None:
    judged = judge_lines([TextLine.rect("根治", 0, 0, 40, 20, 0.3)], small, min_confidence=0.5)
    (evidence,) = judged.evidence
    assert evidence.reason == "low_confidence"
    assert evidence.to_dict()["reason"] == "low_confidence"


@pytest.mark.parametrize(
    ("lines", "read"),
    [
        (["全网第", "超值好物"], "全网第"),  # the 一 after 第 dropped at a line end
        (["国货第品牌"], "第品牌"),  # the 一 after 第 dropped inside a line
        (["治百病", "老中医"], "治百病"),  # the first character lost at a line start
        (["7天限治，效果好"], "7天限治"),  # 根 read as 限 (治痘痘 would be a claim of its own)
        (["荃网第一"], "荃网第一"),  # 全 read as 荃
    ],
)
def test_when_ocr_drops_or_confuses_one_character_of_a_claim_then_it_is_uncertain_review(
    lines: list[str], read: str
) -> None:
    from rules import load_ruleset
    from worker.settings import SHIPPED_RULES_DIR

    shipped = load_ruleset(SHIPPED_RULES_DIR)
    ocr = [TextLine.rect(text, 0, 40 * i, 20 * len(text), 40 * i + 30, 0.95)
           for i, text in enumerate(lines)]
    judged = judge_lines(ocr, shipped)
    assert judged.decision is Decision.REVIEW, judged
    near = [e for e in judged.evidence if e.reason == "ocr_near_miss"]
    assert near and all(e.uncertain for e in near)
    assert read in {e.text for e in near}
    # without near-miss matching the ad passes: these are OCR errors, not claims
    assert judge_lines(ocr, shipped, near_miss=False).decision is Decision.PASS


def test_a_near_miss_never_rejects_and_an_exact_claim_is_not_reported_twice() -> None:
    from rules import load_ruleset
    from worker.settings import SHIPPED_RULES_DIR

    shipped = load_ruleset(SHIPPED_RULES_DIR)
    judged = judge_lines([TextLine.rect("全网第一 第品牌", 0, 0, 160, 20, 0.95)], shipped)
    assert judged.decision is Decision.REJECT
    assert [(e.text, e.reason) for e in judged.evidence] == [
        ("全网第一", None), ("第品牌", "ocr_near_miss")]
