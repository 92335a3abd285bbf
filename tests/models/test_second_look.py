"""The second look: unsure lines are read again from their crops, and a more confident
reading replaces the first, which is kept beside it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from models.base import FakeEngine, TextLine
from models.second_look import WORKING_HEIGHT, LineReader, line_crop, second_look
from rules import Decision, RuleSet, load_ruleset
from worker.db.records import lines_from_json, lines_to_json
from worker.pipeline import review, unsure_lines
from worker.samples import render_ad
from worker.scan import MemoryCache
from worker.settings import SHIPPED_RULES_DIR, Settings


class LineReadingEngine(FakeEngine):
    """A fake engine that also reads single lines: each crop gets the next answer."""

    def __init__(self, lines: list[TextLine], answers: list[tuple[str, float] | None]) -> None:
        super().__init__(lines)
        self.answers = list(answers)
        self.crops: list[Image.Image] = []

    def read_line(self, image: Image.Image) -> tuple[str, float] | None:
        self.crops.append(image)
        return self.answers.pop(0) if self.answers else None


def frame() -> Image.Image:
    return Image.new("RGB", (400, 200), "white")


def test_a_more_confident_reading_replaces_the_first_which_is_kept() -> None:
    line = TextLine.rect("全网第", 10, 10, 130, 34, 0.62)
    engine = LineReadingEngine([line], [("全网第一", 0.97)])
    assert isinstance(engine, LineReader)
    (new,) = second_look(engine, [frame()], [line], [0])
    assert (new.text, new.score, new.first_read, new.box) == ("全网第一", 0.97, "全网第", line.box)


@pytest.mark.parametrize(
    "answer",
    [("全网第一", 0.5), ("全网第", 0.99), ("一二三四五六七八九十", 0.99), None],
)
def test_a_reading_that_is_less_sure_the_same_or_far_off_is_not_kept(
    answer: tuple[str, float] | None,
) -> None:
    line = TextLine.rect("全网第", 10, 10, 130, 34, 0.62)
    engine = LineReadingEngine([line], [answer])
    assert second_look(engine, [frame()], [line], [0]) == [line]


def test_the_crop_is_padded_and_scaled_up_to_the_working_height() -> None:
    line = TextLine.rect("小字", 100, 50, 140, 62, 0.5)
    crop = line_crop(frame(), line)
    assert crop.height == WORKING_HEIGHT and crop.width > 2 * 40  # padded, then scaled up


def test_rapidocr_reads_a_line_crop_on_its_own() -> None:
    from models.rapidocr import RapidOcrEngine

    image = render_ad(["限时特惠 全场包邮"], colours=((255, 255, 255), (20, 20, 20)),
                      size=(640, 160), text_size=40)
    engine = RapidOcrEngine(threads=1)
    (lines,) = engine.recognize([image])
    read = engine.read_line(line_crop(image, lines[0]))
    assert read is not None and read[0] == lines[0].text and 0.5 < read[1] <= 1.0


def test_unsure_lines_are_near_misses_first_then_the_least_confident() -> None:
    ruleset = load_ruleset(SHIPPED_RULES_DIR)
    lines = [
        TextLine.rect("夏季新品", 0, 0, 80, 20, 0.99),
        TextLine.rect("满199减30", 0, 30, 80, 50, 0.55),
        TextLine.rect("国货第品牌", 0, 60, 100, 80, 0.97),
        TextLine.rect("包邮", 0, 90, 40, 110, 0.7),
    ]
    settings = Settings(second_look_below=0.8, second_look_max_lines=2)
    assert unsure_lines(lines, ruleset, settings) == [2, 1]
    assert unsure_lines(lines, ruleset, Settings(second_look_max_lines=0)) == []


def test_review_looks_again_stores_both_readings_and_judges_the_second() -> None:
    ruleset: RuleSet = load_ruleset(SHIPPED_RULES_DIR)
    buffer = io.BytesIO()
    frame().save(buffer, "PNG")
    line = TextLine.rect("全网第", 10, 10, 130, 34, 0.6)
    engine = LineReadingEngine([line], [("全网第一", 0.96)])
    cache = MemoryCache()
    verdict = review(buffer.getvalue(), engine, ruleset, Settings(), cache)
    assert verdict.decision is Decision.REJECT
    assert [m.text for m in verdict.matches] == ["全网第一"]
    assert verdict.timings["second_look_lines"] == 1.0
    (stored,) = cache.get(verdict.sha256 or "", engine.name, engine.version) or []
    assert (stored.text, stored.first_read) == ("全网第一", "全网第")
    assert lines_from_json(lines_to_json([stored])) == [stored]
    # switched off, the first reading is judged: a near miss, review
    off = review(buffer.getvalue(), LineReadingEngine([line], [("全网第一", 0.96)]), ruleset,
                 Settings(second_look=False))
    assert off.decision is Decision.REVIEW
