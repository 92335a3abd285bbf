"""The CPU reader bake-off's scoring, on hand-made readings (no reader is run)."""

from __future__ import annotations

from typing import Any

from bench.ocr_readers import character_recall, render, score
from bench.real_backgrounds import Case
from rules import load_ruleset
from worker.settings import Settings

SETTINGS = Settings()


def reading(name: str, *images: tuple[list[str], float]) -> dict[str, Any]:
    return {"reader": name, "peak_mb": 100.0, "images": [
        {"file": f"{n}.jpg", "seconds": seconds,
         "lines": [{"text": text, "score": 0.95} for text in texts]}
        for n, (texts, seconds) in enumerate(images)]}


CASES = [
    Case("claim-000", b"", "全网第一", "全网第一", 40, ("保温杯 全网第一", "限时特惠")),
    Case("clean-001", b"", None, None, 40, ("第一步 打开盖子", "限时特惠")),
]


def test_character_recall_counts_drawn_characters_found_in_order() -> None:
    assert character_recall(["全网第一", "限时 特惠"], ["全网第", "限时特惠"]) == (7, 8)
    assert character_recall(["最佳"], []) == (0, 2)
    # Characters read out of order count once, in the longest order they agree on.
    assert character_recall(["甲乙丙"], ["丙乙甲"]) == (1, 3)


def test_score_judges_each_reading_with_the_rules() -> None:
    ruleset = load_ruleset(SETTINGS.rules_dir)
    read = reading("good", (["保温杯 全网第一", "限时特惠"], 0.2),
                   (["第一步 打开盖子", "限时特惠"], 0.4))
    row = score(CASES, read, ruleset, SETTINGS)
    assert row["claim_recall"] == 1.0 and row["claims"] == 1
    assert row["clean_flagged"] == 0.0 and row["clean"] == 1
    assert row["char_recall"] == 1.0
    assert abs(row["s_per_image"] - 0.3) < 1e-9
    missed = score(CASES, reading("bad", (["保温杯", "限时特惠"], 0.2),
                                  (["第一步 打开盖子", "限时特惠"], 0.4)), ruleset, SETTINGS)
    assert missed["claim_recall"] == 0.0
    assert missed["char_recall"] < 1.0


def test_only_a_reader_with_better_claim_recall_within_the_time_limit_is_named() -> None:
    def row(name: str, recall: float, seconds: float) -> dict[str, Any]:
        return {"reader": name, "char_recall": 0.99, "claim_recall": recall,
                "clean_flagged": 0.0, "s_per_image": seconds, "peak_mb": 100.0}

    table = render([row("rapidocr-v4", 0.90, 1.0), row("fast", 0.95, 1.4),
                    row("slow", 0.99, 1.6), row("worse", 0.85, 0.5)], 10)
    assert table.splitlines()[-1].endswith("within 1.5x the time: fast")
