"""review(): image bytes in, verdict out; bad input is a verdict, engine trouble is raised."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import pytest
from PIL import Image

from models.base import FakeEngine, TextLine
from rules import Decision, RuleSet
from worker.errors import EngineUnavailable, ErrorCode, OcrError, OcrUnavailable
from worker.pipeline import review
from worker.scan import MemoryCache
from worker.settings import Settings

SETTINGS = Settings()


def png(size: tuple[int, int] = (200, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


class Failing:
    """An engine that raises the given error on every call."""

    name = "failing"
    version = "1"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        raise self.error


def test_lines_read_from_the_image_decide_the_verdict(small: RuleSet) -> None:
    engine = FakeEngine([TextLine.rect("保温杯 全网第一", 0, 0, 160, 20, 0.97)])
    data = png()
    verdict = review(data, engine, small, SETTINGS)
    assert verdict.decision is Decision.REJECT
    assert [m.phrase for m in verdict.matches] == ["全网第一"]
    assert verdict.sha256 == hashlib.sha256(data).hexdigest()
    assert (verdict.ruleset, verdict.engine, verdict.engine_version) == (
        small.version, "fake", "fake-1")
    assert {"decode", "ocr", "match", "total"} <= set(verdict.timings)


def test_bytes_that_are_not_an_image_give_an_error_verdict_without_calling_the_engine(
    small: RuleSet,
) -> None:
    engine = FakeEngine()
    verdict = review(b"<html><body>hello</body></html>", engine, small, SETTINGS)
    assert verdict.decision is Decision.ERROR
    assert verdict.error is not None
    assert verdict.error.code is ErrorCode.UNSUPPORTED_FORMAT
    assert verdict.matches == ()
    assert engine.calls == 0


def test_an_engine_failure_on_one_image_is_an_ocr_failed_verdict(small: RuleSet) -> None:
    verdict = review(png(), Failing(OcrError("model choked")), small, SETTINGS)
    assert verdict.decision is Decision.ERROR
    assert verdict.error is not None
    assert verdict.error.code is ErrorCode.OCR_FAILED
    assert "model choked" in verdict.error.message


@pytest.mark.parametrize(
    "error", [OcrUnavailable("server down"), EngineUnavailable("no model folder")]
)
def test_engine_outages_and_missing_engines_are_raised_for_the_caller(
    small: RuleSet, error: Exception
) -> None:
    with pytest.raises(type(error)):
        review(png(), Failing(error), small, SETTINGS)


def test_an_image_already_read_comes_from_the_cache_without_decoding_or_ocr(
    small: RuleSet,
) -> None:
    data = png()
    cache = MemoryCache()
    first = FakeEngine([TextLine.rect("根治脱发", 0, 0, 80, 20, 0.9)])
    review(data, first, small, SETTINGS, cache)
    assert first.calls == 1
    assert len(cache.added) == 1
    (sha256, engine, version, lines, size, _seconds) = cache.added[0]
    assert (sha256, engine, version, size) == (
        hashlib.sha256(data).hexdigest(), "fake", "fake-1", (200, 80))
    assert [line.text for line in lines] == ["根治脱发"]

    again = FakeEngine([TextLine.rect("nothing to see", 0, 0, 80, 20, 0.9)])
    verdict = review(data, again, small, SETTINGS, cache)
    assert again.calls == 0
    assert verdict.decision is Decision.REJECT
    assert [m.phrase for m in verdict.matches] == ["根治"]
    assert "decode" not in verdict.timings and "ocr_cached" in verdict.timings


# ---------------------------------------------------------------- reads cut short


def test_a_truncated_read_of_clean_text_is_review_with_reason_ocr_truncated(
    small: RuleSet,
) -> None:
    engine = FakeEngine([TextLine.rect("保温杯 限时特价", 0, 0, 160, 20, None)], truncated=True)
    verdict = review(png(), engine, small, SETTINGS)
    assert verdict.decision is Decision.REVIEW
    (cut,) = verdict.matches
    assert (cut.rule, cut.reason, cut.uncertain) == ("ocr.truncated", "ocr_truncated", True)
    assert cut.text == "保温杯 限时特价"
    assert cut.box == ((0.0, 0.0), (200.0, 0.0), (200.0, 80.0), (0.0, 80.0))
    assert cut.to_dict()["reason"] == "ocr_truncated"


def test_the_same_read_complete_passes(small: RuleSet) -> None:
    engine = FakeEngine([TextLine.rect("保温杯 限时特价", 0, 0, 160, 20, None)])
    verdict = review(png(), engine, small, SETTINGS)
    assert verdict.decision is Decision.PASS
    assert verdict.matches == ()


def test_a_truncated_read_is_never_cached_so_the_image_is_read_again(small: RuleSet) -> None:
    data = png()
    cache = MemoryCache()
    cut = FakeEngine([TextLine.rect("保温杯", 0, 0, 80, 20, None)], truncated=True)
    review(data, cut, small, SETTINGS, cache)
    assert cache.added == []
    again = FakeEngine([TextLine.rect("保温杯 全网第一", 0, 0, 160, 20, 0.97)])
    verdict = review(data, again, small, SETTINGS, cache)
    assert again.calls == 1
    assert verdict.decision is Decision.REJECT
    assert len(cache.added) == 1


def test_a_reject_claim_read_before_the_cut_still_rejects(small: RuleSet) -> None:
    engine = FakeEngine([TextLine.rect("全网第一", 0, 0, 80, 20, 0.97)], truncated=True)
    verdict = review(png(), engine, small, SETTINGS)
    assert verdict.decision is Decision.REJECT
    assert [m.reason for m in verdict.matches] == [None, "ocr_truncated"]


@pytest.mark.parametrize("read", ["全网第NEW款上市", "ABC治百病 特效", "3D全网第 新品"])
def test_a_claim_whose_edge_was_lost_against_latin_letters_reaches_review_as_a_near_miss(
    read: str,
) -> None:
    from rules import load_ruleset

    ruleset = load_ruleset(SETTINGS.rules_dir)
    engine = FakeEngine([TextLine.rect(read, 0, 0, 180, 20, 0.95)])
    verdict = review(png(), engine, ruleset, SETTINGS)
    assert verdict.decision is Decision.REVIEW
    assert "ocr_near_miss" in [m.reason for m in verdict.matches]
