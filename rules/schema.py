"""The rule-file format, as pydantic models. The JSON Schema for editors is generated from these.

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
        description: 以“第一”自称排名
        reference: 《广告法》第九条第三项

Phrases and exceptions are written as people read them; they are normalised the same
way as the OCR text (full-width to half-width, lower case, traditional to simplified,
separators removed). Patterns are RE2 expressions run on that normalised text.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


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
    description: str = Field(default="", description="Why the rule exists, for reviewers.")
    reference: str = Field(default="", description="The legal basis, e.g. 《广告法》第九条.")
    enabled: bool = Field(
        default=True, description="Disabled rules are loaded and checked, not matched."
    )


class RuleFile(_Strict):
    """The top level of one rule YAML file."""

    categories: list[CategorySpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
