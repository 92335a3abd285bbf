"""Labels of the drawn evidence never hide a match: every matched text stays as it was,
however closely the matches lie (claims on neighbouring lines, as on a banner)."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from rules.schema import Severity
from worker.annotate import annotate
from worker.verdict import Evidence


def noise(size: tuple[int, int], seed: int) -> Image.Image:
    """An image whose every pixel differs from its neighbours, so any paint shows."""
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))


def match(x0: float, y0: float, x1: float, y1: float, rule: str) -> Evidence:
    box = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return Evidence(rule, "absolute", Severity.REJECT, "全网第一", "全 网 第 一", "全 网 第 一",
                    box, 0.9)


@pytest.mark.parametrize(
    "boxes",
    [
        # three claims on lines right under each other, as on the demo's evasion banner
        [(100, 100, 700, 190), (150, 200, 650, 250), (150, 260, 650, 310)],
        # side by side on one line, and one just above them
        [(40, 300, 380, 350), (420, 300, 760, 350), (200, 240, 600, 290)],
        # a claim at the very top and one at the very bottom edge
        [(10, 0, 790, 40), (10, 760, 790, 800), (300, 380, 500, 420)],
    ],
)
def test_no_label_covers_any_matched_text(boxes: list[tuple[int, int, int, int]]) -> None:
    original = noise((800, 800), seed=len(boxes))
    data = io.BytesIO()
    original.save(data, format="PNG")
    evidence = [match(*box, rule=f"absolute.rule-{i}") for i, box in enumerate(boxes)]

    drawn = annotate(data.getvalue(), evidence)

    outline = max(2, round(800 / 250))
    for x0, y0, x1, y1 in boxes:
        inside = (x0 + outline + 1, y0 + outline + 1, x1 - outline - 1, y1 - outline - 1)
        assert drawn.crop(inside).tobytes() == original.crop(inside).tobytes(), (x0, y0)
