"""The OCR engine protocol, the line type every engine returns, and a fake for tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image

Point = tuple[float, float]
Box = tuple[Point, Point, Point, Point]


@dataclass(frozen=True)
class TextLine:
    """One line of text an engine read.

    ``box`` holds four (x, y) points - top-left, top-right, bottom-right, bottom-left of
    the text as it reads, so the first two run along the text (a line read top to bottom
    starts at the image's top right) - in pixels of the original image; ``score`` is the
    engine's confidence in [0, 1], or None when the engine gives none. ``first_read`` is
    the text the engine first read when a second look at the line's crop changed it (see
    ``models.second_look``). ``frame`` is the animation frame the line was read in (its
    index in the file, 0 first); None for a still image.
    """

    text: str
    box: Box
    score: float | None = None
    first_read: str | None = None
    frame: int | None = None

    @staticmethod
    def rect(
        text: str, x0: float, y0: float, x1: float, y1: float, score: float | None = None
    ) -> TextLine:
        """A line whose box is the axis-aligned rectangle (x0, y0)-(x1, y1)."""
        return TextLine(text, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), score)

    def bounds(self) -> tuple[float, float, float, float]:
        """The axis-aligned bounding rectangle (x0, y0, x1, y1) of the box."""
        xs = [p[0] for p in self.box]
        ys = [p[1] for p in self.box]
        return min(xs), min(ys), max(xs), max(ys)

    def is_vertical(self) -> bool:
        """Whether the text runs up or down the image rather than across it."""
        (x0, y0), (x1, y1) = self.box[0], self.box[1]
        return abs(y1 - y0) > abs(x1 - x0)


@dataclass(frozen=True)
class Reading:
    """What an engine read in one image: its lines, and whether the read was cut short.

    ``truncated`` is set when generation stopped before the model finished: at the cap on
    new tokens, or stopped for repeating itself. The lines before the cut are kept, but
    text after it was never read, so such a reading is never taken as complete.
    """

    lines: list[TextLine]
    truncated: bool = False


@runtime_checkable
class OcrEngine(Protocol):
    """What every OCR backend provides.

    ``name`` selects the engine in settings; ``version`` identifies the model and code
    so stored OCR results can be keyed by it. ``recognize`` takes a batch of RGB
    images and returns, per image, its lines in reading order.
    """

    name: str
    version: str

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        """Read every image of the batch."""
        ...


@runtime_checkable
class ReadingEngine(Protocol):
    """An engine whose reads can be cut short (a generative model): ``read`` says so."""

    def read(self, images: Sequence[Image.Image]) -> list[Reading]:
        """Read every image of the batch, each with whether its read was cut short."""
        ...


class FakeEngine:
    """An engine for tests: returns the lines a callable (or a fixed list) gives per image.

    With ``truncated`` every read is reported cut short, as a generative engine's read
    that hit its token cap is.
    """

    name = "fake"
    version = "fake-1"

    def __init__(
        self,
        lines: list[TextLine] | Callable[[Image.Image], list[TextLine]] | None = None,
        *,
        truncated: bool = False,
    ) -> None:
        self._lines = lines if lines is not None else []
        self.truncated = truncated
        self.calls = 0

    def read(self, images: Sequence[Image.Image]) -> list[Reading]:
        """``recognize``'s lines, each reading marked ``truncated`` as configured."""
        return [Reading(lines, self.truncated) for lines in self.recognize(images)]

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        """Answer every image with the configured lines, counting the calls."""
        self.calls += 1
        if callable(self._lines):
            return [self._lines(image) for image in images]
        return [list(self._lines) for _ in images]
