"""Lexicons (named term classes used in patterns), negation grammar, OCR-line-bounded
context, and how industries shape a judgement."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rules import Decision, load_ruleset
from rules.engine import NEGATION_CUES
from rules.loader import RuleError
from tests.conftest import RuleDir

INDUSTRIES = """
industries:
  - id: food
    name: 普通食品
  - id: drug
    name: 药品
  - id: cosmetics
    name: 化妆品
"""

LEXICONS = """
lexicons:
  - id: efficacy_verb
    name: 功效动词
    source: written for the test
    terms: [预防, 治疗, 缓解]
  - id: disease
    name: 疾病
    terms: [流感, 感冒, 慢性胃炎, 胃炎]
"""

CONCEPT = """
rules:
  - id: health.disease
    category: medical
    severity: reject
    patterns: ['{efficacy_verb}[^,;:!?。]{0,4}{disease}']
"""


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_ruleset(folder)
    return [str(p) for p in caught.value.problems]


def test_when_a_pattern_names_a_lexicon_then_any_of_its_terms_matches(
    rule_dir: RuleDir,
) -> None:
    ruleset = load_ruleset(rule_dir({"lexicons.yaml": LEXICONS, "rules.yaml": CONCEPT}))
    for text in ("本品可预防流感", "喝了能缓解 感 冒", "有效治疗慢性胃炎"):
        assert ruleset.judge(text).decision is Decision.REJECT, text
    assert ruleset.judge("流感季节多喝水").decision is Decision.PASS


def test_when_an_editor_adds_a_term_then_every_rule_using_the_lexicon_follows(
    rule_dir: RuleDir,
) -> None:
    before = load_ruleset(rule_dir({"lexicons.yaml": LEXICONS, "rules.yaml": CONCEPT}))
    assert before.judge("预防哮喘").decision is Decision.PASS
    extended = LEXICONS.replace("[流感, 感冒, 慢性胃炎, 胃炎]", "[流感, 感冒, 慢性胃炎, 胃炎, 哮喘]")
    after = load_ruleset(rule_dir({"lexicons.yaml": extended, "rules.yaml": CONCEPT}))
    assert after.judge("预防哮喘").decision is Decision.REJECT
    assert after.version != before.version  # the terms are part of the rule set's content


def test_the_longest_term_of_a_lexicon_is_preferred(rule_dir: RuleDir) -> None:
    ruleset = load_ruleset(rule_dir({"lexicons.yaml": LEXICONS, "rules.yaml": CONCEPT}))
    [match] = ruleset.match("治疗慢性胃炎")
    assert match.text == "治疗慢性胃炎"


def test_a_pattern_naming_an_unknown_lexicon_is_refused_with_the_known_ones(
    rule_dir: RuleDir,
) -> None:
    rules = CONCEPT.replace("{disease}", "{diseases}")
    [problem] = problems_of(rule_dir({"lexicons.yaml": LEXICONS, "rules.yaml": rules}))
    assert "rules.yaml:6" in problem
    assert "unknown lexicon diseases" in problem and "disease, dur" in problem


def test_lexicon_problems_are_reported_at_their_lines(rule_dir: RuleDir) -> None:
    bad = """
    lexicons:
      - id: num
        name: 数字
        terms: [一]
      - id: disease
        name: 疾病
        terms: [流感, 流 感, "★"]
    """
    other = """
    lexicons:
      - id: disease
        name: 疾病
        terms: [感冒]
    """
    problems = problems_of(rule_dir({"a.yaml": bad, "b.yaml": other, "rules.yaml": CONCEPT.replace(
        "{efficacy_verb}", "预防")}))
    text = "\n".join(problems)
    assert "a.yaml:3: lexicon 'num': the name of a pattern macro" in text
    assert "a.yaml:8: lexicon 'disease': term '流 感' repeats '流感'" in text
    assert "a.yaml:8: lexicon 'disease': term '★' is only separators" in text
    assert "duplicate lexicon id 'disease'" in text


def test_rules_test_and_list_see_the_shipped_lexicons() -> None:
    from worker.settings import SHIPPED_RULES_DIR

    ruleset = load_ruleset(SHIPPED_RULES_DIR)
    assert {"disease", "symptom", "pathogen", "organ", "efficacy_verb", "gain_word",
            "fortune_concept", "political_event"} <= set(ruleset.lexicons)
    for lexicon in ruleset.lexicons.values():
        assert lexicon.name and lexicon.terms
    # the medical lexicons cite the public list they were chosen from
    assert "THUOCL" in ruleset.lexicons["disease"].source


# --- negation is grammar -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "本品不能代替药物",
        "保健食品不是药品，不能代替药物治疗疾病",
        "本品不具有疾病预防、治疗功能",
        "我们不承诺保本保息",
        "不保证100%有效",
        "这并非最好的选择",
        "严禁宣称预防流感",
    ],
)
def test_when_a_negation_governs_a_claim_in_its_clause_then_no_claim_is_made(text: str) -> None:
    from worker.settings import SHIPPED_RULES_DIR

    assert load_ruleset(SHIPPED_RULES_DIR).judge(text, "food").decision is Decision.PASS, text


@pytest.mark.parametrize(
    "text",
    [
        "不用吃药就能降血压",  # the negation governs 吃药; 就 starts the claim
        "不打针不吃药，三天根治鼻炎",  # a new clause
        "无副作用",  # the negation is the claim
        "不是吹，我们是全网第一",  # a new subject
    ],
)
def test_when_the_negation_does_not_reach_the_claim_then_it_is_still_found(text: str) -> None:
    from worker.settings import SHIPPED_RULES_DIR

    decision = load_ruleset(SHIPPED_RULES_DIR).judge(text, "food").decision
    assert decision in (Decision.REVIEW, Decision.REJECT), text


def test_every_negation_cue_is_two_characters_or_more() -> None:
    # one character (不, 无, 非) would deny claims that are themselves negative (不反弹)
    assert all(len(cue) >= 2 for cue in NEGATION_CUES)


# --- context never crosses an OCR line -------------------------------------------------------


def test_an_exception_on_the_line_above_does_not_excuse_a_claim(rule_dir: RuleDir) -> None:
    rules = """
    rules:
      - id: absolute.preferred
        category: absolute
        severity: review
        phrases: [首选]
        exceptions: [作首选]
        exception_patterns: ['作为\\p{Han}{0,2}首选']
    """
    ruleset = load_ruleset(rule_dir({"rules.yaml": rules}))
    assert ruleset.judge("可作首选").decision is Decision.PASS
    assert ruleset.judge("作为送礼首选").decision is Decision.PASS
    # a product page: one line ends in 作, the next is a claim
    assert ruleset.judge("精心制作\n首选好礼").decision is Decision.REVIEW
    assert ruleset.judge("精心制作为\n首选好礼").decision is Decision.REVIEW
    # a claim broken over two lines is still one claim, excused as a whole
    assert ruleset.judge("可作首\n选").decision is Decision.PASS


def test_a_negation_on_the_line_above_does_not_deny_a_claim() -> None:
    from worker.settings import SHIPPED_RULES_DIR

    ruleset = load_ruleset(SHIPPED_RULES_DIR)
    assert ruleset.judge("不能\n预防流感", "food").decision is Decision.REJECT
    assert ruleset.judge("不能预防流感", "food").decision is Decision.PASS


# --- industries --------------------------------------------------------------------------------


def scoped(rule_dir: RuleDir) -> Path:
    rules = INDUSTRIES + textwrap.dedent("""
    rules:
      - id: food.claim
        category: medical
        severity: reject
        phrases: [预防流感]
        review_industries: [drug]
      - id: cosmetics.word
        category: medical
        severity: reject
        phrases: [医疗]
        industries: [cosmetics]
        declared_only: true
      - id: cosmetics.claim
        category: medical
        severity: reject
        phrases: [永久美白]
        industries: [cosmetics]
    """)
    return rule_dir({"rules.yaml": rules})


def test_review_industries_get_the_rules_hits_as_review(rule_dir: RuleDir) -> None:
    ruleset = load_ruleset(scoped(rule_dir))
    assert ruleset.judge("预防流感", "food").decision is Decision.REJECT
    assert ruleset.judge("预防流感", "drug").decision is Decision.REVIEW
    assert ruleset.judge("预防流感").decision is Decision.REVIEW  # no industry: a person decides


def test_an_industry_only_claim_in_an_ad_that_declares_none_goes_to_review(
    rule_dir: RuleDir,
) -> None:
    ruleset = load_ruleset(scoped(rule_dir))
    assert ruleset.judge("永久美白", "cosmetics").decision is Decision.REJECT
    assert ruleset.judge("永久美白", "food").decision is Decision.PASS
    judgement = ruleset.judge("永久美白")
    assert judgement.decision is Decision.REVIEW
    assert [m.severity.value for m in judgement.matches] == ["review"]


def test_a_declared_only_rule_judges_declared_ads_alone(rule_dir: RuleDir) -> None:
    ruleset = load_ruleset(scoped(rule_dir))
    assert ruleset.judge("医疗级护理", "cosmetics").decision is Decision.REJECT
    assert ruleset.judge("医疗级护理").decision is Decision.PASS
    assert ruleset.judge("医疗级护理", "food").decision is Decision.PASS


def test_industry_options_that_cannot_work_are_refused(rule_dir: RuleDir) -> None:
    rules = INDUSTRIES + textwrap.dedent("""
    rules:
      - id: a
        category: medical
        severity: reject
        phrases: [预防流感]
        declared_only: true
      - id: b
        category: medical
        severity: reject
        phrases: [治疗]
        exempt_industries: [drug]
        review_industries: [drug, vet]
    """)
    text = "\n".join(problems_of(rule_dir({"rules.yaml": rules})))
    assert "rule 'a': declared_only needs the industries it is limited to" in text
    assert "rule 'b': drug both review and exempt" in text
    assert "rule 'b': unknown industry 'vet'" in text
