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
