"""A second look: lines the first reading is unsure of are read again from their crop.

The first reading works on whole images or tiles. A line read with low confidence, or one
that reads as a banned claim with one character dropped or confused (a near miss), often
reads right when its crop is read on its own: padded, upscaled to the recogniser's working
height, contrast-stretched, with detection skipped. ``second_look`` does that for the lines
it is given, through an engine that can read a single line (``LineReader``; RapidOCR can,
a VLM engine has no such mode and is left as it read), and keeps the new reading when the
recogniser is more confident of it. A line that changed keeps its first reading in
``TextLine.first_read``, so what the second look did is stored with the OCR result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from PIL import Image, ImageOps

from models.base import TextLine
from models.tiling import direction

log = logging.getLogger(__name__)

#: The height (pixels) a line crop is scaled up to; PP-OCR recognises at 48.
WORKING_HEIGHT = 48
#: Padding around a line's box, as a share of its height.
PADDING = 0.25


@runtime_checkable
class LineReader(Protocol):
    """An engine that can recognise one line of text without detecting it first."""

    def read_line(self, image: Image.Image) -> tuple[str, float] | None:
        """The text and score of ``image`` read as one line, or None."""
        ...


#: How far to turn (counter-clockwise degrees) the crop of a line running each way
#: (``models.tiling.Direction``) so that it reads left to right.
_UPRIGHT = {(0, 1): 0, (0, -1): 180, (1, 1): 90, (1, -1): -90}


def line_crop(frame: Image.Image, line: TextLine) -> Image.Image:
    """The line's box on ``frame``, padded, turned to read left to right (a vertical or
    upside-down line), scaled up to ``WORKING_HEIGHT`` and contrast-stretched, ready to
    be recognised on its own."""
    x0, y0, x1, y1 = line.bounds()
    pad = max(2.0, ((x1 - x0) if line.is_vertical() else (y1 - y0)) * PADDING)
    box = (
        max(0, int(x0 - pad)), max(0, int(y0 - pad)),
        min(frame.width, int(x1 + pad) + 1), min(frame.height, int(y1 + pad) + 1),
    )
    crop = frame.crop(box).convert("RGB")
    turn = _UPRIGHT[direction(line)]
    if turn:
        crop = crop.rotate(turn, expand=True)
    if crop.height and crop.height < WORKING_HEIGHT:
        scale = WORKING_HEIGHT / crop.height
        crop = crop.resize((max(1, round(crop.width * scale)), WORKING_HEIGHT),
                           Image.Resampling.LANCZOS)
    return ImageOps.autocontrast(crop, cutoff=1)


def second_look(
    engine: LineReader,
    frames: Sequence[Image.Image] | Mapping[int, Image.Image],
    lines: Sequence[TextLine],
    indices: Iterable[int],
) -> list[TextLine]:
    """``lines`` with each of ``indices`` read again from its crop; a new reading replaces
    the first when it is more confident and about as long (one or two characters gained
    or lost, as OCR drops or adds them). ``frames`` holds the image's frames: in order,
    or by their index in the file (an animation's lines name theirs, ``TextLine.frame``)."""
    out = list(lines)
    for index in indices:
        line = out[index]
        number = line.frame or 0
        if isinstance(frames, Mapping):
            frame = frames[number] if number in frames else next(iter(frames.values()))
        else:
            frame = frames[min(number, len(frames) - 1)]
        crop = line_crop(frame, line)
        if crop.width < 4 or crop.height < 4:
            continue
        read = engine.read_line(crop)
        if read is None:
            continue
        text, score = read
        if text == line.text or abs(len(text) - len(line.text)) > 2:
            continue
        if line.score is not None and score <= line.score:
            continue
        log.debug("second look: %r (%.2f) -> %r (%.2f)", line.text, line.score or 0, text, score)
        out[index] = replace(line, text=text, score=score, first_read=line.text)
    return out
