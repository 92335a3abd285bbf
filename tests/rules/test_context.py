"""Context grammar: exception patterns see a hit's surroundings; a core group and numeral
macros let patterns report whole phrases and read numbers in any form."""

from __future__ import annotations

import pytest

from rules import load_ruleset
from rules.schema import expand_macros
from tests.conftest import RuleDir
from worker.errors import RuleError

RULES = r"""
rules:
  - id: absolute.first
    category: absolute
    severity: review
    phrases: [第一]
    exception_patterns:
      - '第一(?:本|条|行|场)'
      - '第一[,、]'
      - '第一(?:中学|人民医院)'
  - id: absolute.measure
    category: absolute
    severity: review
    patterns: ['(?P<core>最\p{Han})[^\P{Han}的了是]{0,2}']
    exceptions: [最近]
    exception_patterns: ['最[高低大小]\p{Han}{0,6}\d']
  - id: medical.speed
    category: medical
    severity: reject
    patterns: ['{dur}(?:见效|根治|痊愈)', '{pct}有效']
"""


@pytest.fixture
def ruleset(rule_dir: RuleDir):
    return load_ruleset(rule_dir({"rules.yaml": RULES}))


@pytest.mark.parametrize(
    "text",
    ["第一本书很好看", "第一条路", "第一，价格便宜；第二，质量好", "北京市第一中学", "第一人民医院",
     "最高洗涤温度30°C", "最大承重 150kg", "最近很忙"],
)
def test_when_the_context_is_ordinary_then_exception_patterns_keep_it_quiet(
    ruleset, text: str
) -> None:
    assert ruleset.match(text) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [("行业第一", "absolute.first"), ("第一品牌", "absolute.first"), ("最高端的享受", "absolute.measure")],
)
def test_when_the_context_is_a_claim_then_the_hit_stays(ruleset, text: str, rule: str) -> None:
    assert [m.rule for m in ruleset.match(text)] == [rule]


def test_when_a_pattern_has_a_core_group_then_the_whole_match_is_reported(ruleset) -> None:
    (match,) = ruleset.match("我们最光荣的传统")
    assert match.text == "最光荣"
    (match,) = ruleset.match("最好的")
    assert match.text == "最好"


def test_when_a_core_group_is_excused_then_a_longer_match_is_excused_too(ruleset) -> None:
    assert ruleset.match("最近几天") == []  # the exception 最近 covers the core 最近


@pytest.mark.parametrize(
    "text",
    ["7天见效", "七天见效", "三个月根治", "两周痊愈", "十五天见效", "一个疗程见效", "99%有效",
     "百分之九十九有效", "百分百有效"],
)
def test_numeral_macros_read_numbers_in_digits_and_words(ruleset, text: str) -> None:
    assert [m.rule for m in ruleset.match(text)] == ["medical.speed"]


def test_expand_macros_leaves_repetition_counts_alone() -> None:
    assert expand_macros(r"\d{2,4}") == r"\d{2,4}"
    assert "{num}" not in expand_macros("{num}天")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("'第一('", "exception pattern '第一(' does not compile"),
     ("'x*'", "exception pattern 'x*' matches empty text")],
)
def test_when_an_exception_pattern_is_bad_then_loading_says_where(
    rule_dir: RuleDir, pattern: str, message: str
) -> None:
    text = f"""
    rules:
      - id: absolute.first
        category: absolute
        severity: review
        phrases: [第一]
        exception_patterns:
          - {pattern}
    """
    with pytest.raises(RuleError) as caught:
        load_ruleset(rule_dir({"rules.yaml": text}))
    (problem,) = caught.value.problems
    assert problem.line == 8 and message in problem.message


def test_when_a_pattern_names_another_group_then_loading_refuses(rule_dir: RuleDir) -> None:
    text = r"""
    rules:
      - id: absolute.most
        category: absolute
        severity: review
        patterns: ['(?P<word>最\p{Han})']
    """
    with pytest.raises(RuleError, match="the only named group may be 'core'"):
        load_ruleset(rule_dir({"rules.yaml": text}))
