"""The feedback loop: which rules misfire, from what reviewers decided.

Every hit (one match of a current verdict) counts for its rule and for its phrase. A hit
of a submission a reviewer has decided about is *confirmed* when the reviewer's latest
decision is ``review`` or ``reject`` (there is something to object to) and *overridden*
when it is ``pass`` (the hit was a false alarm). ``precision`` is confirmed / (confirmed +
overridden), None before any reviewed hit.

The surrounding text of hits, ``CONTEXT`` characters either side of the matched text in
its OCR line, is grouped: overridden hits that share a context are what a rule editor
wants to see. When at least ``min_overrides`` overridden hits of a rule share a context
that no confirmed hit of the rule has, ``suggestion`` holds the YAML of the rule's
``exceptions`` with that context added, to review and paste into the rule's file. Nothing
is changed automatically; ``adreview rules diff`` (``POST /v1/rules/diff``) shows what the
pasted exception would change before it ships.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from rules import RuleSet
from rules.schema import Decision
from worker.db import Store

#: Characters of the OCR line kept either side of a matched text.
CONTEXT = 2
#: Overridden hits in one context that make a suggested exception.
MIN_OVERRIDES = 3
#: Contexts listed per rule and per phrase.
TOP_CONTEXTS = 5

#: A context: (text before, matched text, text after).
Context = tuple[str, str, str]


def context_of(text: str, line: str, width: int = CONTEXT) -> Context:
    """The matched ``text`` with up to ``width`` characters of ``line`` either side
    (spaces at the outer ends dropped)."""
    at = line.find(text) if text else -1
    if at < 0:
        return "", text, ""
    before = line[max(0, at - width):at].lstrip()
    after = line[at + len(text):at + len(text) + width].rstrip()
    return before, text, after


@dataclass
class Tally:
    """Hits and what reviewers made of them, with the contexts of both kinds."""

    hits: int = 0
    confirmed: int = 0
    overridden: int = 0
    overridden_contexts: Counter[Context] = field(default_factory=Counter)
    confirmed_contexts: Counter[Context] = field(default_factory=Counter)

    @property
    def reviewed(self) -> int:
        """Hits of submissions a reviewer decided about."""
        return self.confirmed + self.overridden

    @property
    def precision(self) -> float | None:
        """confirmed / reviewed, None before any reviewed hit."""
        return None if not self.reviewed else self.confirmed / self.reviewed

    def add(self, context: Context, reviewed: Decision | None) -> None:
        """Count one hit, reviewed as ``reviewed`` (None: not reviewed)."""
        self.hits += 1
        if reviewed is None:
            return
        if reviewed is Decision.PASS:
            self.overridden += 1
            self.overridden_contexts[context] += 1
        else:
            self.confirmed += 1
            self.confirmed_contexts[context] += 1

    def to_dict(self, top: int = TOP_CONTEXTS) -> dict[str, Any]:
        """As JSON, with the ``top`` most common contexts of overridden hits."""
        precision = self.precision
        return {
            "hits": self.hits,
            "reviewed": self.reviewed,
            "confirmed": self.confirmed,
            "overridden": self.overridden,
            "precision": None if precision is None else round(precision, 4),
            "overridden_contexts": [
                {"context": "".join(c), "before": c[0], "text": c[1], "after": c[2],
                 "count": n, "confirmed": self.confirmed_contexts.get(c, 0)}
                for c, n in sorted(self.overridden_contexts.items(),
                                   key=lambda item: (-item[1], "".join(item[0])))[:top]
            ],
        }


@dataclass
class RuleTally(Tally):
    """A rule's tally, per phrase as well, and the exception that would silence its most
    common overridden context."""

    rule: str = ""
    category: str = ""
    phrases: dict[str, Tally] = field(default_factory=dict)
    suggestion: str | None = None
    suggested_exception: str | None = None

    def to_dict(self, top: int = TOP_CONTEXTS) -> dict[str, Any]:
        """As JSON."""
        return {
            "rule": self.rule,
            "category": self.category,
            **super().to_dict(top),
            "phrases": {p: t.to_dict(top) for p, t in sorted(self.phrases.items())},
            "suggested_exception": self.suggested_exception,
            "suggestion": self.suggestion,
        }


@dataclass
class RuleStats:
    """Per-rule tallies over the current verdicts judged since ``since``."""

    since: datetime | None
    submissions: int = 0
    reviewed: int = 0
    rules: dict[str, RuleTally] = field(default_factory=dict)

    def to_dict(self, top: int = TOP_CONTEXTS) -> dict[str, Any]:
        """The ``--json`` object (and ``GET /v1/rules/stats``)."""
        ordered = sorted(self.rules.values(), key=lambda t: (-t.overridden, -t.hits, t.rule))
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "submissions": self.submissions,
            "reviewed": self.reviewed,
            "rules": [t.to_dict(top) for t in ordered],
        }


def suggest_exception(rule: str, exceptions: list[str], context: Context, count: int
                      ) -> str:
    """The YAML a rule editor pastes over the rule's ``exceptions`` to excuse ``context``."""
    phrase = "".join(context)
    body = yaml.safe_dump([{"id": rule, "exceptions": [*exceptions, phrase]}],
                          allow_unicode=True, default_flow_style=None, sort_keys=False)
    return (f"# {rule}: {count} overridden hits read {phrase!r}, no confirmed one does.\n"
            f"# In the rule's file, set its exceptions to (review before shipping; check "
            f"with adreview rules diff):\n{body}")


def rule_stats(store: Store, ruleset: RuleSet | None = None, *, since: datetime | None = None,
               context: int = CONTEXT, min_overrides: int = MIN_OVERRIDES) -> RuleStats:
    """Tally every hit of the current verdicts (judged at or after ``since``) against the
    reviewers' latest decisions; ``ruleset`` (the active one) gives the rules' existing
    exceptions for the suggestions."""
    result = RuleStats(since)
    for stored in store.current_verdicts(since=since):
        result.submissions += 1
        reviewed = None if stored.review is None else stored.review.decision
        result.reviewed += reviewed is not None
        for match in stored.verdict.matches:
            tally = result.rules.setdefault(
                match.rule, RuleTally(rule=match.rule, category=match.category))
            where = context_of(match.text, match.line, context)
            tally.add(where, reviewed)
            tally.phrases.setdefault(match.phrase, Tally()).add(where, reviewed)
    specs = {} if ruleset is None else {r.spec.id: r.spec for r in ruleset.rules}
    for tally in result.rules.values():
        candidates = [(n, c) for c, n in tally.overridden_contexts.items()
                      if n >= min_overrides and not tally.confirmed_contexts.get(c)
                      and (c[0] or c[2])]
        if not candidates:
            continue
        count, chosen = min(candidates, key=lambda item: (-item[0], "".join(item[1])))
        spec = specs.get(tally.rule)
        existing = [] if spec is None else list(spec.exceptions)
        tally.suggested_exception = "".join(chosen)
        tally.suggestion = suggest_exception(tally.rule, existing, chosen, count)
    return result


__all__ = ["CONTEXT", "MIN_OVERRIDES", "RuleStats", "RuleTally", "Tally", "context_of",
           "rule_stats", "suggest_exception"]
