r"""The rule-file format, as pydantic models. The JSON Schema for editors is generated from these.

A rule folder holds YAML files; each may declare ``categories`` and ``rules``::

    categories:
      - id: absolute
        name: 绝对化用语
        reference: 《中华人民共和国广告法》第九条第三项
    rules:
      - id: absolute.first
        category: absolute
        severity: reject
        phrases: [全网第一, 销量第一]
        patterns: ['(?:no|top)1']
        exceptions: [第一步, 第一时间]
        exception_patterns: ['第一(?:本|条|行)']
        description: 以“第一”自称排名
        reference: 《广告法》第九条第三项

A file may also declare ``industries`` (``id`` and ``name``); a rule may then name the
industries it is limited to (``industries``) or exempt in (``exempt_industries``).

A file may declare ``lexicons``: named classes of terms (diseases, efficacy verbs, return
words ...). A pattern names one in braces, ``{efficacy_verb}\p{Han}{0,6}{disease}``, and it
stands for any of its terms (normalised like phrases, longest first), so an editor extends
a lexicon without touching the patterns that use it.

Phrases and exceptions are written as people read them; they are normalised the same
way as the OCR text (full-width to half-width, lower case, traditional to simplified,
separators removed). Patterns are RE2 expressions run on that normalised text; they
may use the numeral macros of ``PATTERN_MACROS`` (``{num}``, ``{pct}``, ``{dur}``) and a
group named ``core``, the part of the match that exceptions must cover (the whole match
is what is reported).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"

#: A number as ad copy writes it: digits (``.`` is a separator, so 99.9 reads 999) or
#: Chinese numerals (十五, 两, 一百二十).
_NUM = "(?:\\d+|[零〇一二两三四五六七八九十百千万]+)"

#: Macros a pattern may use, expanded before RE2 compiles it. Written for rule editors:
#: ``{num}天见效`` reads better than the class it stands for.
PATTERN_MACROS: dict[str, str] = {
    # a number in digits or Chinese numerals
    "num": _NUM,
    # a percentage: 99%, 百分之九十九, 百分百
    "pct": f"(?:{_NUM}%|百分之{_NUM}|百分百)",
    # a duration: 7天, 三个月, 两周, 30分钟, 一个疗程
    "dur": f"(?:{_NUM}|半)个?(?:天|日|晚|夜|周|星期|礼拜|月|年|小时|钟头|分钟|秒|疗程)",
}


#: A name in braces inside a pattern: a macro or a lexicon. RE2 reads a brace not followed
#: by digits as a literal, so the names cannot clash with repetition counts such as ``{2,4}``.
REFERENCE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def expand_macros(pattern: str, lexicons: Mapping[str, str] | None = None) -> str:
    """``pattern`` with every ``{name}`` of ``PATTERN_MACROS`` (and of ``lexicons``, name to
    RE2 alternation) replaced by its expression; unknown names are left as written."""
    table = PATTERN_MACROS if not lexicons else {**lexicons, **PATTERN_MACROS}
    return REFERENCE.sub(lambda m: table.get(m.group(1), m.group(0)), pattern)


def references(pattern: str) -> list[str]:
    """The names a pattern refers to in braces (macros and lexicons), in order."""
    return REFERENCE.findall(pattern)


class Severity(StrEnum):
    """What a hit of the rule does to the verdict."""

    REJECT = "reject"
    REVIEW = "review"


class Decision(StrEnum):
    """A verdict's decision (contract: dashboards and producers rely on these values)."""

    PASS = "pass"  # noqa: S105 - a decision, not a password
    REVIEW = "review"
    REJECT = "reject"
    ERROR = "error"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CategorySpec(_Strict):
    """A category of banned claims; every rule names one."""

    id: str = Field(pattern=ID_PATTERN, description="Stable identifier, e.g. `absolute`.")
    name: str = Field(min_length=1, description="Human-readable name, e.g. 绝对化用语.")
    description: str = Field(default="", description="What the category covers.")
    reference: str = Field(default="", description="The law or regulation behind it.")


class IndustrySpec(_Strict):
    """An industry a submission may declare; rules may be limited to or exempt in it."""

    id: str = Field(
        pattern=ID_PATTERN, max_length=64, description="Stable identifier, e.g. `cosmetics`."
    )
    name: str = Field(min_length=1, description="Human-readable name, e.g. 化妆品.")
    description: str = Field(default="", description="What ads the industry covers.")


class LexiconSpec(_Strict):
    """A named class of terms that patterns use by name (``{disease}``)."""

    id: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", max_length=64,
        description="The name patterns use in braces, e.g. `disease` for `{disease}`.",
    )
    name: str = Field(min_length=1, description="Human-readable name, e.g. 疾病.")
    description: str = Field(default="", description="What the terms have in common.")
    source: str = Field(default="", description="Where the terms come from (a public list).")
    terms: list[str] = Field(
        min_length=1, description="The terms, written as people read them; matched after "
        "normalisation, like phrases.",
    )


class RuleSpec(_Strict):
    """One rule: the phrases and patterns it bans, and the contexts that excuse them."""

    id: str = Field(
        pattern=ID_PATTERN, description="Unique across the rule set, e.g. `absolute.first`."
    )
    category: str = Field(pattern=ID_PATTERN, description="A category id declared in the rule set.")
    severity: Severity = Field(
        description="`reject`: the ad is refused; `review`: a person decides."
    )
    phrases: list[str] = Field(
        default_factory=list, description="Banned phrases, matched after normalisation."
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="RE2 expressions run on the normalised text (lower case, half width, "
        "simplified, separators removed).",
    )
    exceptions: list[str] = Field(
        default_factory=list,
        description="Context phrases: a hit lying inside one of these is not a violation "
        "(e.g. 第一步 for 第一).",
    )
    exception_patterns: list[str] = Field(
        default_factory=list,
        description="RE2 expressions on the normalised text around a hit: a hit that a match "
        "of one of these covers is not a violation (e.g. `第一(?:本|条|行)` for ordinals, "
        "`最(?:高|低)\\p{Han}{0,6}\\d` for measurements).",
    )
    industries: list[str] = Field(
        default_factory=list,
        description="When given, the rule applies only to ads of these industries (and to "
        "ads that declare none).",
    )
    exempt_industries: list[str] = Field(
        default_factory=list,
        description="Industries whose ads the rule does not apply to (e.g. `medical` for "
        "治疗, which a licensed medical ad may say).",
    )
    declared_only: bool = Field(
        default=False,
        description="With `industries`: the rule judges only ads that declare one of them, "
        "never an ad that declares no industry (for words that are ordinary anywhere else, "
        "such as 医疗 outside a cosmetics ad). Without it, an ad that declares none gets the "
        "rule's hits as `review`.",
    )
    review_industries: list[str] = Field(
        default_factory=list,
        description="Industries whose ads get the rule's hits as `review`, not its severity: "
        "where the claim can be lawful and a person decides (e.g. `medical` for 治疗高血压). "
        "A rule that names any also judges an ad that declares no industry as `review`.",
    )
    description: str = Field(default="", description="Why the rule exists, for reviewers.")
    reference: str = Field(default="", description="The legal basis, e.g. 《广告法》第九条.")
    enabled: bool = Field(
        default=True, description="Disabled rules are loaded and checked, not matched."
    )


class RuleFile(_Strict):
    """The top level of one rule YAML file."""

    categories: list[CategorySpec] = Field(default_factory=list)
    industries: list[IndustrySpec] = Field(default_factory=list)
    lexicons: list[LexiconSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
