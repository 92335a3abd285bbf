"""Evidence drawn on the ad: every match boxed and labelled, for reviewers who would
rather look than read.

Each match is drawn on the frame it was read in (``Evidence.frame``): the evidence of an
animation is never drawn over another frame's text. ``adreview annotate``, the API's
annotated image and the review page all draw through ``annotate``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from rules.schema import Severity
from worker.errors import ConfigError
from worker.settings import Settings, get_settings
from worker.verdict import Evidence

#: Box colours by how the match counts: red rejects, amber needs a person.
COLOURS = {"reject": (220, 30, 30), "review": (235, 150, 0)}

#: At most this many frames side by side when evidence lies on several frames.
SHEET_COLUMNS = 4
#: The caption band above each frame of a sheet, and its colours.
CAPTION_COLOURS = ((40, 40, 40), (255, 255, 255))

#: CJK fonts to label with, most preferred first (Debian: fonts-noto-cjk, fonts-wqy-zenhei).
LABEL_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in LABEL_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def annotate(
    data: bytes, evidence: Sequence[Evidence], settings: Settings | None = None
) -> Image.Image:
    """The image (EXIF orientation applied, RGB) with each match outlined and labelled.

    Decoding goes through the same safe path as a review (size limits, typed errors).
    Each match is drawn on the frame it was read in: a still image, or an animation whose
    evidence all lies on one frame, comes back as that frame (the first when there is no
    evidence, or it names no frame); evidence from several frames comes back as a sheet
    of those frames in order, at most ``SHEET_COLUMNS`` to a row, each under a caption
    naming its frame.
    """
    from models.images import decode_image

    settings = settings or get_settings()
    by_frame: dict[int, list[Evidence]] = {}
    for item in evidence:
        by_frame.setdefault(item.frame or 0, []).append(item)
    if len(by_frame) <= 1:
        number = next(iter(by_frame), 0)
        image = decode_image(data, settings, frame=number).frames[0].copy()
        return _draw(image, evidence)
    drawn = []
    for number in sorted(by_frame):
        decoded = decode_image(data, settings, frame=number)
        image = _draw(decoded.frames[0].copy(), by_frame[number])
        drawn.append((decoded.frame_indices[0], image))
    return _sheet(drawn)


def _sheet(frames: Sequence[tuple[int, Image.Image]]) -> Image.Image:
    """Frames side by side, in rows of at most ``SHEET_COLUMNS``, each under its caption."""
    width = max(image.width for _, image in frames)
    height = max(image.height for _, image in frames)
    font = _font(max(14, round(min(width, height) / 24)))
    left, top, _, bottom = (round(v) for v in font.getbbox("frame 0"))
    band = (bottom - top) + 2 * max(4, (bottom - top) // 3)
    gap = max(4, width // 100)
    columns = min(SHEET_COLUMNS, len(frames))
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (columns * width + (columns - 1) * gap,
                              rows * (band + height) + (rows - 1) * gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for place, (number, image) in enumerate(frames):
        x = (place % columns) * (width + gap)
        y = (place // columns) * (band + height + gap)
        draw.rectangle((x, y, x + width - 1, y + band - 1), fill=CAPTION_COLOURS[0])
        draw.text((x + band // 3 - left, y + (band - (bottom - top)) // 2 - top),
                  f"frame {number}", fill=CAPTION_COLOURS[1], font=font)
        sheet.paste(image, (x, y + band))
    return sheet


def _draw(image: Image.Image, evidence: Sequence[Evidence]) -> Image.Image:
    """``image`` with each match of ``evidence`` outlined and labelled (drawn in place)."""
    draw = ImageDraw.Draw(image)
    width = max(2, round(min(image.size) / 250))
    font = _font(max(12, round(min(image.size) / 28)))
    boxes = [[(float(x), float(y)) for x, y in item.box] for item in evidence]
    # Every box is known before any label is placed: a label covers no matched text.
    taken: list[Rect] = [_bounds(points) for points in boxes]
    labels: list[tuple[Rect, str, tuple[int, int, int], tuple[float, float]]] = []
    for item, points in zip(evidence, boxes, strict=True):
        counts = "review" if item.uncertain or item.severity is Severity.REVIEW else "reject"
        colour = COLOURS[counts]
        draw.polygon(points, outline=colour, width=width)
        label = f"{item.rule}: {item.phrase}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        size = (right - left + 2 * width, bottom - top + 2 * width)
        spot = _label_spot(points, size, image.size, taken)
        taken.append(spot)
        labels.append((spot, label, colour, (left, top)))
    # Labels after every box, so that no outline crosses a label.
    for (x0, y0, x1, y1), label, colour, (left, top) in labels:
        draw.rectangle((x0, y0, x1, y1), fill=colour)
        draw.text((x0 + width - left, y0 + width - top), label, fill=(255, 255, 255), font=font)
    return image


Rect = tuple[float, float, float, float]


def _bounds(points: list[tuple[float, float]]) -> Rect:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _label_spot(
    points: list[tuple[float, float]],
    size: tuple[float, float],
    image_size: tuple[int, int],
    taken: list[Rect],
) -> Rect:
    """Where a label of ``size`` goes: always inside the image, over no box and no earlier
    label (``taken``) when any such place is left, preferring just above its box, then
    just below, then further away, aligned with the box's left edge, then its right one.
    Where every place covers something, the one covering the least box area wins."""
    w, h = size
    x0, y0, x1, y1 = _bounds(points)
    xs = [min(max(0.0, x), max(0.0, image_size[0] - w)) for x in (x0, x1 - w, 0.0,
                                                                  image_size[0] - w)]
    ys: list[float] = []
    for step in range(24):
        ys += [y0 - h - step * h, y1 + step * h]
    best: tuple[float, float, int] | None = None
    best_rect: Rect | None = None
    for order, (y, x) in enumerate((y, x) for y in ys for x in dict.fromkeys(xs)):
        if y < 0 or y + h > image_size[1]:
            continue
        rect = (x, y, x + w, y + h)
        covered = sum(_overlap_area(rect, other) for other in taken)
        if covered == 0:
            return rect
        key = (covered, abs(y - y0), order)
        if best is None or key < best:
            best, best_rect = key, rect
    if best_rect is not None:
        return best_rect
    y = min(max(0.0, y0 - h), max(0.0, image_size[1] - h))
    return (xs[0], y, xs[0] + w, y + h)


def _overlap_area(a: Rect, b: Rect) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def evidence_for(target: str, settings: Settings) -> tuple[bytes, tuple[Evidence, ...]]:
    """The image bytes and evidence to draw for a submission id or an image file.

    A file uses the stored verdict of the same content when there is one, and is reviewed
    on the spot (nothing stored) when there is none.
    """
    from worker.db import Store
    from worker.stored_images import ImageNotKept, stored_image

    path = Path(target)
    with Store.open(settings.database_url) as store:
        if path.is_file():
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            for submission in store.find_submissions(sha256=digest):
                stored = store.current_verdict(submission.id)
                if stored is not None and stored.verdict.error is None:
                    return data, stored.verdict.matches
            return data, _review_now(data, settings)
        submission_row = store.get_submission(target)
        if submission_row is None:
            raise ConfigError(f"{target!r} is neither an image file nor a stored submission id")
        current = store.current_verdict(target)
        if current is None:
            raise ConfigError(f"submission {target} has no verdict yet")
        try:
            return stored_image(submission_row, settings, store), current.verdict.matches
        except ImageNotKept as exc:
            raise ConfigError(str(exc)) from None


def _review_now(data: bytes, settings: Settings) -> tuple[Evidence, ...]:
    from models.registry import create_engine
    from rules import load_ruleset
    from worker.pipeline import review

    verdict = review(data, create_engine(settings.ocr_engine, settings),
                     load_ruleset(settings.rules_dir), settings)
    if verdict.error is not None:
        raise ConfigError(f"cannot review {verdict.sha256}: {verdict.error.message}")
    return verdict.matches
