"""HunyuanOCR's spotting prompt and the parser for its replies.

Shared by the transformers engine (``models.hunyuan``) and the vLLM client
(``models.vllm``): both send the same messages and read the same text back.

With special tokens skipped a spotting reply holds the lines back to back as
``text(x1,y1),(x2,y2)``; with them kept it reads ``<ref>text</ref><quad>(x1,y1),(x2,y2)</quad>``.
Coordinates are normalised to 0-1000 whatever the image size, so they are scaled
by the *original* image's width and height here.

``RepetitionStop`` is the tail-repetition stop both engines apply while a reply grows
(Tencent's policy: eight copies of a unit of up to 256 characters at the tail, looked
for from 4,000 characters on); ``trim_repetition`` cleans what a stopped reply ends with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from models.base import Box, Point, TextLine

#: The official text-spotting prompt, used verbatim (edited prompts read worse).
SPOTTING_PROMPT = "检测并识别图片中的文字，将文本坐标格式化输出。"

#: The official plain-text prompt (no coordinates).
PLAIN_TEXT_PROMPT = "提取图中的文字。"

#: Greedy decoding with this mild penalty keeps the model out of repetition loops.
REPETITION_PENALTY = 1.08

#: The range the model's coordinates are normalised to.
COORDINATE_SCALE = 1000.0

_NUM = r"\s*(\d{1,12}(?:\.\d{1,6})?)\s*"
_POINT = rf"\({_NUM},{_NUM}\)"
# Two corners, or a four-point quad; items follow each other with no separator.
_BOX_RE = re.compile(rf"{_POINT}\s*,\s*{_POINT}(?:\s*,\s*{_POINT}\s*,\s*{_POINT})?")
_POINT_RE = re.compile(_POINT)
_TAGGED_RE = re.compile(r"<ref>(.*?)</ref>\s*<quad>(.*?)</quad>", re.DOTALL)
_TAG_RE = re.compile(r"</?(?:ref|quad)>")

_NO_TEXT_RE = re.compile(
    r"^(?:图中|图片中|图像中|该图片?|这张图片?)?(?:没有|无|未(?:检测|识别)到|不含|不包含)"
    r"(?:任何|可识别的?|可见的?)?(?:的)?(?:文字|文本|字)(?:内容|信息)?[。.!！]?$"
    r"|^no (?:visible |readable |recognizable )?text"
    r"(?: (?:found|detected|in (?:the|this) image))?\.?$"
    r"|^(?:none|n/a|null)\.?$",
    re.IGNORECASE,
)


def build_messages(
    image_part: dict[str, Any], prompt: str = SPOTTING_PROMPT
) -> list[dict[str, Any]]:
    """The official message structure: an empty system message, then one user message
    holding the image first and the text prompt second.

    ``image_part`` is the backend's image item, e.g. ``{"type": "image", "image": pil_image}``
    for a transformers processor or ``{"type": "image_url", "image_url": {"url": data_url}}``
    for an OpenAI-compatible server.
    """
    return [
        {"role": "system", "content": ""},
        {"role": "user", "content": [image_part, {"type": "text", "text": prompt}]},
    ]


def is_no_text_reply(text: str) -> bool:
    """Whether a reply says the image holds no text (an empty reply counts)."""
    stripped = _TAG_RE.sub("", text).strip()
    return not stripped or _NO_TEXT_RE.match(stripped) is not None


def _scale(point: tuple[str, str], width: int, height: int) -> Point:
    """One 0-1000 point in pixels of a ``width`` x ``height`` image, clamped to it."""
    w = float(max(width, 0))
    h = float(max(height, 0))
    x = float(point[0]) * w / COORDINATE_SCALE
    y = float(point[1]) * h / COORDINATE_SCALE
    return min(max(x, 0.0), w), min(max(y, 0.0), h)


def _box(numbers: list[str], width: int, height: int) -> Box | None:
    """A box from 4 numbers (two corners) or 8 numbers (a quad); None otherwise."""
    points = [
        _scale((numbers[i], numbers[i + 1]), width, height) for i in range(0, len(numbers) - 1, 2)
    ]
    if len(points) == 2:
        (xa, ya), (xb, yb) = points
        x0, x1 = min(xa, xb), max(xa, xb)
        y0, y1 = min(ya, yb), max(ya, yb)
        return (x0, y0), (x1, y0), (x1, y1), (x0, y1)
    if len(points) == 4:
        return points[0], points[1], points[2], points[3]
    return None


def _line(text: str, numbers: list[str], width: int, height: int) -> TextLine | None:
    text = text.strip()
    box = _box(numbers, width, height)
    if not text or box is None:
        return None
    return TextLine(text, box, None)


def _parse_tagged(text: str, width: int, height: int) -> list[TextLine]:
    lines = []
    for match in _TAGGED_RE.finditer(text):
        numbers = [n for point in _POINT_RE.findall(match.group(2)) for n in point]
        line = _line(_TAG_RE.sub("", match.group(1)), numbers, width, height)
        if line is not None:
            lines.append(line)
    return lines


def _parse_plain(text: str, width: int, height: int) -> list[TextLine]:
    lines = []
    start = 0
    for match in _BOX_RE.finditer(text):
        numbers = [n for n in match.groups() if n is not None]
        line = _line(text[start : match.start()], numbers, width, height)
        if line is not None:
            lines.append(line)
        start = match.end()
    # Whatever follows the last complete box is a line cut short by the token cap
    # (or chatter): it has no box, so it is dropped.
    return lines


def parse_spotting(text: str, width: int, height: int) -> list[TextLine]:
    """The lines of a spotting reply, boxes in pixels of the ``width`` x ``height`` image.

    Accepts both output forms, keeps parentheses that belong to the text
    (``金额(小写)(12,30),(400,60)`` reads ``金额(小写)``), tolerates newlines between
    items, and drops a malformed or truncated tail without losing the lines before it.
    Two points give an axis-aligned rectangle; four points are kept as a quad. Every
    point is clamped to the image. A "no text" reply gives no lines. Scores are None:
    the model reports no confidence. Never raises on any ``text``.
    """
    if "<ref>" in text and "<quad>" in text:
        lines = _parse_tagged(text, width, height)
        if lines:
            return lines
    return _parse_plain(_TAG_RE.sub("", text), width, height)


def _periodic_suffix(text: str, period: int) -> int:
    """Length of the longest suffix of ``text`` that repeats with ``period``."""
    n = len(text)
    i = n - period
    while i - period >= 0 and text[i - period : i] == text[i : i + period]:
        i -= period
    while i > 0 and text[i - 1] == text[i - 1 + period]:
        i -= 1
    return n - i


def _is_unit_end(text: str, cut: int) -> bool:
    """Whether ``text[:cut]`` ends where an output item naturally ends."""
    last = text[cut - 1]
    following = text[cut] if cut < len(text) else ""
    if last == "\n":
        return True
    if text.endswith("</quad>", 0, cut):
        return True
    return last == ")" and following not in {",", "(", "<", ")"}


def trim_repetition(
    text: str, *, min_repeats: int = 4, min_span: int = 32, max_unit: int = 1024
) -> str:
    """Cut runaway repetition at the end of a reply, keeping one copy of the repeated unit.

    A stuck greedy decode repeats the same item (or character, or line) until the token
    cap, often ending mid-item. When the end of ``text`` repeats a unit of up to
    ``max_unit`` characters at least ``min_repeats`` times over at least ``min_span``
    characters, everything after the first whole copy is dropped. Where the copy starts
    is ambiguous when text before the loop happens to match its tail, so the cut is put
    where an item naturally ends (a newline or a closing coordinate group) if possible.
    """
    n = len(text)
    best_span = 0
    best_period = 0
    for period in range(1, min(max_unit, n // min_repeats) + 1):
        span = _periodic_suffix(text, period)
        if span >= min_span and span >= min_repeats * period and span > best_span:
            best_span, best_period = span, period
    if not best_period:
        return text
    start = n - best_span
    window = range(start + best_period, min(start + 2 * best_period, n + 1))
    cut = next((c for c in window if _is_unit_end(text, c)), start + best_period)
    return text[:cut]


#: A reply whose tail is the same unit this many times over is stuck (Tencent's stop).
REPEAT_STOP_REPEATS = 8

#: Longest repeated unit, in characters, the stop looks for.
REPEAT_STOP_MAX_UNIT = 256

#: The stop first looks once a reply is this many characters long, then every
#: ``REPEAT_STOP_EVERY`` characters more, at its last ``REPEAT_STOP_WINDOW`` characters:
#: short replies are never stopped (a dotted leader or 哈哈哈 is text, not a loop).
REPEAT_STOP_FROM = 4000
REPEAT_STOP_EVERY = 1000
REPEAT_STOP_WINDOW = 8000


def repeats_at_tail(
    text: str, *, min_repeats: int = REPEAT_STOP_REPEATS, max_unit: int = REPEAT_STOP_MAX_UNIT
) -> bool:
    """Whether ``text`` ends in ``min_repeats`` back-to-back copies of one unit of at most
    ``max_unit`` characters that is not only whitespace."""
    n = len(text)
    for period in range(1, min(max_unit, n // max(min_repeats, 1)) + 1):
        unit = text[n - period :]
        if unit.strip() and text.endswith(unit * min_repeats):
            return True
    return False


@dataclass
class RepetitionStop:
    """Decides, as a reply grows, when greedy decoding is stuck repeating itself.

    ``check(text)`` is given the whole reply so far, as often as convenient; it looks at
    the tail only once the reply has reached the next checkpoint (``start``, then every
    ``every`` characters), so it costs little however often it is called. Once it has
    said stop it keeps saying so.
    """

    min_repeats: int = REPEAT_STOP_REPEATS
    start: int = REPEAT_STOP_FROM
    every: int = REPEAT_STOP_EVERY
    window: int = REPEAT_STOP_WINDOW
    max_unit: int = REPEAT_STOP_MAX_UNIT
    stopped: bool = False
    _next: int | None = None

    def due(self, length: int) -> bool:
        """Whether a reply of ``length`` characters has reached the next checkpoint (or
        the stop has fired): cheap, so a caller can build the text only when it is."""
        return self.stopped or length >= (self.start if self._next is None else self._next)

    def check(self, text: str) -> bool:
        """True when the reply so far ends in a loop and generation should stop."""
        if self.stopped:
            return True
        next_at = self.start if self._next is None else self._next
        if len(text) < next_at:
            return False
        self._next = len(text) + self.every
        tail = text[-self.window :]
        self.stopped = repeats_at_tail(tail, min_repeats=self.min_repeats,
                                       max_unit=self.max_unit)
        return self.stopped

    def describe(self) -> str:
        """The settings, as they enter an engine version."""
        return f"repeat_stop={self.min_repeats}x{self.max_unit}@{self.start}+{self.every}"
