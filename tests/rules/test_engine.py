"""Matching: what fires, what an exception excuses, and how severity decides."""

from __future__ import annotations

import pytest

from rules import Decision, RuleSet, Severity


def rules_hit(ruleset: RuleSet, text: str) -> list[tuple[str, str]]:
    return [(m.rule, m.text) for m in ruleset.match(text)]


def test_when_text_is_clean_then_decision_is_pass(small: RuleSet) -> None:
    judgement = small.judge("新款保温杯 限时特惠 ¥59 欢迎选购")
    assert judgement.decision is Decision.PASS
    assert judgement.matches == ()


def test_when_a_reject_phrase_appears_then_decision_is_reject(small: RuleSet) -> None:
    judgement = small.judge("本店销量第一")
    assert judgement.decision is Decision.REJECT
    assert [(m.rule, m.phrase, m.text) for m in judgement.matches] == [
        ("absolute.first", "销量第一", "销量第一")
    ]


def test_when_only_review_phrases_appear_then_decision_is_review(small: RuleSet) -> None:
    judgement = small.judge("送礼首选")
    assert judgement.decision is Decision.REVIEW
    assert judgement.matches[0].severity is Severity.REVIEW


def test_reject_outranks_review(small: RuleSet) -> None:
    assert small.judge("送礼首选，全网第一").decision is Decision.REJECT


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("全网第一", "absolute.first"),
        ("国家级品质", "absolute.best"),
        ("最佳选择", "absolute.best"),
        ("根治脱发", "medical.cure"),
        ("纯天然无副作用", "medical.cure"),
        ("无效退款", "guarantee.refund"),
        ("100%有效", "guarantee.refund"),
    ],
)
def test_every_category_fires_on_its_plain_phrase(small: RuleSet, text: str, rule: str) -> None:
    assert rule in {m.rule for m in small.match(text)}


@pytest.mark.parametrize(
    ("text", "rule", "evidence"),
    [
        ("我们是全 网 第 一哦", "absolute.first", "全 网 第 一"),
        ("最·佳之选", "absolute.best", "最·佳"),
        ("國家級認證", "absolute.best", "國家級"),
        ("无效★退款", "guarantee.refund", "无效★退款"),
        ("１００％有效", "guarantee.refund", "１００％有效"),
        ("品牌ＮＯ．１", "absolute.first", "ＮＯ．１"),
        ("Top 1 品牌", "absolute.first", "Top 1"),
        ("TOP1", "absolute.first", "TOP1"),
        ("No.1", "absolute.first", "No.1"),
        ("行业第1名", "absolute.first", "第1名"),
        ("根\u200b治", "medical.cure", "根\u200b治"),
        ("全网\n第一", "absolute.first", "全网\n第一"),
    ],
)
def test_every_evasion_form_is_matched_with_its_original_text(
    small: RuleSet, text: str, rule: str, evidence: str
) -> None:
    assert (rule, evidence) in rules_hit(small, text)


def test_match_offsets_index_the_original_text(small: RuleSet) -> None:
    text = "限时★特惠 全 网 第 一 ！"
    (match,) = small.match(text)
    assert text[match.start : match.end] == match.text == "全 网 第 一"


@pytest.mark.parametrize(
    "text",
    [
        "第一步：清洁面部",
        "第一次购买送赠品",
        "第一时间发货",
        "第一季度新品",
        "第一届展会",
        "详见第一页",
        "第1步：打开包装",
        "最好在睡前使用",
        "打开首选项设置",
    ],
)
def test_every_exception_excuses_the_phrase_inside_it(small: RuleSet, text: str) -> None:
    assert small.match(text) == []


def test_an_exception_does_not_excuse_a_hit_outside_it(small: RuleSet) -> None:
    assert rules_hit(small, "第一步就是全网第一") == [("absolute.first", "全网第一")]


def test_an_exception_only_excuses_its_own_rule(small: RuleSet) -> None:
    # 最好在 excuses absolute.best's 最好, not 全网第一 elsewhere in the same text.
    assert rules_hit(small, "最好在全网第一") == [("absolute.first", "全网第一")]


@pytest.mark.parametrize("text", ["piano 1", "top10", "TOP 10 榜单", "no10", "第10名"])
def test_ascii_forms_do_not_fire_inside_longer_words_or_numbers(small: RuleSet, text: str) -> None:
    assert small.match(text) == []


def test_a_hit_inside_a_longer_hit_of_the_same_rule_is_dropped(small: RuleSet) -> None:
    assert rules_hit(small, "销量第一") == [("absolute.first", "销量第一")]


def test_disabled_rules_do_not_match(small: RuleSet) -> None:
    assert small.match("稳赚不赔") == []
    assert "guarantee.off" not in {r.spec.id for r in small.enabled_rules}


def test_repeated_phrases_are_each_reported(small: RuleSet) -> None:
    assert rules_hit(small, "根治！根治！") == [("medical.cure", "根治"), ("medical.cure", "根治")]


def test_judgement_serialises_to_the_cli_contract(small: RuleSet) -> None:
    assert small.judge("根治").to_dict() == {
        "decision": "reject",
        "matches": [
            {
                "rule": "medical.cure",
                "category": "medical",
                "severity": "reject",
                "phrase": "根治",
                "text": "根治",
            }
        ],
    }
