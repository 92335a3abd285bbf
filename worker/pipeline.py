"""The review itself: image bytes in, verdict out. No Celery and no database in here.

``review(data, engine, ruleset)`` decodes the image safely, reads its text (or takes it
from an OCR cache keyed by the image hash), joins the lines in reading order so that a
phrase broken across two lines is still found, matches the rule set, and ties every
match back to the line(s) and the box it came from. The CLI ``scan``, the Celery task
and the HTTP API are thin shells around it.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from models.base import Box, OcrEngine, TextLine
from models.second_look import LineReader, second_look
from rules import RuleSet
from rules.engine import Match, UnknownIndustry, decide
from rules.schema import Decision, Severity
from worker.errors import EngineUnavailable, ErrorCode, ImageError, OcrError, OcrUnavailable
from worker.settings import Settings, get_settings
from worker.verdict import Evidence, Verdict, VerdictError

log = logging.getLogger(__name__)

LINE_SEPARATOR = "\n"

#: Why a reject match counts as review: its lines were read with low OCR confidence.
LOW_CONFIDENCE = "low_confidence"

#: Why an image goes to review although no rule may have fired: its OCR was cut short
#: (the model hit its token cap or was stopped repeating itself), so text went unread.
OCR_TRUNCATED = "ocr_truncated"

#: The evidence item's rule id for a cut-short read.
TRUNCATED_RULE = "ocr.truncated"


class OcrCache(Protocol):
    """Where OCR results are kept by image hash, so an image is never read twice."""

    def get(self, sha256: str, engine: str, version: str) -> list[TextLine] | None:
        """The stored lines, or None when this engine version has not read the image."""
        ...

    def put(self, sha256: str, engine: str, version: str, lines: list[TextLine],
            size: tuple[int, int], seconds: float) -> None:
        """Keep the lines the engine read."""
        ...


@dataclass(frozen=True)
class Judged:
    """What the rule set made of a list of OCR lines."""

    decision: Decision
    evidence: tuple[Evidence, ...]


def review(
    data: bytes,
    engine: OcrEngine,
    ruleset: RuleSet,
    settings: Settings | None = None,
    cache: OcrCache | None = None,
    industry: str | None = None,
) -> Verdict:
    """Review one image. Bad images give an ``error`` verdict; engine trouble raises.

    ``OcrUnavailable`` (an OCR server down) propagates so that the caller can retry, and
    ``EngineUnavailable`` (a missing model or package) so that a misconfigured worker
    stops instead of failing every image; every other failure to process the image ends
    in an ``error`` verdict with a stable code.

    ``industry`` is the ad's declared industry (None: every rule applies). One the rule
    set does not declare (it changed after the ad was submitted) ends in an
    ``unknown_industry`` error verdict; the OCR is cached first, so a rescan can judge
    the ad once the industry is declared again.
    """
    from models.images import decode_image
    from models.reader import read_text

    settings = settings or get_settings()
    sha256 = hashlib.sha256(data).hexdigest()
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def failed(code: ErrorCode, message: str) -> Verdict:
        timings["total"] = time.perf_counter() - started
        return Verdict.failed(VerdictError(code, message), ruleset=ruleset.version,
                              engine=engine.name, engine_version=engine.version,
                              sha256=sha256, timings=timings, industry=industry)

    lines = cache.get(sha256, engine.name, engine.version) if cache is not None else None
    truncated_size: tuple[int, int] | None = None
    if lines is None:
        try:
            decoded = decode_image(data, settings)
        except ImageError as exc:
            return failed(exc.code, exc.message)
        timings["decode"] = time.perf_counter() - started
        ocr_started = time.perf_counter()
        try:
            reading = read_text(engine, decoded, settings)
        except (OcrUnavailable, EngineUnavailable):
            raise
        except OcrError as exc:
            log.warning("OCR failed on image %s: %s", sha256[:12], exc)
            return failed(exc.code, str(exc))
        timings["ocr"] = time.perf_counter() - ocr_started
        lines = reading.lines
        if reading.truncated:
            truncated_size = decoded.size
        if settings.second_look and isinstance(engine, LineReader):
            look_started = time.perf_counter()
            unsure = unsure_lines(lines, ruleset, settings, industry)
            if unsure:
                try:
                    frames = dict(zip(decoded.frame_indices, decoded.frames, strict=True))
                    lines = second_look(engine, frames, lines, unsure)
                except OcrError as exc:
                    log.warning("second look failed on image %s: %s", sha256[:12], exc)
            timings["second_look"] = time.perf_counter() - look_started
            timings["second_look_lines"] = float(len(unsure))
        if truncated_size is not None:
            # Text after the cut was never read: keeping these lines as the image's OCR
            # would let a claim past the cut pass on every later judgement.
            log.warning("OCR of image %s was cut short; not kept as complete", sha256[:12])
        elif cache is not None:
            cache.put(sha256, engine.name, engine.version, lines, decoded.size, timings["ocr"])
    else:
        timings["ocr_cached"] = 1.0
    match_started = time.perf_counter()
    try:
        judged = judge_lines(lines, ruleset, settings.min_match_confidence, industry,
                             near_miss=settings.near_miss)
    except UnknownIndustry as exc:
        return failed(ErrorCode.UNKNOWN_INDUSTRY, str(exc))
    if truncated_size is not None:
        judged = with_truncation(judged, lines, truncated_size)
    timings["match"] = time.perf_counter() - match_started
    timings["total"] = time.perf_counter() - started
    return Verdict(judged.decision, judged.evidence, ruleset.version, engine.name,
                   engine.version, sha256, None, timings, industry=industry)


def with_truncation(
    judged: Judged, lines: Sequence[TextLine], size: tuple[int, int]
) -> Judged:
    """``judged`` for an image whose OCR was cut short: never ``pass``.

    An evidence item with reason ``ocr_truncated`` (rule ``ocr.truncated``, over the whole
    image, the last line read as its text) sends the ad to review; a reject claim read
    before the cut still rejects.
    """
    width, height = size
    last = lines[-1].text if lines else ""
    cut = Evidence(
        rule=TRUNCATED_RULE,
        category="ocr",
        severity=Severity.REVIEW,
        phrase="",
        text=last,
        line=last,
        box=((0.0, 0.0), (float(width), 0.0), (float(width), float(height)),
             (0.0, float(height))),
        uncertain=True,
        reason=OCR_TRUNCATED,
    )
    evidence = (*judged.evidence, cut)
    severities = [Severity.REVIEW if e.uncertain else e.severity for e in evidence]
    return Judged(decide(severities), evidence)


def judge_lines(
    lines: Sequence[TextLine], ruleset: RuleSet, min_confidence: float = 0.0,
    industry: str | None = None, *, near_miss: bool = True,
) -> Judged:
    """Match the lines (joined in the order given) and tie each match to its lines and box.

    A ``reject`` match whose lines were read with confidence below ``min_confidence``
    counts as ``review``: the evidence is too uncertain to refuse an ad on (``reason``
    ``low_confidence``). With ``near_miss``, claims OCR read with one character dropped or
    confused are evidence too, always uncertain (``reason`` ``ocr_near_miss``). ``industry``
    picks the rules that apply (None: all); one the rule set does not declare raises
    ``UnknownIndustry``.
    """
    joined, starts = _joined(lines)
    evidence = [_evidence(m, lines, starts, min_confidence)
                for m in ruleset.match(joined, industry, near_miss=near_miss)]
    severities = [Severity.REVIEW if e.uncertain else e.severity for e in evidence]
    return Judged(decide(severities), tuple(evidence))


def _joined(lines: Sequence[TextLine]) -> tuple[str, list[int]]:
    """The lines' texts joined in order, and where each starts in the joined text."""
    starts: list[int] = []
    position = 0
    for line in lines:
        starts.append(position)
        position += len(line.text) + len(LINE_SEPARATOR)
    return LINE_SEPARATOR.join(line.text for line in lines), starts


def unsure_lines(
    lines: Sequence[TextLine], ruleset: RuleSet, settings: Settings,
    industry: str | None = None,
) -> list[int]:
    """The lines worth a second look, most telling first, at most
    ``settings.second_look_max_lines``: those holding a near-miss claim, then those read
    with confidence below ``settings.second_look_below`` (least confident first)."""
    near: set[int] = set()
    if settings.near_miss and lines:
        joined, starts = _joined(lines)
        try:
            matches = ruleset.match(joined, industry, near_miss=True)
        except UnknownIndustry:
            matches = []
        for match in matches:
            if match.reason is not None:
                near.update(_lines_of(match, starts))
    low = sorted(
        (i for i, line in enumerate(lines)
         if line.score is not None and line.score < settings.second_look_below),
        key=lambda i: lines[i].score or 0.0,
    )
    ordered = [*sorted(near), *(i for i in low if i not in near)]
    return ordered[: settings.second_look_max_lines]


def _lines_of(match: Match, starts: list[int]) -> range:
    """The indices of the lines a match of the joined text lies on."""
    first = bisect.bisect_right(starts, match.start) - 1
    last = bisect.bisect_right(starts, match.end - 1) - 1
    return range(first, last + 1)


def _evidence(
    match: Match, lines: Sequence[TextLine], starts: list[int], min_confidence: float
) -> Evidence:
    boxes: list[Box] = []
    texts: list[str] = []
    scores: list[float] = []
    # A match over lines of several frames shows whole in the latest: lines that stay on
    # screen are kept once, with the frame they first appeared in.
    frames: list[int] = []
    for index in _lines_of(match, starts):
        line = lines[index]
        begin = max(match.start - starts[index], 0)
        end = min(match.end - starts[index], len(line.text))
        if begin >= end:
            continue
        boxes.append(sub_box(line.box, begin, end, len(line.text)))
        texts.append(line.text)
        if line.score is not None:
            scores.append(line.score)
        if line.frame is not None:
            frames.append(line.frame)
    score = min(scores) if scores else None
    reason = match.reason
    if reason is None and (
        match.severity is Severity.REJECT and score is not None and score < min_confidence
    ):
        reason = LOW_CONFIDENCE
    return Evidence(
        rule=match.rule,
        category=match.category,
        severity=match.severity,
        phrase=match.phrase,
        text=match.text,
        line=LINE_SEPARATOR.join(texts),
        box=boxes[0] if len(boxes) == 1 else _union(boxes),
        score=score,
        uncertain=reason is not None,
        reason=reason,
        frame=max(frames) if frames else None,
    )


def sub_box(box: Box, begin: int, end: int, length: int) -> Box:
    """The part of a line's box holding characters ``[begin, end)`` of ``length``.

    Interpolates along the line's own direction (top-left -> top-right), so rotated lines
    get rotated sub-boxes. Assumes evenly spaced characters, which holds well for CJK.
    """
    if length <= 0:
        return box
    t0, t1 = begin / length, end / length
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = box

    def along(ax: float, ay: float, bx: float, by: float, t: float) -> tuple[float, float]:
        return ax + (bx - ax) * t, ay + (by - ay) * t

    return (
        along(x0, y0, x1, y1, t0),
        along(x0, y0, x1, y1, t1),
        along(x3, y3, x2, y2, t1),
        along(x3, y3, x2, y2, t0),
    )


def _union(boxes: list[Box]) -> Box:
    xs = [x for box in boxes for x, _ in box]
    ys = [y for box in boxes for _, y in box]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
