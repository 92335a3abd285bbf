"""Read a decoded image with an OCR engine: every frame, every tile, one set of lines.

``read_image`` cuts each frame into the crops its engine wants (``plan_for``: tiles from
``models.tiling.plan_tiles`` for RapidOCR; the whole image for engines that declare a
``WholeImage``, such as HunyuanOCR, tiled only past its limits), sends the crops
to the engine in batches of at most ``MAX_BATCH`` (all crops of an ordinary image go in
one call), maps the boxes back to image pixels, merges what tiles and frames read twice,
and returns the lines in reading order. Lines of an animation carry the frame they were
read in (``TextLine.frame``, the frame's index in the file) and come frame by frame.
``read_text`` returns the same lines as a ``Reading``, ``truncated`` when an engine cut
any crop's read short (``ReadingEngine``).

Engine failures: an ``OcrError`` propagates unchanged (``OcrUnavailable`` stays
retryable); any other exception from an engine, or an answer of the wrong shape, becomes
an ``OcrError`` naming the engine, which the pipeline turns into an ``ocr_failed`` verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from PIL import Image

from models.base import OcrEngine, Reading, ReadingEngine, TextLine
from models.images import DecodedImage
from models.tiling import Rect, WholeImage, merge_lines, plan_tiles, reading_order
from worker.errors import OcrError
from worker.settings import Settings

log = logging.getLogger(__name__)

#: Most crops passed to one ``engine.recognize`` call.
MAX_BATCH = 16


@runtime_checkable
class WholeImageEngine(Protocol):
    """An engine that reads whole images (its own processor resizes them) up to limits."""

    def whole_image(self) -> WholeImage:
        """The limits past which an image is cut into tiles for this engine."""
        ...


def plan_for(engine: OcrEngine, size: tuple[int, int], settings: Settings) -> list[Rect]:
    """The crops ``engine`` gets of an image of ``size``: the whole image for engines that
    declare a ``WholeImage`` (tiled only past its limits), today's tiling for the others."""
    if isinstance(engine, WholeImageEngine):
        return engine.whole_image().plan(size, settings.tile_overlap)
    return plan_tiles(size, settings)


def read_image(engine: OcrEngine, decoded: DecodedImage, settings: Settings) -> list[TextLine]:
    """All text in ``decoded``: boxes in pixels of the original image, reading order."""
    return read_text(engine, decoded, settings).lines


def read_text(engine: OcrEngine, decoded: DecodedImage, settings: Settings) -> Reading:
    """All text in ``decoded``, and whether any crop's read was cut short (``truncated``)."""
    jobs = [
        (number, tile)
        for number, frame in enumerate(decoded.frames)
        for tile in plan_for(engine, frame.size, settings)
    ]
    animated = decoded.frame_count > 1
    pieces: list[tuple[tuple[int, int], list[TextLine]]] = []
    frames: list[int] = []
    truncated = False
    for batch in _batches(jobs, MAX_BATCH):
        crops = [_crop(decoded.frames[number], tile) for number, tile in batch]
        for (number, tile), reading in zip(batch, _recognize(engine, crops), strict=True):
            lines = reading.lines
            truncated = truncated or reading.truncated
            index = decoded.frame_indices[number]
            if animated:
                lines = [replace(line, frame=index) for line in lines]
            pieces.append(((tile[0], tile[1]), lines))
            frames.append(index)
    log.debug(
        "%s read %d frame(s) as %d crop(s)", engine.name, len(decoded.frames), len(jobs)
    )
    width, height = decoded.size
    merged = merge_lines(pieces, frames=frames)
    return Reading(reading_order([_clip(line, width, height) for line in merged]), truncated)


def _batches(
    jobs: Sequence[tuple[int, Rect]], size: int
) -> Iterator[Sequence[tuple[int, Rect]]]:
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def _crop(frame: Image.Image, tile: Rect) -> Image.Image:
    if tile == (0, 0, frame.width, frame.height):
        return frame
    return frame.crop(tile)


def _recognize(engine: OcrEngine, crops: list[Image.Image]) -> list[Reading]:
    try:
        if isinstance(engine, ReadingEngine):
            readings = engine.read(crops)
            if isinstance(readings, list) and all(isinstance(r, Reading) for r in readings):
                _check(engine, [r.lines for r in readings], crops)
                return readings
            results: object = readings
        else:
            results = engine.recognize(crops)
    except OcrError:
        raise
    except Exception as exc:
        raise OcrError(
            f"OCR engine {engine.name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return [Reading(lines) for lines in _check(engine, results, crops)]


def _check(
    engine: OcrEngine, results: object, crops: list[Image.Image]
) -> list[list[TextLine]]:
    """``results`` when it is one list of lines per crop; ``OcrError`` otherwise."""
    if not isinstance(results, list) or len(results) != len(crops):
        count = len(results) if isinstance(results, list) else type(results).__name__
        raise OcrError(
            f"OCR engine {engine.name!r} returned {count} results for {len(crops)} images"
        )
    for lines in results:
        if not isinstance(lines, list) or not all(isinstance(x, TextLine) for x in lines):
            raise OcrError(f"OCR engine {engine.name!r} returned something other than lines")
    return results


def _clip(line: TextLine, width: int, height: int) -> TextLine:
    """The line with its box kept inside the image (engines may overshoot the edge)."""
    box = tuple((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height)))
                for x, y in line.box)
    if box == line.box:
        return line
    return replace(line, box=(box[0], box[1], box[2], box[3]))
