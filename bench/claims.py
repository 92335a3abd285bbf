"""Claims as regulators fine them and ad copy as advertisers write it: two measurements
``bench/rules_quality.py`` reports beside the term lists and ordinary text.

1. Enforcement cases: ad phrases that market regulators fined, quoted in public penalty
   decisions and typical-case bulletins, each with the area of the law, the industry of the
   advertised product and whether the words alone break the law (not ``context_dependent``
   and not punished as a ``false_ad_ground``). Each phrase is judged as an ad of its
   industry, and again as an ad that declares none. ``../shared/benchmarks/
   enforcement-cases.json`` is the development set; ``bench/data/enforcement-extra.json``
   (phrases from other public reports, each with its source page) widens it.
2. Real ad copy across domains: app-store descriptions (FewCLUE iflytek), Taobao product
   descriptions and fashion copy (AdvertiseGen), one text a line in
   ``~/.cache/adreview-bench/ad-copy/{iflytek,taobao,advertisegen}.txt`` (see SOURCES in
   README's benchmark section; nothing is committed). Texts are cut into sentences and
   judged with no industry declared; the report gives the flag and reject rates by domain,
   what fired, and - where ``bench/data/ad-copy-labels.json`` holds a careful reader's
   labels for sentences (by SHA-1 of the sentence, no text) - the share of flags a reviewer
   wants to see and the rejects of clean sentences.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rules import Decision, Match, RuleSet

ROOT = Path(__file__).resolve().parent.parent
DEV_CASES = ROOT.parent / "shared/benchmarks/enforcement-cases.json"
EXTRA_CASES = ROOT / "bench/data/enforcement-extra.json"
LABELS = ROOT / "bench/data/ad-copy-labels.json"
AD_COPY_DOMAINS = {
    "iflytek": "app-store descriptions (FewCLUE iflytek)",
    "taobao": "Taobao product descriptions",
    "advertisegen": "fashion copy (AdvertiseGen)",
}
FLAGGED = frozenset({Decision.REVIEW, Decision.REJECT})
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n")


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def words_alone(case: dict[str, Any]) -> bool:
    """Whether the phrase breaks the law by its words, whatever the ad around it."""
    return not case.get("context_dependent") and not case.get("false_ad_ground")


def enforcement_recall(ruleset: RuleSet, cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Share of fined phrases flagged, by area and by kind, with and without the industry."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    missed: list[dict[str, Any]] = []
    for case in cases:
        industry = case.get("industry")
        declared = industry if industry in ruleset.industries else None
        with_industry = ruleset.judge(case["phrase"], declared).decision in FLAGGED
        without = ruleset.judge(case["phrase"]).decision in FLAGGED
        kind = "words_alone" if words_alone(case) else "context"
        for key in ("all", kind, f"area:{case['area']}"):
            counts[key]["n"] += 1
            counts[key]["flagged"] += with_industry
            counts[key]["flagged_no_industry"] += without
        if not with_industry:
            missed.append({"id": case.get("id"), "area": case["area"], "industry": industry,
                           "kind": kind, "phrase": case["phrase"]})

    def summary(c: Counter[str]) -> dict[str, Any]:
        return {"n": c["n"], "flagged": c["flagged"], "rate": _rate(c["flagged"], c["n"]),
                "rate_no_industry": _rate(c["flagged_no_industry"], c["n"])}

    return {
        "n": len(cases),
        "all": summary(counts["all"]),
        "words_alone": summary(counts["words_alone"]),
        "context": summary(counts["context"]),
        "by_area": {key[5:]: summary(c) for key, c in sorted(counts.items())
                    if key.startswith("area:")},
        "missed": missed,
    }


def load_cases(path: Path) -> list[dict[str, Any]]:
    """The ``violating`` entries of an enforcement-case file."""
    return list(json.loads(path.read_text(encoding="utf-8"))["violating"])


def sentences(text: str, *, min_chars: int = 6) -> list[str]:
    """A text cut after each sentence mark, pieces shorter than ``min_chars`` dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) >= min_chars]


def sentence_key(sentence: str) -> str:
    """The key a label is stored under: no text of the corpus is committed."""
    return hashlib.sha1(sentence.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def ad_copy_samples(
    directory: Path, per_domain: int, *, seed: int = 20261202
) -> dict[str, list[str]]:
    """Up to ``per_domain`` sentences of each domain whose file is in ``directory``."""
    samples: dict[str, list[str]] = {}
    for domain in AD_COPY_DOMAINS:
        path = directory / f"{domain}.txt"
        if not path.is_file():
            continue
        pool = [s for line in path.read_text(encoding="utf-8").splitlines()
                for s in sentences(line)]
        pool = sorted(set(pool))
        random.Random(seed).shuffle(pool)
        samples[domain] = pool[:per_domain]
    return samples


def ad_copy_labelled(directory: Path, labels: dict[str, dict[str, str]]) -> list[str]:
    """Every sentence of the domain files in ``directory`` that a careful reader labelled,
    sampled or not: the labelled measure does not depend on the sample's size."""
    found: list[str] = []
    for domain in AD_COPY_DOMAINS:
        path = directory / f"{domain}.txt"
        if path.is_file():
            pool = {s for line in path.read_text(encoding="utf-8").splitlines()
                    for s in sentences(line)}
            found += sorted(s for s in pool if sentence_key(s) in labels)
    return found


def _mark(text: str, matches: Iterable[Match]) -> str:
    out, last = [], 0
    for m in sorted(matches, key=lambda m: m.start):
        if m.start < last:
            continue
        out += [text[last:m.start], "【", text[m.start:m.end], "】"]
        last = m.end
    return "".join([*out, text[last:]])


def ad_copy_flags(
    ruleset: RuleSet, samples: dict[str, list[str]], labels: dict[str, dict[str, str]],
    *, examples: int = 8, top: int = 12, labelled_texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Flag and reject rates per domain, the rules behind them, and the labelled share
    (over ``labelled_texts`` when given, else over the labelled sentences of the samples)."""
    by_domain: dict[str, Any] = {}
    labelled: Counter[str] = Counter()
    for domain, texts in samples.items():
        flagged = rejected = 0
        rules: Counter[str] = Counter()
        matched: dict[str, Counter[str]] = defaultdict(Counter)
        shown: list[dict[str, Any]] = []
        for text in texts:
            verdict = ruleset.judge(text)
            label = labels.get(sentence_key(text), {}).get("label")
            if label is not None and labelled_texts is None:
                labelled[f"{label}:{verdict.decision.value}"] += 1
            if verdict.decision not in FLAGGED:
                continue
            flagged += 1
            rejected += verdict.decision is Decision.REJECT
            for m in verdict.matches:
                rules[m.rule] += 1
                matched[m.rule][m.text] += 1
            if len(shown) < examples:
                shown.append({"decision": verdict.decision.value,
                              "rules": sorted({m.rule for m in verdict.matches}),
                              "text": _mark(text, verdict.matches)})
        by_domain[domain] = {
            "name": AD_COPY_DOMAINS[domain], "n": len(texts), "flagged": flagged,
            "rejected": rejected, "flagged_rate": _rate(flagged, len(texts)),
            "rejected_rate": _rate(rejected, len(texts)),
            "top_rules": [{"rule": r, "hits": h, "matched": matched[r].most_common(4)}
                          for r, h in rules.most_common(top)],
            "examples": shown,
        }
    for text in labelled_texts or ():
        label = labels[sentence_key(text)]["label"]
        labelled[f"{label}:{ruleset.judge(text).decision.value}"] += 1
    flags = labelled["violation:review"] + labelled["violation:reject"]
    false_flags = labelled["clean:review"] + labelled["clean:reject"]
    clean = sum(v for k, v in labelled.items() if k.startswith("clean:"))
    return {
        "by_domain": by_domain,
        "labelled": {
            "sentences": sum(labelled.values()),
            "flags": flags + false_flags,
            "flags_wanted_rate": _rate(flags, flags + false_flags),
            "clean": clean,
            "clean_rejected": labelled["clean:reject"],
            "clean_rejected_rate": _rate(labelled["clean:reject"], clean),
            "violations": flags + labelled["violation:pass"],
            "violations_flagged_rate": _rate(flags, flags + labelled["violation:pass"]),
        },
    }


def load_labels(path: Path = LABELS) -> dict[str, dict[str, str]]:
    """A careful reader's labels of ad-copy sentences, by sentence key; empty when absent."""
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8"))["labels"])
