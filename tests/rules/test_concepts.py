"""Concept rules of the shipped set: each catches its claim in words no list has, and stays
quiet on its negation, its mandatory disclaimer and the ordinary use of the same words.

Every row: the rule, the industry the ad declares, the claim, a paraphrase of it (other
words, same claim), a negation or disclaimer of it, and an ordinary sentence with the same
words that claims nothing.
"""

from __future__ import annotations

from functools import cache

import pytest

from rules import Decision, RuleSet, load_ruleset
from worker.settings import SHIPPED_RULES_DIR

FLAGGED = (Decision.REVIEW, Decision.REJECT)


@cache
def shipped() -> RuleSet:
    return load_ruleset(SHIPPED_RULES_DIR)


CONCEPTS = [
    # rule, industry, claim, paraphrase, negation or disclaimer, ordinary use
    ("health-claims.disease", "food", "常喝能预防流感", "每天一杯远离牙周病",
     "本品不能预防流感", "流感季节到了，记得多喝水"),
    ("health-claims.disease", "cosmetics", "有效抑制细菌", "三天告别湿疹",
     "不宣称抑制细菌", "细菌在潮湿环境中容易繁殖"),
    ("health-claims.disease", "food", "血栓快速溶解", "便秘、三高问题也能解决",
     "不具有疾病预防、治疗功能", "全国流感发病率明显下降"),
    ("health-claims.organ", "food", "修复肠粘膜", "激活免疫系统，疏通血管",
     "不能修复肠粘膜", "肠粘膜是人体的重要屏障"),
    ("health-claims.bio-marker", "food", "喝了能降血压", "三个月血糖恢复正常",
     "不能降血压", "请定期测量血压"),
    ("health-claims.outcome", "food", "30天瘦30斤", "一次年轻一岁",
     "不承诺30天瘦30斤", "这件衣服显瘦"),
    ("health-claims.comparison", "cosmetics", "1支相当于20片面膜", "胜过吃药",
     "不能代替药物", "一盒有20片面膜"),
    ("health-claims.health-effect", "food", "活血祛寒、通经活络", "补肝肾，强筋骨",
     "不能活血祛寒", "冬天天气寒冷"),
    ("alcohol.health-effect", "alcohol", "黄酒能活血祛寒", "常喝不伤胃，活到九十九",
     "饮酒不能活血祛寒", "黄酒是绍兴特产"),
    ("real-estate.gain-promise", "real_estate", "坐享增值红利", "升值快、回报高",
     "不承诺升值回报", "房价的涨幅高于全国平均水平"),
    ("finance.principal-risk", "finance", "绝不亏本金", "风险为零，年息20%",
     "不保证本金安全，投资有风险", "理财有风险，投资需谨慎"),
    ("education.examiner-titles", "education", "命题考官亲自授课", "阅卷专家团队",
     "严禁宣称命题考官授课", "面试前请准备好简历"),
    ("education.no-exam", "education", "无需参加高考即可入读本科", "不用考试就能拿到毕业证",
     "不能免试拿证", "高考将于六月举行"),
    ("authority.state-backing", "general", "政府部门站台推广", "国家建设部推广的新产品",
     "不得宣称国家机关推荐", "政府部门召开会议"),
    ("authority.political", "alcohol", "为建党百年干杯", "喜迎二十大",
     "不得使用建党百年宣传商品", "今天天气很好"),
    ("superstition.concepts", "general", "风水宝地", "坐拥龙脉，藏风聚气",
     "破除迷信，不信风水", "项目紧邻公园"),
    ("tobacco.product", "general", "卷烟排行榜", "电子烟新品上市",
     "禁止吸烟，远离香烟", "卷烟厂的职工"),
    ("agriculture.yield-promise", "agriculture", "增产1000斤", "每亩多收上千元",
     "不承诺增产1000斤", "今年全省粮食增产"),
    ("agriculture.efficacy", "agriculture", "高产稳产、抗病抗倒", "八级大风吹不倒，抗病性强",
     "不宣称高产稳产", "稳产高产田"),
    ("obscenity.vulgar", "food", "艳遇丸", "新屌中屌",
     "禁止使用艳遇等低俗用语", "艳阳高照"),
    ("cosmetics.medical-word", "cosmetics", "医美面膜", "眼部外敷给药精准",
     "化妆品不得宣称医美效果", "面膜敷十五分钟"),
    ("cosmetics.wrinkle-spot", "cosmetics", "抚平肌肤皱纹", "淡化痘印",
     "不能抚平皱纹", "肌肤水润有光泽"),
    ("endorsement.titles", "drug", "退休主任医师推荐", "国医大师亲自研制",
     "不得利用医师作推荐", "请遵医嘱服用"),
    ("guarantee.efficacy", "education", "不达目标全额退款", "无效可退",
     "不承诺不达目标退款", "七天无理由退货"),
    ("medical.treatment-terms", "food", "湿疹特效，三天止痒", "特效止痒配方",
     "不具有特效", "游戏画面特效华丽"),
    ("english.cure", "general", "Cures cancer naturally", "Heals eczema in days",
     "This product does not cure any disease", "Cure the ham for two weeks"),
    ("english.weight-loss", "general", "Lose 10 lbs in 7 days", "Drop 2 sizes in a week",
     "You will not lose 10 lbs in 7 days", "We lost the match 2-1"),
]


@pytest.mark.parametrize(
    ("rule", "industry", "claim", "paraphrase", "negated", "ordinary"), CONCEPTS,
    ids=[f"{c[0]}:{c[2]}" for c in CONCEPTS],
)
def test_a_concept_rule_finds_its_claim_in_other_words_but_not_its_negation_or_ordinary_use(
    rule: str, industry: str, claim: str, paraphrase: str, negated: str, ordinary: str
) -> None:
    ruleset = shipped()
    for text in (claim, paraphrase):
        judgement = ruleset.judge(text, industry)
        assert rule in {m.rule for m in judgement.matches}, (text, judgement.to_dict())
        assert judgement.decision in FLAGGED
    for text in (negated, ordinary):
        fired = {m.rule for m in ruleset.judge(text, industry).matches}
        assert rule not in fired, (text, fired)


def test_a_disease_claim_rejects_a_food_ad_and_goes_to_review_for_a_drug_or_no_industry() -> None:
    ruleset = shipped()
    assert ruleset.judge("常喝能预防流感", "food").decision is Decision.REJECT
    assert ruleset.judge("常喝能预防流感", "drug").decision is Decision.REVIEW
    assert ruleset.judge("常喝能预防流感").decision is Decision.REVIEW


def test_the_false_rejects_a_careful_reader_found_are_gone() -> None:
    ruleset = shipped()
    # a disclaimer that says a product is not for disease
    assert ruleset.judge("本品不能用于治疗疾病", "food").decision is Decision.PASS
    # an adverbial superlative that describes no product
    assert ruleset.judge("最大程度地保留营养").decision is not Decision.REJECT
    assert ruleset.judge("最大限度减少损耗").decision is not Decision.REJECT
    # a safety fact about a material
    assert ruleset.judge("食品级硅胶，安全无毒").decision is not Decision.REJECT
    # the name of a traditional decorative object
    assert ruleset.judge("招财猫摆件").decision is not Decision.REJECT
    assert ruleset.judge("平安符挂件").decision is not Decision.REJECT


def test_a_quality_superlative_describing_goods_is_at_least_review() -> None:
    ruleset = shipped()
    for text in ("最好的净水器", "最好的面膜", "全国最好", "效果最好"):
        assert ruleset.judge(text).decision in FLAGGED, text
    for text in ("最好在睡前使用", "最好先咨询医生", "我最好的朋友", "最好的办法是多休息"):
        assert ruleset.judge(text).decision is Decision.PASS, text


@pytest.mark.parametrize(
    ("text", "industry", "decision"),
    [
        # a game's fiction is not the goods: 打造最强军团, 顶级坦克军团
        ("招神将、升官职，打造最强军团。", None, Decision.PASS),
        ("顶级坦克军团等你号令", None, Decision.PASS),
        ("最强手机，性能无敌", None, Decision.REVIEW),
        # a season's trend in colours, but not the goods themselves
        ("焦糖色是今年最流行的颜色", None, Decision.PASS),
        ("这款大衣是时下最流行的秋冬装", None, Decision.REVIEW),
        # an appliance's sterilising function is a product fact; a cosmetic's is a claim
        ("紫光杀菌5分钟", None, Decision.PASS),
        ("抗菌砧板", "food", Decision.PASS),
        ("温和抑菌", "food", Decision.REVIEW),
        ("消炎杀菌", "cosmetics", Decision.REJECT),
        # words a claim's letters run across: 呵护身体, 八字形的柜腿, 整体质感, 现金奖励
        ("呵护身体健康", None, Decision.PASS),
        ("八字形的稳固柜腿", None, Decision.PASS),
        ("轻松提升整体质感", None, Decision.PASS),
        ("现金奖励赢不停", None, Decision.PASS),
        ("增强体质", None, Decision.REVIEW),
        # what a motif means, a wine's tasting note, a material's safety
        ("壁画蝴蝶花藤，寓意招财", None, Decision.PASS),
        ("戴上护身符保平安", None, Decision.REVIEW),
        ("有烟草的香甜和黑莓的果香", None, Decision.PASS),
        ("电子烟新品", None, Decision.REVIEW),
        ("画板采用环保材质制作，安全无毒", None, Decision.PASS),
        ("安全无毒", None, Decision.REVIEW),
    ],
)
def test_ordinary_uses_named_by_what_they_describe(
    text: str, industry: str | None, decision: Decision
) -> None:
    judgement = shipped().judge(text, industry)
    assert judgement.decision is decision, judgement.to_dict()
