"""The frame of animation evidence: carried from the OCR line to the evidence, stored and
read back (old stored lines and verdicts without it still load), drawn on that frame."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw

from models.base import TextLine
from rules import RuleSet, Severity
from worker.annotate import SHEET_COLUMNS, annotate
from worker.db.records import lines_from_json, lines_to_json
from worker.pipeline import judge_lines
from worker.verdict import Evidence

WHITE, RED, BLUE = (255, 255, 255), (220, 0, 0), (0, 0, 220)


def test_evidence_carries_the_frame_its_lines_were_read_in(small: RuleSet) -> None:
    lines = [replace(TextLine.rect("限时特惠根治脱发", 0, 0, 160, 20, 0.99), frame=7)]
    (evidence,) = judge_lines(lines, small).evidence
    assert evidence.frame == 7 and evidence.to_dict()["frame"] == 7
    assert Evidence.from_dict(evidence.to_dict()) == evidence


def test_a_match_over_a_line_that_stayed_on_screen_is_on_the_later_frame(small: RuleSet) -> None:
    # 全网 shows from frame 0 and is kept once, with frame 0; 第一 joins it in frame 12.
    lines = [replace(TextLine.rect("本店销量全网", 10, 10, 130, 30), frame=0),
             replace(TextLine.rect("第一好物", 10, 40, 90, 60), frame=12)]
    (evidence,) = [e for e in judge_lines(lines, small).evidence if e.phrase == "全网第一"]
    assert evidence.frame == 12


def test_evidence_of_a_still_image_has_no_frame_and_old_evidence_loads(small: RuleSet) -> None:
    (evidence,) = judge_lines([TextLine.rect("根治", 0, 0, 40, 20)], small).evidence
    assert evidence.frame is None and evidence.to_dict()["frame"] is None
    old = evidence.to_dict()
    del old["frame"]
    assert Evidence.from_dict(old) == evidence


def test_stored_lines_keep_their_frame_and_lines_stored_without_one_load() -> None:
    lines = [replace(TextLine.rect("全网第一", 0, 0, 80, 20, 0.9), frame=3),
             TextLine.rect("限时特惠", 0, 30, 80, 50, 0.8)]
    stored = json.loads(json.dumps(lines_to_json(lines)))
    assert "frame" not in stored[1]
    assert lines_from_json(stored) == lines
    old = [{"text": "全网第一", "box": [[0, 0], [80, 0], [80, 20], [0, 20]], "score": 0.9}]
    assert lines_from_json(old) == [TextLine.rect("全网第一", 0, 0, 80, 20, 0.9)]


def gif(count: int, claim_at: int) -> bytes:
    """White frames; frame ``claim_at`` has a red bar where the claim is, the others a
    blue one."""
    frames = []
    for index in range(count):
        frame = Image.new("RGB", (200, 120), WHITE)
        ImageDraw.Draw(frame).rectangle((20, 40, 180, 80), fill=RED if index == claim_at else BLUE)
        frame.putpixel((index, 119), (0, 0, 0))  # frames stay distinct
        frames.append(frame)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def evidence_at(frame: int | None) -> Evidence:
    return Evidence("medical.cure", "medical", Severity.REJECT, "根治", "根治", "根治",
                    ((20.0, 40.0), (180.0, 40.0), (180.0, 80.0), (20.0, 80.0)), frame=frame)


def colour_inside(image: Image.Image, x: int = 100, y: int = 60) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.asarray(image)[y, x])  # type: ignore[return-value]


def test_evidence_is_drawn_on_the_frame_it_was_read_in() -> None:
    data = gif(10, claim_at=6)
    drawn = annotate(data, [evidence_at(6)])
    assert drawn.size == (200, 120) and colour_inside(drawn) == RED
    # Evidence that names no frame (a still image, or stored before frames) uses the first.
    assert colour_inside(annotate(data, [evidence_at(None)])) == BLUE
    assert colour_inside(annotate(data, [])) == BLUE


def test_evidence_of_several_frames_is_drawn_on_a_sheet_of_those_frames() -> None:
    data = gif(10, claim_at=6)
    sheet = annotate(data, [evidence_at(6), evidence_at(2), evidence_at(6)])
    assert sheet.width > 2 * 200 and sheet.height > 120
    band = sheet.height - 120
    assert colour_inside(sheet, 100, band + 60) == BLUE  # frame 2 first
    assert colour_inside(sheet, sheet.width - 100, band + 60) == RED  # then frame 6
    many = annotate(data, [evidence_at(k) for k in range(SHEET_COLUMNS + 1)])
    assert many.width < (SHEET_COLUMNS + 1) * 200 and many.height > 2 * 120
