"""``adreview rules diff``: what a candidate rule set would change, judged on stored OCR.

The candidate judges every stored ad's current verdict's OCR lines (no OCR, nothing
written) and each outcome is compared with the current verdict:

- *newly flagged*: ``pass`` before, ``review`` or ``reject`` now;
- *cleared*: ``review`` or ``reject`` before, ``pass`` now;
- *changed*: ``review`` became ``reject`` or the other way round, or an ``error``
  (unknown industry) was involved;
- per rule, the hits (rule, matched text) it adds and removes, over all ads.

Each ad is judged as the industry its submission declared; one the candidate does not
declare counts as ``error`` after. Error verdicts and verdicts whose OCR is not stored
are not examined (``unknown_industry`` errors are: their text is stored).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules import RuleSet
from rules.engine import UnknownIndustry
from rules.schema import Decision
from worker.db import Store
from worker.db.bulk import CurrentWithOcr, current_with_ocr
from worker.pipeline import Judged
from worker.rescan import judge_stored

#: Example ads kept per group and per rule.
EXAMPLES = 5
#: Characters of an ad's text shown in an example.
TEXT_PREVIEW = 160

_FLAGGED = frozenset({Decision.REVIEW.value, Decision.REJECT.value})

#: A hit: (rule id, matched text as read).
Hit = tuple[str, str]


@dataclass(frozen=True)
class Example:
    """One ad whose outcome changes: who it is, before and after, and the hits that moved."""

    submission: str
    source: str
    ad_id: str | None
    before: str
    after: str
    text: str
    added: tuple[Hit, ...]
    removed: tuple[Hit, ...]

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "submission": self.submission, "source": self.source, "ad_id": self.ad_id,
            "before": self.before, "after": self.after, "text": self.text,
            "added": [{"rule": r, "text": t} for r, t in self.added],
            "removed": [{"rule": r, "text": t} for r, t in self.removed],
        }


@dataclass
class Group:
    """A kind of change: how many ads, and a few of them."""

    count: int = 0
    examples: list[Example] = field(default_factory=list)

    def add(self, example: Example, keep: int) -> None:
        """Count an ad, keeping it as an example while there is room."""
        self.count += 1
        if len(self.examples) < keep:
            self.examples.append(example)

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {"count": self.count, "examples": [e.to_dict() for e in self.examples]}


@dataclass
class RuleChange:
    """One rule's hits added and removed by the candidate, with example ads."""

    added: int = 0
    removed: int = 0
    ads: Group = field(default_factory=Group)


@dataclass
class RulesDiff:
    """The candidate's outcome on the stored ads compared with their current verdicts."""

    candidate: str
    examined: int = 0
    unchanged: int = 0
    newly_flagged: Group = field(default_factory=Group)
    cleared: Group = field(default_factory=Group)
    changed: Group = field(default_factory=Group)
    #: Same decision, different hits.
    evidence_changed: Group = field(default_factory=Group)
    rules: dict[str, RuleChange] = field(default_factory=dict)
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    current_rulesets: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "candidate": self.candidate,
            "current_rulesets": dict(self.current_rulesets),
            "examined": self.examined,
            "unchanged": self.unchanged,
            "decisions": {"before": dict(self.before), "after": dict(self.after)},
            "newly_flagged": self.newly_flagged.to_dict(),
            "cleared": self.cleared.to_dict(),
            "changed": self.changed.to_dict(),
            "evidence_changed": self.evidence_changed.to_dict(),
            "rules": {
                rule: {"added": c.added, "removed": c.removed, "ads": c.ads.count,
                       "examples": [e.to_dict() for e in c.ads.examples]}
                for rule, c in sorted(self.rules.items())
            },
        }


def _moved(old: Counter[Hit], new: Counter[Hit]) -> tuple[tuple[Hit, ...], tuple[Hit, ...]]:
    added = tuple(sorted((new - old).elements()))
    removed = tuple(sorted((old - new).elements()))
    return added, removed


def _preview(lines: str) -> str:
    text = " / ".join(str(line.get("text", "")) for line in json.loads(lines))
    return text if len(text) <= TEXT_PREVIEW else text[: TEXT_PREVIEW - 1] + "…"


def diff_rules(
    store: Store,
    candidate: RuleSet,
    *,
    min_confidence: float = 0.0,
    since: datetime | None = None,
    decision: Decision | str | None = None,
    limit: int | None = None,
    examples: int = EXAMPLES,
    on_progress: Callable[[int], None] | None = None,
) -> RulesDiff:
    """Judge the stored ads with ``candidate`` and compare with their current verdicts.

    ``since``/``decision`` filter the current verdicts, ``limit`` takes the newest only.
    Reads only: nothing is written to the database.
    """
    result = RulesDiff(candidate.version)
    parts = current_with_ocr(store, since=since, decision=decision, with_matches=True,
                             limit=limit)
    with closing(parts):  # stopped early (``on_progress`` raising), the read ends at once
        for part in parts:
            _diff_part(result, part, candidate, min_confidence, examples)
            if on_progress is not None:
                on_progress(len(part))
    return result


def _diff_part(result: RulesDiff, part: list[CurrentWithOcr], candidate: RuleSet,
               min_confidence: float, examples: int) -> None:
    """Judge one chunk of stored ads into ``result``."""
    for item in part:
        try:
            judged = judge_stored(item.lines, candidate, min_confidence, item.industry)
        except UnknownIndustry:
            judged = Judged(Decision.ERROR, ())
        before, after = item.decision.value, judged.decision.value
        old = Counter((m["rule"], m["text"]) for m in json.loads(item.matches or "[]"))
        new = Counter((e.rule, e.text) for e in judged.evidence)
        result.examined += 1
        result.before[before] += 1
        result.after[after] += 1
        result.current_rulesets[item.ruleset] += 1
        if before == after and old == new:
            result.unchanged += 1
            continue
        added, removed = _moved(old, new)
        example = Example(item.submission, item.source, item.ad_id, before, after,
                          _preview(item.lines), added, removed)
        if before == after:
            group = result.evidence_changed
        elif before == Decision.PASS.value and after in _FLAGGED:
            group = result.newly_flagged
        elif before in _FLAGGED and after == Decision.PASS.value:
            group = result.cleared
        else:
            group = result.changed
        group.add(example, examples)
        for rule in sorted({r for r, _ in added} | {r for r, _ in removed}):
            change = result.rules.setdefault(rule, RuleChange())
            change.added += sum(1 for r, _ in added if r == rule)
            change.removed += sum(1 for r, _ in removed if r == rule)
            change.ads.add(example, examples)


__all__ = ["EXAMPLES", "Example", "Group", "RuleChange", "RulesDiff", "diff_rules"]
