"""The shipped rule set: coverage of every area of the advertising law and behaviour on real copy."""

from __future__ import annotations

import json
from functools import cache

import pytest

from rules import Decision, RuleSet, load_ruleset
from rules.engine import CompiledRule
from rules.jsonschema import rule_file_schema
from rules.schema import references
from worker.settings import SHIPPED_RULES_DIR


@cache
def shipped() -> RuleSet:
    return load_ruleset(SHIPPED_RULES_DIR)


AREAS = {
    "absolute", "authority", "superstition", "obscenity", "disparagement", "medical",
    "health_food", "cosmetics", "alcohol", "education", "finance", "real_estate", "endorsement",
    "guarantee", "banned_service", "tobacco", "agriculture",
}


def test_the_shipped_set_covers_every_area_of_the_law_with_rules_of_their_own() -> None:
    ruleset = shipped()
    assert set(ruleset.categories) == AREAS
    phrases = [p for rule in ruleset.enabled_rules for p in rule.spec.phrases]
    assert len(phrases) >= 800
    def wording(rule: CompiledRule) -> int:
        """Phrases, patterns and the terms of the lexicons the patterns name."""
        named = {name for p in rule.spec.patterns for name in references(p)}
        terms = sum(len(ruleset.lexicons[n].terms) for n in named if n in ruleset.lexicons)
        return len(rule.spec.phrases) + len(rule.spec.patterns) + terms

    for category in ruleset.categories:
        in_category = [r for r in ruleset.enabled_rules if r.spec.category == category]
        assert sum(wording(r) for r in in_category) >= 10, category


def test_each_area_has_a_file_of_its_own_and_every_rule_names_an_article() -> None:
    names = {p.stem for p in SHIPPED_RULES_DIR.glob("*.yaml")}
    assert {"absolute", "authority", "superstition", "obscenity", "disparagement", "medical",
            "health-food", "cosmetics", "alcohol", "education", "finance", "real-estate",
            "endorsement", "guarantee", "banned-services"} <= names
    for rule in shipped().rules:
        assert "第" in rule.spec.reference and "条" in rule.spec.reference, rule.spec.id


def test_the_shipped_set_declares_the_industries_its_rules_are_scoped_to() -> None:
    ruleset = shipped()
    assert {"medical", "drug", "cosmetics", "finance", "real_estate", "education"} <= set(
        ruleset.industries)
    assert ruleset.judge("本品可治疗失眠和消炎").decision.value == "reject"
    assert ruleset.judge("消炎", "medical").decision.value == "pass"
    # cosmetics may make no medical claim at all (化妆品监督管理条例第三十七条)
    assert ruleset.judge("消炎", "cosmetics").decision.value == "reject"
    assert ruleset.judge("保本", "finance").decision.value == "reject"
    assert ruleset.judge("保本", "food").decision.value == "pass"


def test_every_rule_explains_itself_with_a_description_and_a_legal_reference() -> None:
    for rule in shipped().rules:
        assert rule.spec.description, rule.spec.id
        assert rule.spec.reference, rule.spec.id


def test_every_shipped_file_points_editors_at_the_schema() -> None:
    for path in sorted(SHIPPED_RULES_DIR.glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../rules.schema.json", path.name


def test_the_committed_json_schema_is_generated_from_the_models() -> None:
    committed = json.loads((SHIPPED_RULES_DIR.parent / "rules.schema.json").read_text("utf-8"))
    assert committed == rule_file_schema(), "run `make schema` after changing rules/schema.py"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("本店销量全网第一", "absolute.first"),
        ("行业NO.1品牌", "absolute.first"),
        ("No.1 好物", "absolute.first"),
        ("Top 1 推荐", "absolute.first"),
        ("TOP1爆款", "absolute.first"),
        ("人气Topl", "absolute.first"),  # the 1 read as a lower-case l by OCR
        ("全国排名第1名", "absolute.first"),
        ("全 网 第 一", "absolute.first"),
        ("最·佳口感", "absolute.superlative"),
        ("史上最低价", "absolute.superlative"),
        ("國家級品質", "absolute.national"),
        ("中国驰名商标", "authority.well-known-mark"),
        ("顶级工艺", "absolute.unique"),
        ("举世无双的设计", "absolute.unique"),
        ("世界领先技术", "absolute.unique"),
        ("根治脱发", "medical.cure"),
        ("无副作用", "medical.side-effects"),
        ("治愈率高达98%", "medical.efficacy-rate"),
        ("有效率95%", "medical.efficacy-rate"),
        ("7天见效", "medical.speed"),
        ("３天见效", "medical.speed"),
        ("１００％有效", "guarantee.efficacy"),
        ("100%有效", "guarantee.efficacy"),
        ("无效★退款", "guarantee.efficacy"),
        ("零风险 稳赚不赔", "guarantee.risk"),
        ("考证包过", "guarantee.pass"),
        ("通过率100%", "guarantee.pass"),
    ],
)
def test_banned_claims_are_rejected(text: str, rule: str) -> None:
    judgement = shipped().judge(text)
    assert judgement.decision is Decision.REJECT, judgement.to_dict()
    assert rule in {m.rule for m in judgement.matches}


@pytest.mark.parametrize(
    "text",
    [
        "第一步：打开包装",
        "第一次使用请先清洗",
        "下单后第一时间发货",
        "2024年第一季度新品",
        "第一届手工艺博览会",
        "详情见第一页",
        "第1步 充电两小时",
        "最新款保温杯",
        "最近很火的小众香",
        "最后三天 满200减30",
        "最少起订10件",
        "最好在睡前使用",
        "第一件原价 第二件半价",
        "全国1000家门店",
        "TOP10 榜单",
        "钢琴piano1号教室",
        "topless design notebook",
        "新款保温杯 限时特惠 ¥59",
    ],
)
def test_order_time_recency_and_usage_copy_passes(text: str) -> None:
    judgement = shipped().judge(text)
    assert judgement.decision is Decision.PASS, judgement.to_dict()


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("最美的你", "absolute.most"),
        ("我们家是第一名", "absolute.first-name"),
        ("祛痘精华", "cosmetics.special-use"),
        ("独一无二的设计", "absolute.top"),
        ("唯一", "absolute.only"),
        ("考前押题", "education.results"),
        ("学员证言", "endorsement.testimonials"),
        ("首选好礼", "absolute.soft"),
        ("年化收益率8%", "guarantee.returns"),
    ],
)
def test_claims_that_depend_on_context_go_to_a_reviewer(text: str, rule: str) -> None:
    judgement = shipped().judge(text)
    assert judgement.decision is Decision.REVIEW, judgement.to_dict()
    assert [m.rule for m in judgement.matches] == [rule]


def test_a_catch_all_review_hit_under_a_reject_hit_is_not_reported_twice() -> None:
    matches = shipped().match("最佳口感 全网第一")
    assert [(m.rule, m.text) for m in matches] == [
        ("absolute.superlative", "最佳口感"),
        ("absolute.first", "全网第一"),
    ]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # one claim per area of the law
        ("国家机关专供 高端白酒", "authority.state-organs"),
        ("质量免检产品", "authority.inspection"),
        ("开光貔貅 招财转运 镇宅辟邪", "superstition.luck"),
        ("同城约炮 美女上门", "obscenity.sex-services"),
        ("真人荷官 在线博彩 充值送彩金", "obscenity.gambling"),
        ("吊打同行 别家都是假货", "disparagement.competitors"),
        ("效果比同类产品好10倍", "disparagement.competitors"),
        ("三天见效 七天根治", "medical.speed"),
        ("一个疗程痊愈", "medical.speed"),
        ("治愈率高达百分之九十八", "medical.efficacy-rate"),
        ("本品可替代药物 有病治病无病防病", "health-food.disease"),
        ("医学护肤品 药妆", "cosmetics.medical"),
        ("一周美白 永久祛斑", "cosmetics.absolute-effect"),
        ("千杯不醉 越喝越健康", "alcohol.encourage"),
        ("考证包过 不过全额退款", "guarantee.pass"),
        ("承诺提分50分 100%通过", "guarantee.pass"),
        ("命题组专家亲授", "education.examiners"),
        ("保本保息 稳赚不赔", "guarantee.risk"),
        ("五年回本 租金回报率8%", "real-estate.appreciation"),
        ("三甲医院推荐 专家推荐", "endorsement.professionals"),
        ("无效全额退款", "guarantee.efficacy"),
        ("专业查性别 香港验血", "banned-service.fetal-sex"),
        ("代孕妈妈 包成功", "banned-service.surrogacy"),
        ("代开发票", "banned-service.forgery"),
    ],
)
def test_every_area_of_the_law_rejects_its_typical_claims(text: str, rule: str) -> None:
    judgement = shipped().judge(text)
    assert judgement.decision is Decision.REJECT, judgement.to_dict()
    assert rule in {m.rule for m in judgement.matches}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("笫一品牌", "absolute.first"),  # a look-alike for 第
        ("销量T0P1", "absolute.first"),  # 0 for O
        ("销量TOPI", "absolute.first"),  # I for 1
        ("Ｎ０．１品牌", "absolute.first"),
        ("ТОР1 好物", "absolute.first"),  # Cyrillic letters
        ("全+网+第+一", "absolute.first"),
        ("全|网|第|一", "absolute.first"),
        ("全，网，第，一", "absolute.first"),
        ("全～网～第～一", "absolute.first"),
        ("全\u3000网\u3000第\u3000一", "absolute.first"),
        ("销量di yi", "absolute.first"),  # pinyin
        ("全网zui低价", "absolute.superlative"),
        ("ding级工艺", "absolute.unique"),
        ("七天见效", "medical.speed"),  # Chinese numerals in a duration
        ("十五天根治", "medical.speed"),
        ("百分之百有效", "guarantee.efficacy"),
        ("百分之九十九有效", "guarantee.efficacy"),
        ("l00%有效", "guarantee.efficacy"),
        ("❼天见效", "medical.speed"),  # dingbat digits
        ("7\ufe0f\u20e3天见效", "medical.speed"),  # keycap digits
    ],
)
def test_evasion_forms_of_shipped_claims_are_still_rejected(text: str, rule: str) -> None:
    judgement = shipped().judge(text)
    assert judgement.decision is Decision.REJECT, judgement.to_dict()
    assert rule in {m.rule for m in judgement.matches}


@pytest.mark.parametrize(
    "text",
    [
        # ordinals and enumerations
        "第一本书很好看", "第一，价格实惠；第二，质量可靠。", "新中国第一位女拖拉机手", "全国第一家证券交易所",
        # measurements and plain statistics
        "最高洗涤温度30°C", "最大承重150kg", "最低气温零下五度", "开盘价、收盘价、最高价、最低价。",
        # grammar words, advice and criticism
        "最重要的是安全", "最主要的原因", "最起码要有耐心", "最好是提前预订", "最好先咨询医生", "最差的一次体验",
        # proper nouns and official designations
        "最高人民法院", "北京市第一中学", "第一人民医院", "国家级自然保护区", "国家级非物质文化遗产",
        # the mandatory disclaimers
        "本品不能代替药物", "保健食品不能替代药物治疗疾病",
        # ordinary text that contains a claim's letters
        "唯一的缺点是有点贵", "会更有效率", "稳中求进", "国有资产保值增值", "前台小姐服务很好",
        "出台了新政策", "最光荣的传统",
    ],
)
def test_ordinary_text_in_context_is_not_flagged(text: str) -> None:
    judgement = shipped().judge(text)
    assert judgement.decision is Decision.PASS, judgement.to_dict()


@pytest.mark.parametrize(
    ("text", "decision"),
    [
        # a scope with an ordinal is the 首家 claim: a reviewer checks it
        ("全国第一家连锁店", Decision.REVIEW),
        ("全网第一款智能杯", Decision.REVIEW),
        # the ordinal exception never excuses a claim by joining it to the next word
        ("全网第一 家庭装更划算", Decision.REVIEW),
        ("全网第一\n家庭装更划算", Decision.REJECT),
        # history and institutions stay quiet
        ("全国第一家证券交易所", Decision.PASS),
        ("第一个五年计划", Decision.PASS),
    ],
)
def test_ordinals_with_a_scope_go_to_review(text: str, decision: Decision) -> None:
    judgement = shipped().judge(text)
    assert judgement.decision is decision, judgement.to_dict()


def test_matches_report_the_whole_matched_word() -> None:
    (match,) = shipped().match("最漂亮的裙子")
    assert match.text == "最漂亮"


def test_travel_time_as_a_location_is_judged_in_real_estate_ads_alone() -> None:
    ruleset = shipped()
    judgement = ruleset.judge("10分钟车程直达市中心", "real_estate")
    assert judgement.decision is Decision.REVIEW
    assert {m.rule for m in judgement.matches} == {"real-estate.travel-time"}
    # a hotel review telling the way to the station is no real-estate ad
    assert ruleset.judge("离海港城走路只需五分钟").decision is Decision.PASS
