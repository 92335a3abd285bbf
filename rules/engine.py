r"""Matching: a compiled rule set finds every banned phrase and pattern in one pass.

All phrases and exception phrases of all rules go into one Aho-Corasick automaton
(the Rust ``aho-corasick`` crate, all overlapping occurrences in one call) run once over
the normalised text; RE2 patterns are screened with one ``re2.Filter`` pass (RE2's
literal-atom prefilter) and only the patterns that occur are run for their positions.
A hit is then dropped when

* its rule does not apply to the ad's declared industry (``industries`` /
  ``exempt_industries``; an ad that declares none gets every rule),
* it lies inside an occurrence of one of its rule's exception phrases (第一 in 第一步),
* a match of one of its rule's exception patterns covers it, searched in a window of
  ``CONTEXT_WINDOW`` characters either side (第一 in 第一本, 最高 in 最高温度30°C),
* a negation governs it in its clause (本品不能代替药物, 不承诺保本, 并非最好的): see
  ``NEGATION_CUES``,
* it starts or ends inside an ASCII word (no1 in "piano 1", top1 in "top10"), or
* another hit of the same rule contains it (第一 inside 销量第一).

Exception phrases, exception patterns and negations are looked for on the OCR lines the
hit lies on, never across a line break: a line ending in 作 does not excuse a 首选 claim
on the next line.

Patterns may name *lexicons* (term classes declared in the rule files) in braces:
``{efficacy_verb}\p{Han}{0,6}{disease}`` stands for any term of the one near any term of
the other, compiled into the same RE2 pass.

A rule limited to some industries still judges an ad that declares none, as ``review``:
the claim may be unlawful for what the ad sells, and a person decides; unless it is
``declared_only`` (words ordinary anywhere but in those industries' ads), when it judges
declared ads alone. A rule's ``review_industries`` get its hits as ``review``.

With ``near_miss=True`` the text is also searched for what OCR makes of a claim, in the
ways the engine was measured to fail: a reject phrase of more than ``NEAR_MISS_MIN``
characters with the 一 after 第 dropped (第品牌 for 第一品牌) or with its first or last
character lost where an OCR line starts or ends, or where Latin letters or digits are
printed against it (治百病 for 包治百病, 全网第 for 全网第一, 全网第NEW for 全网第一NEW),
and a phrase or pattern match of ``NEAR_MISS_MIN`` characters or more with one character
read as a look-alike (``OCR_CONFUSIONS``: 7天限治 for 7天根治, 荃网第一 for 全网第一). Such a
match is marked ``reason="ocr_near_miss"``; it is evidence for a reviewer, never a
reject on its own.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ahocorasick_rs
import numpy as np
import re2

from rules.normalize import NormalizedText, Normalizer
from rules.schema import (
    CategorySpec,
    Decision,
    IndustrySpec,
    LexiconSpec,
    RuleSpec,
    Severity,
    expand_macros,
)
from worker.errors import AdreviewError

_PHRASE = 0
_EXCEPTION = 1

#: How far (normalised characters) either side of a hit exception patterns look.
CONTEXT_WINDOW = 24

#: The name of the pattern group that exceptions must cover; the whole match is reported.
CORE_GROUP = "core"

#: The reason a near-miss match carries.
NEAR_MISS = "ocr_near_miss"

#: Phrases shorter than this (normalised) get no near-miss variants: two characters left
#: of a three-character phrase are ordinary words too often (优秀 of 最优秀).
NEAR_MISS_MIN = 3

#: Characters the OCR engine reads in place of a claim's characters (misread -> meant),
#: as measured on real ads: 根 read as 限 or 退, 全 as 荃, 第 as 弟, 治 as 冶, 佳 as 住.
#: Latin confusions (TOPI, N0.1, l00%) are folded for every text by the normaliser.
OCR_CONFUSIONS = {"限": "根", "退": "根", "荃": "全", "弟": "第", "冶": "治", "住": "佳"}
_CONFUSION_TABLE = str.maketrans(OCR_CONFUSIONS)

#: Words that deny what follows them in their clause, so a claim they govern is not made:
#: mandatory disclaimers (本品不能代替药物, 不具有疾病预防、治疗功能), refusals to promise
#: (不承诺保本, 不保证收益) and denials (并非最好的). Words that are claims themselves when
#: negated (无副作用, 不反弹, 不伤胃, 没有副作用) are phrases of their rules, not cues: a cue is
#: looked for only before a hit.
NEGATION_CUES = (
    "不能", "不可", "不得", "不应", "不宜", "不要", "不是", "并非", "绝非", "而非", "并不",
    "不代表", "不等于", "不承诺", "不保证", "不宣称", "不作为", "不用于", "不适用", "不属于",
    "不算", "称不上", "谈不上", "算不上",
    "不具有", "不具备", "没有", "无法", "严禁", "禁止", "切勿", "请勿", "不准", "谨防", "警惕",
    # English, folded (lower case, no spaces or apostrophes): does not cure, will never
    "not", "never", "cannot", "doesnt", "dont", "isnt", "wont",
)
#: How many characters of the same clause may stand between a cue and the claim it denies
#: (不能 用于 治疗; 不具有 疾病预防、 治疗功能).
NEGATION_REACH = 6
#: What ends a cue's scope before the claim: a clause mark, an adverb or conjunction that
#: starts a new predicate (不用吃药就能降压, 不是药品却胜似药品) or a pronoun that starts a
#: new subject (不是吹，我们是第一).
_SCOPE_BREAKERS = ",;:!?。就也都便即才还却但而更只仍照让我你他她它们吗呢吧啊"
_NEGATED = re2.compile(
    f"(?:{'|'.join(NEGATION_CUES)})[^{_SCOPE_BREAKERS}]{{0,{NEGATION_REACH}}}$"
)
_NEGATION_LOOKBACK = NEGATION_REACH + max(len(c) for c in NEGATION_CUES)
#: The last characters of the cues: a window without one holds no cue.
_CUE_ENDS = frozenset(c[-1] for c in NEGATION_CUES)
#: Cues split where a hit may begin inside them, by the character before the split:
#: 不 -> [("不", "承诺"), ...] finds 不承诺 before a hit that starts 承诺.
_CUE_SPLITS: dict[str, tuple[tuple[str, str], ...]] = {
    ch: tuple((c[:k], c[k:]) for c in NEGATION_CUES for k in range(1, len(c)) if c[k - 1] == ch)
    for ch in {c[k - 1] for c in NEGATION_CUES for k in range(1, len(c))}
}


class UnknownIndustry(AdreviewError):
    """An ad declared an industry the rule set does not know."""

    def __init__(self, industry: str, known: Sequence[str]) -> None:
        self.industry = industry
        self.known = sorted(known)
        super().__init__(
            f"unknown industry {industry!r}; known: {', '.join(self.known) or 'none declared'}"
        )


def re2_options() -> Any:
    """RE2 options for rule patterns: UTF-8, errors raised (not logged to stderr)."""
    options = re2.Options()
    options.log_errors = False
    return options


@dataclass(frozen=True, slots=True)
class Match:
    """One violation found in a text.

    ``phrase`` is the rule's phrase as written (or, for a pattern hit, the normalised text
    the pattern matched); ``text`` is the original text it was found in, ``start``/``end``
    its offsets there.
    """

    rule: str
    category: str
    severity: Severity
    phrase: str
    text: str
    start: int
    end: int
    pattern: str | None = None
    #: Why the match is uncertain evidence: ``ocr_near_miss`` for a claim read with one
    #: character dropped or confused; None for an exact match.
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's fields: ``rule``, ``category``, ``severity``, ``phrase``, ``text``
        (and ``reason`` for a near miss)."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity.value,
            "phrase": self.phrase,
            "text": self.text,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class Judgement:
    """The decision for one text and the matches behind it."""

    decision: Decision
    matches: tuple[Match, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"decision": ..., "matches": [...]}`` as in the CLI contract."""
        return {"decision": self.decision.value, "matches": [m.to_dict() for m in self.matches]}


def decide(severities: Iterable[Severity]) -> Decision:
    """``reject`` if any reject-severity hit, ``review`` if only review hits, else ``pass``."""
    seen = set(severities)
    if Severity.REJECT in seen:
        return Decision.REJECT
    if Severity.REVIEW in seen:
        return Decision.REVIEW
    return Decision.PASS


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule with its phrases, exceptions and patterns ready for matching."""

    spec: RuleSpec
    phrases: dict[str, str]  # normalised -> as written
    exceptions: frozenset[str]  # normalised
    patterns: tuple[Any, ...]  # compiled re2 patterns (macros expanded), in spec order
    exception_patterns: tuple[Any, ...] = ()

    def applies_to(self, industry: str | None) -> bool:
        """Whether the rule judges an ad of ``industry`` (None: undeclared, every rule)."""
        if industry is None:
            return True
        if industry in self.spec.exempt_industries:
            return False
        return not self.spec.industries or industry in self.spec.industries


@dataclass(slots=True)
class _Hit:
    rule: int
    start: int  # normalised offsets
    end: int
    phrase: str
    pattern: str | None = None
    core: tuple[int, int] | None = None  # what exceptions must cover; None: the whole hit

    @property
    def core_span(self) -> tuple[int, int]:
        return self.core if self.core is not None else (self.start, self.end)


@dataclass(frozen=True)
class RuleSet:
    """A loaded, validated, compiled rule set. Immutable; share it between threads.

    ``version`` is a content hash of the categories and rules, independent of file
    names, file order, key order and whitespace; it is stored with every verdict.
    """

    categories: dict[str, CategorySpec]
    rules: tuple[CompiledRule, ...]
    version: str
    sources: tuple[str, ...] = ()
    industries: dict[str, IndustrySpec] = field(default_factory=dict)
    lexicons: dict[str, LexiconSpec] = field(default_factory=dict)
    normalizer: Normalizer = field(default_factory=Normalizer, repr=False, compare=False)
    _automaton: Any = field(default=None, repr=False, compare=False)
    _entries: tuple[tuple[tuple[int, int, str], ...], ...] = field(
        default=(), repr=False, compare=False
    )
    _pattern_filter: Any = field(default=None, repr=False, compare=False)
    _pattern_index: tuple[tuple[int, Any], ...] = field(default=(), repr=False, compare=False)
    _max_exception: int = field(default=0, repr=False, compare=False)
    _rejects: frozenset[int] = field(default=frozenset(), repr=False, compare=False)
    _skipped: dict[str, frozenset[int]] = field(default_factory=dict, repr=False, compare=False)
    #: The rules an ad that declares no industry skips (``declared_only``); None: none.
    _skipped_undeclared: frozenset[int] | None = field(default=None, repr=False, compare=False)
    #: Rules with exception patterns (the others skip the context search).
    _contextual: frozenset[int] = field(default=frozenset(), repr=False, compare=False)
    #: Rules limited to some industries or with review industries: ``review`` in an ad
    #: that declares none.
    _scoped: frozenset[int] = field(default=frozenset(), repr=False, compare=False)
    #: Per industry, the rules whose hits are ``review`` in its ads (``review_industries``).
    _review_in: dict[str, frozenset[int]] = field(
        default_factory=dict, repr=False, compare=False
    )
    #: Near-miss variants (one character dropped): automaton and, per key, (rule, phrase
    #: as written, index of the dropped character, phrase length).
    _variants: Any = field(default=None, repr=False, compare=False)
    _variant_entries: tuple[tuple[tuple[int, str, int, int], ...], ...] = field(
        default=(), repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        categories: Sequence[CategorySpec],
        rules: Sequence[RuleSpec],
        sources: Sequence[str] = (),
        industries: Sequence[IndustrySpec] = (),
        lexicons: Sequence[LexiconSpec] = (),
    ) -> RuleSet:
        """Compile validated specs (the loader has already checked them)."""
        normalizer = Normalizer()
        expressions = lexicon_expressions(lexicons, normalizer)
        compiled: list[CompiledRule] = []
        for spec in rules:
            phrases: dict[str, str] = {}
            for phrase in spec.phrases:
                phrases.setdefault(normalizer.fold(phrase), phrase)
            compiled.append(
                CompiledRule(
                    spec=spec,
                    phrases=phrases,
                    exceptions=frozenset(normalizer.fold(x) for x in spec.exceptions),
                    patterns=tuple(compile_pattern(p, expressions) for p in spec.patterns),
                    exception_patterns=tuple(
                        compile_pattern(p, expressions) for p in spec.exception_patterns
                    ),
                )
            )

        entries: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        pattern_filter = re2.Filter()
        pattern_index: list[tuple[int, Any]] = []
        max_exception = 0
        for index, rule in enumerate(compiled):
            if not rule.spec.enabled:
                continue
            for key, written in rule.phrases.items():
                entries[key].append((_PHRASE, index, written))
            for key in rule.exceptions:
                entries[key].append((_EXCEPTION, index, key))
                max_exception = max(max_exception, len(key))
            for source, regex in zip(rule.spec.patterns, rule.patterns, strict=True):
                pattern_filter.Add(expand_macros(source, expressions), re2_options())
                pattern_index.append((index, regex))
        keys = list(entries)
        automaton = (
            ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MatchKind.Standard)
            if keys
            else None
        )
        if pattern_index:
            pattern_filter.Compile()

        variants = _near_miss_variants(compiled, set(entries))
        variant_keys = list(variants)
        version = ruleset_version(categories, rules, industries, lexicons)
        return cls(
            categories={c.id: c for c in categories},
            rules=tuple(compiled),
            version=version,
            sources=tuple(sources),
            industries={i.id: i for i in industries},
            lexicons={lexicon.id: lexicon for lexicon in lexicons},
            _scoped=frozenset(i for i, r in enumerate(compiled)
                              if r.spec.industries or r.spec.review_industries),
            _skipped_undeclared=frozenset(
                i for i, r in enumerate(compiled) if r.spec.declared_only
            ) or None,
            _review_in={
                i.id: frozenset(k for k, r in enumerate(compiled)
                                if i.id in r.spec.review_industries)
                for i in industries
            },
            _skipped={
                i.id: frozenset(k for k, r in enumerate(compiled) if not r.applies_to(i.id))
                for i in industries
            },
            _variants=(
                ahocorasick_rs.AhoCorasick(
                    variant_keys, matchkind=ahocorasick_rs.MatchKind.Standard
                )
                if variant_keys
                else None
            ),
            _variant_entries=tuple(tuple(variants[k]) for k in variant_keys),
            normalizer=normalizer,
            _automaton=automaton,
            _entries=tuple(tuple(entries[k]) for k in keys),
            _pattern_filter=pattern_filter if pattern_index else None,
            _pattern_index=tuple(pattern_index),
            _max_exception=max_exception,
            _contextual=frozenset(i for i, r in enumerate(compiled) if r.exception_patterns),
            _rejects=frozenset(
                i for i, rule in enumerate(compiled) if rule.spec.severity is Severity.REJECT
            ),
        )

    @property
    def enabled_rules(self) -> list[CompiledRule]:
        """Rules that take part in matching."""
        return [r for r in self.rules if r.spec.enabled]

    def check_industry(self, industry: str | None) -> None:
        """Raise ``UnknownIndustry`` unless ``industry`` is None or declared by the set."""
        if industry is not None and industry not in self.industries:
            raise UnknownIndustry(industry, list(self.industries))

    def match(
        self, text: str, industry: str | None = None, *, near_miss: bool = False
    ) -> list[Match]:
        """Every violation in ``text``, ordered by position then rule id.

        ``industry`` (an id the rule set declares) limits matching to the rules that
        apply to ads of that industry; None applies every rule. ``near_miss`` adds the
        claims OCR read with one character dropped or confused (``reason`` set), for text
        that came from OCR.
        """
        return self.match_normalized(self.normalizer.normalize(text), industry,
                                     near_miss=near_miss)

    def match_normalized(
        self, norm: NormalizedText, industry: str | None = None, *, near_miss: bool = False
    ) -> list[Match]:
        """Like ``match`` for a text already normalised with this rule set's normaliser."""
        exact = self._match_exact(norm, industry)
        if near_miss and norm.text:
            found = self._near_misses(norm, industry, exact)
            if found:
                exact = sorted([*exact, *found], key=lambda m: (m.start, -m.end, m.rule))
        softened = self._softened(industry)
        if softened and exact:
            ids = {self.rules[i].spec.id for i in softened}
            exact = [replace(m, severity=Severity.REVIEW) if m.rule in ids else m
                     for m in exact]
        return exact

    def _near_misses(
        self, norm: NormalizedText, industry: str | None, exact: list[Match]
    ) -> list[Match]:
        """Claims read with one character dropped or confused, where no exact match is."""
        text = norm.text
        skipped = self._skipped_for(industry)
        candidates: list[_Hit] = []
        if self._variants is not None:
            for key_index, start, end in self._variants.find_matches_as_indexes(
                text, overlapping=True
            ):
                for rule_index, written, dropped, length in self._variant_entries[key_index]:
                    if skipped and rule_index in skipped:
                        continue
                    if dropped == 0 and not _edge(norm, start, start - 1):
                        continue
                    if dropped == length - 1 and not _edge(norm, end, end):
                        continue
                    dropped_hit = _Hit(rule_index, start, end, written)
                    if not self._in_context_or_word(dropped_hit, norm):
                        candidates.append(dropped_hit)
        confused = text.translate(_CONFUSION_TABLE)
        if confused != text:
            swapped = [i for i, (a, b) in enumerate(zip(text, confused, strict=True)) if a != b]
            alike = NormalizedText(norm.original, confused, norm.origin, norm.origin_end)
            for hit in self._hits(alike, skipped):
                inside = bisect.bisect_left(swapped, hit.end) - bisect.bisect_left(
                    swapped, hit.start
                )
                if inside == 1 and hit.end - hit.start >= NEAR_MISS_MIN:
                    candidates.append(hit)  # already through its rule's exceptions
        if not candidates:
            return []
        known = [(m.start, m.end) for m in exact]
        found = [
            m for m in self._to_matches(_drop_contained(candidates, frozenset()), norm)
            # an exact match over the same characters already says it
            if not any(s < m.end and m.start < e for s, e in known)
        ]
        return [replace(m, reason=NEAR_MISS) for m in found]

    def _softened(self, industry: str | None) -> frozenset[int] | None:
        """The rules whose hits are ``review`` in an ad of ``industry``: a claim unlawful
        only for some industries in an ad that says none, and a claim that the industry's
        ads may lawfully make. A person decides."""
        return self._scoped if industry is None else self._review_in.get(industry)

    def _match_exact(self, norm: NormalizedText, industry: str | None) -> list[Match]:
        self.check_industry(industry)
        skipped = self._skipped_for(industry)
        if not norm.text:
            return []
        softened = self._softened(industry)
        rejects = self._rejects - softened if softened else self._rejects
        return self._to_matches(_drop_contained(self._hits(norm, skipped), rejects), norm)

    def _hits(self, norm: NormalizedText, skipped: frozenset[int] | None) -> list[_Hit]:
        """Every hit in the normalised text that survives its rule's exceptions."""
        text = norm.text
        hits: list[_Hit] = []
        # rule -> {exception start: furthest exception end}
        excused: dict[int, dict[int, int]] = defaultdict(dict)
        if self._automaton is not None:
            entries = self._entries
            for key_index, start, end in self._automaton.find_matches_as_indexes(
                text, overlapping=True
            ):
                for kind, rule_index, written in entries[key_index]:
                    if kind == _PHRASE:
                        hits.append(_Hit(rule_index, start, end, written))
                    else:
                        starts = excused[rule_index]
                        if starts.get(start, -1) < end:
                            starts[start] = end
        if self._pattern_filter is not None:
            for position in self._pattern_filter.Match(text) or ():
                rule_index, regex = self._pattern_index[position]
                if skipped and rule_index in skipped:
                    continue
                core = regex.groupindex.get(CORE_GROUP, 0)
                for found in regex.finditer(text):
                    start, end = found.span()
                    if end > start:
                        span = found.span(core) if core else None
                        hits.append(
                            _Hit(rule_index, start, end, found.group(0), regex.pattern,
                                 span if span is not None and span[0] >= 0 else None)
                        )
        kept = []
        for h in hits:
            if skipped and h.rule in skipped:
                continue
            bounds = norm.line_bounds(h.start, h.end)
            if h.rule in excused and self._excused(h, excused[h.rule], bounds):
                continue
            if not self._in_context_or_word(h, norm, bounds):
                kept.append(h)
        return kept

    def _skipped_for(self, industry: str | None) -> frozenset[int] | None:
        """The rules an ad of ``industry`` skips (None: no rule skipped)."""
        if industry is None:
            return self._skipped_undeclared
        return self._skipped.get(industry, frozenset())

    def _in_context_or_word(
        self, hit: _Hit, norm: NormalizedText, bounds: tuple[int, int] | None = None
    ) -> bool:
        """Whether an exception pattern of the hit's rule covers it, a negation governs it,
        or it cuts an ASCII word or number in two: the checks every hit gets after its
        exception phrases."""
        text = norm.text
        if bounds is None:
            bounds = norm.line_bounds(hit.start, hit.end)
        if hit.rule in self._contextual and _in_context(hit, text, bounds, self.rules[hit.rule]):
            return True
        if _negated(hit, text, bounds[0]):
            return True
        # only a hit that starts or ends with an ASCII letter or digit can split a word
        return (text[hit.start] < "\x80" or text[hit.end - 1] < "\x80") and _splits_word(
            norm, hit.start, hit.end
        )

    def judge(
        self, text: str, industry: str | None = None, *, near_miss: bool = False
    ) -> Judgement:
        """The decision for ``text`` (an ad of ``industry``, if given) with its matches.

        A near-miss match counts as ``review`` whatever its rule's severity.
        """
        matches = self.match(text, industry, near_miss=near_miss)
        return Judgement(
            decide(Severity.REVIEW if m.reason else m.severity for m in matches), tuple(matches)
        )

    def _excused(self, hit: _Hit, starts: dict[int, int], bounds: tuple[int, int]) -> bool:
        """Whether an exception occurrence of the hit's rule, on the hit's lines, covers
        the hit's core."""
        begin, end = hit.core_span
        first, last = bounds
        low = max(first, end - self._max_exception)
        if len(starts) < begin + 1 - low:  # fewer exception occurrences than places to try
            return any(low <= start <= begin and end <= stop <= last
                       for start, stop in starts.items())
        return any(end <= starts.get(start, -1) <= last for start in range(low, begin + 1))

    def _to_matches(self, hits: list[_Hit], norm: NormalizedText) -> list[Match]:
        if not hits:
            return []
        origin = norm.origin
        starts = origin[np.fromiter((h.start for h in hits), np.int64, len(hits))].tolist()
        last = np.fromiter((h.end - 1 for h in hits), np.int64, len(hits))
        ends = (origin[last] + 1 if norm.origin_end is None else norm.origin_end[last]).tolist()
        original = norm.original
        heads = [(r.spec.id, r.spec.category, r.spec.severity) for r in self.rules]
        matches = [
            Match(*heads[hit.rule], hit.phrase, original[start:end], start, end, hit.pattern)
            for hit, start, end in zip(hits, starts, ends, strict=True)
        ]
        matches.sort(key=lambda m: (m.start, -m.end, m.rule))
        return matches


def _near_miss_variants(
    rules: Sequence[CompiledRule], taken: set[str]
) -> dict[str, list[tuple[int, str, int, int]]]:
    """The reject phrases of more than ``NEAR_MISS_MIN`` Han characters with one character
    dropped the way OCR drops them (the first, the last, or the 一 after 第), keyed by the
    variant; variants that are phrases or exceptions themselves are left out."""
    variants: dict[str, list[tuple[int, str, int, int]]] = defaultdict(list)
    for index, rule in enumerate(rules):
        if not rule.spec.enabled or rule.spec.severity is not Severity.REJECT:
            continue
        for key, written in rule.phrases.items():
            if len(key) <= NEAR_MISS_MIN or any(c.isascii() for c in key):
                continue
            drops = {0, len(key) - 1}
            drops.update(i for i in range(1, len(key)) if key[i - 1 : i + 1] == "第一")
            for dropped in sorted(drops):
                variant = key[:dropped] + key[dropped + 1 :]
                if len(variant) < NEAR_MISS_MIN or variant in taken:
                    continue
                variants[variant].append((index, written, dropped, len(key)))
    return variants


def _edge(norm: NormalizedText, index: int, beside: int) -> bool:
    """Where OCR loses a claim's first or last character: a line break before ``index``,
    or Latin letters or digits printed against it (``beside``: the character there),
    which on busy ads swallow the neighbouring character (TOP全网第 for TOP全网第一)."""
    if _line_break(norm, index):
        return True
    if not 0 <= beside < len(norm.text):
        return False
    return norm.text[beside] < "\x80" and norm.text[beside].isalnum()


def _line_break(norm: NormalizedText, index: int) -> bool:
    """Whether the text breaks before normalised ``index`` the way OCR lines do: its start
    or end, or a line break or space that was dropped as a separator."""
    if index <= 0 or index >= len(norm.text):
        return True
    if not norm.gap_before(index):
        return False
    dropped = norm.original[norm.span(index - 1, index)[1] : int(norm.origin[index])]
    return any(c.isspace() for c in dropped)


def compile_pattern(pattern: str, lexicons: dict[str, str] | None = None) -> Any:
    """A rule pattern compiled for matching: macros and lexicons (name to alternation, as
    ``lexicon_expressions`` gives them) expanded, RE2 options set."""
    return re2.compile(expand_macros(pattern, lexicons), re2_options())


def lexicon_expressions(
    lexicons: Iterable[LexiconSpec], normalizer: Normalizer
) -> dict[str, str]:
    """Each lexicon's terms as one RE2 alternation, by lexicon id: folded like phrases,
    longest first (so 慢性胃炎 is preferred to 胃炎), duplicates once."""
    expressions: dict[str, str] = {}
    for lexicon in lexicons:
        keys = {k for k in (normalizer.fold(t) for t in lexicon.terms) if k}
        ordered = sorted(keys, key=lambda k: (-len(k), k))
        expressions[lexicon.id] = "(?:" + "|".join(re.escape(k) for k in ordered) + ")"
    return expressions


def _negated(hit: _Hit, text: str, first: int) -> bool:
    """Whether a negation cue governs the hit: it ends at most ``NEGATION_REACH``
    characters before the hit, in the same clause and on the same line (which starts at
    normalised ``first``), with nothing between that starts a new predicate or subject."""
    if hit.start <= first:
        return False
    # a cue the hit begins inside of: 不 + a hit that starts 承诺升值 (不承诺升值回报)
    for head, tail in _CUE_SPLITS.get(text[hit.start - 1], ()):
        if (hit.start - len(head) >= first and text.startswith(head, hit.start - len(head))
                and text.startswith(tail, hit.start)):
            return True
    window = text[max(first, hit.start - _NEGATION_LOOKBACK) : hit.start]
    if len(window) < 2 or _CUE_ENDS.isdisjoint(window):
        return False
    return _NEGATED.search(window) is not None


def _in_context(hit: _Hit, text: str, bounds: tuple[int, int], rule: CompiledRule) -> bool:
    """Whether a match of one of the rule's exception patterns covers the hit's core.

    Searched in a window from ``CONTEXT_WINDOW`` characters before the core to as many
    after it, within the lines the hit lies on (a slice, so a long text costs no more per
    hit than a short one); a match that starts too late to cover the core ends the search
    for that pattern.
    """
    first, last = bounds
    begin, end = hit.core_span
    low = max(first, begin - CONTEXT_WINDOW)
    window = text[low : min(last, end + CONTEXT_WINDOW)]
    begin, end = begin - low, end - low
    for regex in rule.exception_patterns:
        position = 0
        while position <= begin:
            found = regex.search(window, position)
            if found is None or found.start() > begin:
                break
            if found.end() >= end:
                return True
            position = found.start() + 1
    return False


def _word_class(ch: str) -> int:
    """0 for anything but ASCII letters and digits; letters and digits are told apart."""
    if ch >= "\x80":
        return 0
    if ch.isalpha():
        return 1
    return 2 if ch.isdigit() else 0


def _splits_word(norm: NormalizedText, start: int, end: int) -> bool:
    """Whether the hit ``[start, end)`` cuts an ASCII word or number in two.

    Letters join letters (``no1`` inside ``piano1``) and digits join digits (``top1``
    inside ``top10``, ``全国1`` inside ``全国1.5亿``: a decimal point or a thousands comma
    between digits joins them too); a cut where separators were dropped (``NO 1``) is a
    boundary.
    """
    text = norm.text
    for left, right in ((start - 1, start), (end - 1, end)):
        if left < 0 or right >= len(text):
            continue
        kind = _word_class(text[right if right == start else left])
        if not kind or _word_class(text[left]) != _word_class(text[right]):
            continue
        if not norm.gap_before(right) or (kind == 2 and _number_mark_between(norm, right)):
            return True
    return False


def _number_mark_between(norm: NormalizedText, index: int) -> bool:
    """Whether only a decimal point or a thousands comma was dropped before ``index``."""
    dropped = norm.original[norm.span(index - 1, index)[1] : int(norm.origin[index])]
    return dropped in (".", ",", "．", "，")


def _drop_contained(hits: list[_Hit], rejects: frozenset[int]) -> list[_Hit]:
    """Drop hits that add no evidence.

    A hit that another hit of the same rule covers goes (the longest evidence stays), and
    so does a ``review`` hit that a ``reject`` hit covers: a catch-all review rule such as
    "any 最X" says nothing more where a reject rule already names the claim.
    """
    by_rule: dict[int, list[_Hit]] = defaultdict(list)
    for hit in hits:
        by_rule[hit.rule].append(hit)
    kept: list[_Hit] = []
    for rule_hits in by_rule.values():
        rule_hits.sort(key=lambda h: (h.start, -h.end))
        furthest = -1
        seen: set[tuple[int, int]] = set()
        for hit in rule_hits:
            if hit.end <= furthest or (hit.start, hit.end) in seen:
                continue
            seen.add((hit.start, hit.end))
            furthest = max(furthest, hit.end)
            kept.append(hit)
    reject_spans = sorted((h.start, h.end) for h in kept if h.rule in rejects)
    if not reject_spans or len(reject_spans) == len(kept):
        return kept
    # One sweep over the reject spans by start: ``reach[i]`` is the furthest end of the
    # spans up to ``i``, so a hit is covered when the spans starting at or before it
    # reach its end (a bisection per hit instead of a comparison with every span).
    starts = [start for start, _ in reject_spans]
    reach: list[int] = []
    furthest = -1
    for _, end in reject_spans:
        furthest = max(furthest, end)
        reach.append(furthest)

    def covered(hit: _Hit) -> bool:
        before = bisect.bisect_right(starts, hit.start)
        return before > 0 and reach[before - 1] >= hit.end

    return [h for h in kept if h.rule in rejects or not covered(h)]


def ruleset_version(
    categories: Sequence[CategorySpec],
    rules: Sequence[RuleSpec],
    industries: Sequence[IndustrySpec] = (),
    lexicons: Sequence[LexiconSpec] = (),
) -> str:
    """A content hash of a rule set: the same rules give the same version, however laid out."""
    canonical: dict[str, Any] = {
        "categories": sorted(
            (c.model_dump(mode="json") for c in categories), key=lambda c: c["id"]
        ),
        "rules": sorted(
            (r.model_dump(mode="json", exclude_defaults=True) for r in rules),
            key=lambda r: r["id"],
        ),
    }
    if industries:
        canonical["industries"] = sorted(
            (i.model_dump(mode="json") for i in industries), key=lambda i: i["id"]
        )
    if lexicons:
        canonical["lexicons"] = sorted(
            (x.model_dump(mode="json", exclude_defaults=True) for x in lexicons),
            key=lambda x: x["id"],
        )
    blob = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
