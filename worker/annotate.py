"""Evidence drawn on the ad: every match boxed and labelled, for reviewers who would
rather look than read."""

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

    Decoding goes through the same safe path as a review (size limits, typed errors);
    an animation is drawn on its first frame.
    """
    from models.images import decode_image

    image = decode_image(data, settings or get_settings()).frames[0].copy()
    draw = ImageDraw.Draw(image)
    width = max(2, round(min(image.size) / 250))
    font = _font(max(12, round(min(image.size) / 28)))
    for item in evidence:
        counts = "review" if item.uncertain or item.severity is Severity.REVIEW else "reject"
        colour = COLOURS[counts]
        points = [(float(x), float(y)) for x, y in item.box]
        draw.polygon(points, outline=colour, width=width)
        label = f"{item.rule}: {item.phrase}"
        x = min(p[0] for p in points)
        y = min(p[1] for p in points)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        label_y = y - (bottom - top) - 2 * width if y - (bottom - top) - 2 * width >= 0 else (
            max(p[1] for p in points) + width
        )
        draw.rectangle(
            (x, label_y, x + (right - left) + 2 * width, label_y + (bottom - top) + 2 * width),
            fill=colour,
        )
        draw.text((x + width - left, label_y + width - top), label, fill=(255, 255, 255), font=font)
    return image


def evidence_for(target: str, settings: Settings) -> tuple[bytes, tuple[Evidence, ...]]:
    """The image bytes and evidence to draw for a submission id or an image file.

    A file uses the stored verdict of the same content when there is one, and is reviewed
    on the spot (nothing stored) when there is none.
    """
    from worker.db import Store

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
        if not submission_row.source.startswith("scan:"):
            raise ConfigError(
                f"submission {target} came from {submission_row.source!r}; its image is not "
                "kept on this machine"
            )
        image_path = Path(submission_row.source.removeprefix("scan:"))
        try:
            return image_path.read_bytes(), current.verdict.matches
        except OSError as exc:
            raise ConfigError(f"cannot read the image of submission {target}: {exc}") from exc


def _review_now(data: bytes, settings: Settings) -> tuple[Evidence, ...]:
    from models.registry import create_engine
    from rules import load_ruleset
    from worker.pipeline import review

    verdict = review(data, create_engine(settings.ocr_engine, settings),
                     load_ruleset(settings.rules_dir), settings)
    if verdict.error is not None:
        raise ConfigError(f"cannot review {verdict.sha256}: {verdict.error.message}")
    return verdict.matches
