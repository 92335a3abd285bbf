"""Near-miss matching: claims OCR read with one character dropped or confused are found
as uncertain evidence, and ordinary text stays quiet."""

from __future__ import annotations

from functools import cache

import pytest

from rules import Decision, RuleSet, load_ruleset
from rules.engine import NEAR_MISS
from tests.conftest import RuleDir
from worker.settings import SHIPPED_RULES_DIR


@cache
def shipped() -> RuleSet:
    return load_ruleset(SHIPPED_RULES_DIR)


@pytest.mark.parametrize(
    ("text", "read", "phrase"),
    [
        ("全网第\n限时特惠", "全网第", "全网第一"),  # 一 dropped at the end of an OCR line
        ("销量第", "销量第", "销量第一"),
        ("国货第品牌", "第品牌", "第一品牌"),  # 一 dropped after 第 inside a line
        ("治百病\n祖传", "治百病", "包治百病"),  # first character lost at a line start
        ("荃网第一", "荃网第一", "全网第一"),  # 全 read as 荃
        ("弟一品牌", "弟一品牌", "第一品牌"),  # 第 read as 弟
    ],
)
def test_when_ocr_drops_or_confuses_a_character_then_the_claim_is_a_near_miss(
    text: str, read: str, phrase: str
) -> None:
    judgement = shipped().judge(text, near_miss=True)
    assert judgement.decision is Decision.REVIEW, judgement.to_dict()
    near = [m for m in judgement.matches if m.reason == NEAR_MISS]
    assert (read, phrase) in {(m.text, m.phrase) for m in near}
    assert shipped().judge(text).decision is Decision.PASS


def test_a_confused_character_in_a_pattern_claim_is_a_near_miss() -> None:
    # 7天根治 read as 7天限治 (治痘痘 after it would be an exact disease claim of its own)
    judgement = shipped().judge("7天限治，效果好", near_miss=True)
    assert judgement.decision is Decision.REVIEW
    assert "medical.speed" in {m.rule for m in judgement.matches if m.reason == NEAR_MISS}


@pytest.mark.parametrize(
    "text",
    [
        "全网第二", "销量第三名", "能治百病吗", "每天吃的东西", "可以开发票", "视频聊天",
        "世界一流大学", "限时特惠", "退款", "这本教科书", "最高水平", "一夜白头",
        "第一步", "全网第一",  # an exact claim is an exact match, never a near miss too
    ],
)
def test_ordinary_text_and_exact_claims_give_no_near_miss(text: str) -> None:
    assert [m for m in shipped().match(text, near_miss=True) if m.reason] == []


def test_near_miss_phrases_keep_their_rule_and_say_why_in_json() -> None:
    (match,) = shipped().match("第品牌", near_miss=True)
    assert match.rule == "absolute.first"
    assert match.to_dict()["reason"] == "ocr_near_miss"
    assert "reason" not in shipped().match("第一品牌")[0].to_dict()


def test_an_ad_of_an_industry_a_rule_skips_gets_no_near_miss_from_it(rule_dir: RuleDir) -> None:
    ruleset = load_ruleset(rule_dir({"rules.yaml": """
        industries:
          - {id: finance, name: 金融}
          - {id: food, name: 食品}
        rules:
          - id: guarantee.capital
            category: guarantee
            severity: reject
            phrases: [保本保息]
            industries: [finance]
        """}))
    assert ruleset.match("保本保", "food", near_miss=True) == []
    assert [m.reason for m in ruleset.match("保本保", "finance", near_miss=True)] == [NEAR_MISS]


@pytest.mark.parametrize(
    ("text", "read"),
    [("全网第NEW款上市", "全网第"), ("ABC治百病", "治百病"), ("3D全网第", "全网第")],
)
def test_a_claim_edge_lost_against_latin_letters_or_digits_is_a_near_miss(
    text: str, read: str
) -> None:
    judgement = shipped().judge(text, near_miss=True)
    assert judgement.decision is Decision.REVIEW
    assert read in {m.text for m in judgement.matches if m.reason == NEAR_MISS}
    # inside Chinese text the same characters are no near miss: 全网第 then a comma
    assert shipped().judge("新品全网第，欢迎选购", near_miss=True).decision is Decision.PASS
