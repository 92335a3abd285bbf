"""A fake OCR for geometry tests: "text" is drawn as solid rectangles that encode it.

Each ``Label`` is painted with red = its id and green/blue = the x position within the
label (16 bits), so the fake reader can tell, from a crop alone, exactly which part of
a label it sees. It answers like a real engine on a cut line: the characters wholly
visible across the line, and only a prefix of those when the line is cut top or bottom.
Boxes are the visible pixels, in crop coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.base import TextLine

WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Label:
    """A line of "text" drawn at ``box`` (x0, y0, x1, y1) in the image; ``ident`` 1-250."""

    ident: int
    text: str
    box: tuple[int, int, int, int]

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def draw(size: tuple[int, int], labels: Sequence[Label]) -> Image.Image:
    """A white RGB image with every label painted in."""
    pixels = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
    for label in labels:
        x0, y0, x1, y1 = label.box
        position = np.arange(label.width, dtype=np.uint16)
        pixels[y0:y1, x0:x1, 0] = label.ident
        pixels[y0:y1, x0:x1, 1] = (position >> 8).astype(np.uint8)[None, :]
        pixels[y0:y1, x0:x1, 2] = (position & 0xFF).astype(np.uint8)[None, :]
    return Image.fromarray(pixels)


def reader(labels: Sequence[Label]) -> Callable[[Image.Image], list[TextLine]]:
    """The callable for ``FakeEngine``: reads the labels visible in one crop."""
    by_id = {label.ident: label for label in labels}

    def read(image: Image.Image) -> list[TextLine]:
        pixels = np.asarray(image.convert("RGB"))
        lines = []
        for ident, label in by_id.items():
            ys, xs = np.nonzero(pixels[:, :, 0] == ident)
            if not len(xs):
                continue
            x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
            left = int(pixels[y0, x0, 1]) * 256 + int(pixels[y0, x0, 2])
            right = int(pixels[y0, x1 - 1, 1]) * 256 + int(pixels[y0, x1 - 1, 2]) + 1
            count = len(label.text)
            text = label.text[math.ceil(count * left / label.width) : count * right // label.width]
            if y1 - y0 < label.height:
                text = text[: max(1, len(text) * (y1 - y0) // label.height)]
            if text:
                lines.append(TextLine.rect(text, x0, y0, x1, y1, 0.9))
        return lines

    return read
