"""Dropping hits that add no evidence: the same answer as comparing every review hit with
every reject hit, in time that grows with the number of hits, not with its square."""

from __future__ import annotations

import time
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import _drop_contained, _Hit

#: Rule indices 0-2 are reject rules, 3-5 review rules.
REJECTS = frozenset({0, 1, 2})


def _reference(hits: list[_Hit], rejects: frozenset[int]) -> list[_Hit]:
    """The definition, written the direct way (every review hit against every reject hit)."""
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
    spans = [(h.start, h.end) for h in kept if h.rule in rejects]
    if not spans or len(spans) == len(kept):
        return kept
    return [h for h in kept if h.rule in rejects
            or not any(start <= h.start and h.end <= end for start, end in spans)]


hit_lists = st.lists(
    st.builds(
        lambda rule, start, length: _Hit(rule, start, start + length, f"p{rule}"),
        st.integers(0, 5), st.integers(0, 40), st.integers(1, 8),
    ),
    max_size=40,
)


@given(hit_lists)
@settings(max_examples=400, deadline=None)
def test_when_hits_overlap_in_any_way_then_the_kept_hits_are_those_of_the_definition(
    hits: list[_Hit],
) -> None:
    assert _drop_contained(list(hits), REJECTS) == _reference(list(hits), REJECTS)


def test_when_every_hit_is_of_one_severity_then_only_same_rule_overlaps_go() -> None:
    hits = [_Hit(3, 0, 4, "a"), _Hit(3, 1, 3, "a"), _Hit(4, 1, 3, "b")]
    assert _drop_contained(hits, frozenset()) == [_Hit(3, 0, 4, "a"), _Hit(4, 1, 3, "b")]
    assert _drop_contained(hits, frozenset({3, 4})) == [_Hit(3, 0, 4, "a"), _Hit(4, 1, 3, "b")]


def test_tens_of_thousands_of_review_and_reject_hits_are_sorted_out_quickly() -> None:
    # 100k characters of repeated claims: 12,500 reject and 12,500 review hits.
    hits = []
    for i in range(12_500):
        hits.append(_Hit(0, 8 * i, 8 * i + 4, "全网第一"))
        hits.append(_Hit(3, 8 * i + 4, 8 * i + 6, "最好"))
        hits.append(_Hit(4, 8 * i + 1, 8 * i + 3, "网第"))  # inside a reject hit: dropped
    started = time.perf_counter()
    kept = _drop_contained(hits, REJECTS)
    seconds = time.perf_counter() - started
    assert len(kept) == 25_000
    assert all(h.rule != 4 for h in kept)
    assert seconds < 1.0, f"{seconds:.2f} s"
