"""What the reviewer console shows: its views and filters, an item's neighbours in the
queue, and the view model of one item (evidence numbered, matched text inside its OCR
line, the rule's description and legal reference, frames of animations).

Views: ``queue`` (current ``review``/``reject`` verdicts no reviewer has decided about),
``done`` (those a reviewer has), ``errors`` (error verdicts), ``all``. The filters are the
dashboard's (decision, category, rule, industry, ad id, since) and travel in the query
string from the queue to each item and on, so that ``j``/``k`` and "next after a
decision" follow the list the reviewer chose.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from rules import RuleSet
from rules.schema import Decision
from worker.api.queries import VerdictFilter, conditions, order_columns, sort_key
from worker.db import Store, StoredReview, StoredVerdict
from worker.db.migrate import translate_errors
from worker.db.models import Submission, VerdictRow
from worker.settings import Settings
from worker.times import parse_time_or_age

#: The console's views and what each keeps.
VIEWS: dict[str, VerdictFilter] = {
    "queue": VerdictFilter(decisions=(Decision.REVIEW, Decision.REJECT), reviewed=False,
                           group_duplicates=True, oldest_first=True),
    "done": VerdictFilter(reviewed=True),
    "errors": VerdictFilter(decisions=(Decision.ERROR,)),
    "all": VerdictFilter(),
}
#: Query parameters the console's filters read (and carry from page to page).
FILTER_PARAMS = ("view", "decision", "effective", "category", "rule", "industry", "ad_id",
                 "since", "q", "reviewer")
#: Characters of OCR line shown either side of a matched text.
LINE_CONTEXT = 40


class BadFilter(ValueError):
    """A console filter value that cannot be used (an unknown decision, a bad time)."""


@dataclass(frozen=True)
class ConsoleFilter:
    """The view and filters of a console page, and the query string that carries them."""

    view: str
    where: VerdictFilter
    query: str
    given: dict[str, str]


def console_filter(params: Mapping[str, str]) -> ConsoleFilter:
    """Read ``view`` and the filters from a page's query parameters; ``BadFilter`` for
    values that cannot be used."""
    given = {k: params[k].strip() for k in FILTER_PARAMS if params.get(k, "").strip()}
    view = given.get("view", "queue")
    if view not in VIEWS:
        raise BadFilter(f"unknown view {view!r} (one of {', '.join(VIEWS)})")
    where = VIEWS[view]
    if "decision" in given:
        try:
            where = replace(where, decision=Decision(given["decision"]))
        except ValueError:
            raise BadFilter(f"unknown decision {given['decision']!r}") from None
    since: datetime | None = None
    if "since" in given:
        try:
            since = parse_time_or_age(given["since"])
        except ValueError as exc:
            raise BadFilter(f"since: {exc}") from None
    effective: tuple[Decision, ...] = ()
    if "effective" in given:
        try:
            effective = (Decision(given["effective"]),)
        except ValueError:
            raise BadFilter(f"unknown decision {given['effective']!r}") from None
    where = replace(where, category=given.get("category"), rule=given.get("rule"),
                    industry=given.get("industry"), ad_id=given.get("ad_id"), since=since,
                    text=given.get("q"), effective_decisions=effective,
                    reviewers=(given["reviewer"],) if "reviewer" in given else ())
    kept = {k: v for k, v in given.items() if not (k == "view" and v == "queue")}
    return ConsoleFilter(view, where, urlencode(kept), given)


def _ordered(store: Store, where: VerdictFilter) -> tuple[Select[Any], list[Any]]:
    columns = order_columns(where, store.backend)
    base = (select(Submission.id).select_from(VerdictRow)
            .join(Submission, Submission.id == VerdictRow.submission_id)
            .where(*conditions(where, store.backend)))
    return base, columns


def neighbours(store: Store, where: VerdictFilter, verdict_id: int
               ) -> tuple[str | None, str | None]:
    """The submissions before and after the verdict ``verdict_id`` in the list ``where``
    keeps, in the console's order: (previous, next)."""
    key = sort_key(store, where, verdict_id)
    if key is None:
        return None, None
    base, columns = _ordered(store, where)
    at = tuple_(*columns)
    with translate_errors(store.engine.url), Session(store.engine) as session:
        before = session.scalar(base.where(at < tuple_(*key))
                                .order_by(*(c.desc() for c in columns)).limit(1))
        after = session.scalar(base.where(at > tuple_(*key)).order_by(*columns).limit(1))
    return before, after


def position(store: Store, where: VerdictFilter, verdict_id: int) -> tuple[int, int]:
    """(1-based place of the verdict ``verdict_id`` in the list ``where`` keeps; the
    list's length); the place is 0 when the verdict is not in the list."""
    key = sort_key(store, where, verdict_id)
    columns = order_columns(where, store.backend)
    base = (select(func.count()).select_from(VerdictRow)
            .join(Submission, Submission.id == VerdictRow.submission_id)
            .where(*conditions(where, store.backend)))
    with translate_errors(store.engine.url), Session(store.engine) as session:
        total = int(session.scalar(base) or 0)
        if key is None:
            return 0, total
        earlier = int(session.scalar(base.where(tuple_(*columns) < tuple_(*key))) or 0)
        inside = session.scalar(base.where(VerdictRow.id == verdict_id))
    return (earlier + 1 if inside else 0), total


def first_in(store: Store, where: VerdictFilter, *,
             after: tuple[Any, ...] | None = None) -> str | None:
    """The first submission ``where`` keeps (after the sort key ``after``)."""
    base, columns = _ordered(store, where)
    if after is not None:
        base = base.where(tuple_(*columns) > tuple_(*after))
    with translate_errors(store.engine.url), Session(store.engine) as session:
        found: str | None = session.scalar(base.order_by(*columns).limit(1))
    return found


def in_line(text: str, line: str) -> tuple[str, str, str]:
    """The OCR ``line`` cut around the matched ``text``: (before, text, after), each side
    at most ``LINE_CONTEXT`` characters (the whole line as ``before`` when not found)."""
    at = line.find(text) if text else -1
    if at < 0:
        return line, "", ""
    before, after = line[:at], line[at + len(text):]
    if len(before) > LINE_CONTEXT:
        before = "…" + before[-LINE_CONTEXT:]
    if len(after) > LINE_CONTEXT:
        after = after[:LINE_CONTEXT] + "…"
    return before, line[at:at + len(text)], after


def image_size(data: bytes, settings: Settings) -> tuple[int, int] | None:
    """(width, height) of an image as shown (EXIF rotation applied), read from its header
    without decoding pixels; None when unreadable or over the service's limits (the
    console then shows no image, as the worker refused it)."""
    from PIL import Image

    from models.images import image_size as declared_size
    from models.images import orientation_of

    if len(data) > settings.max_image_bytes:
        return None
    declared = declared_size(data)
    if declared is not None and declared[0] * declared[1] > settings.max_image_pixels:
        return None
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
            if width * height > settings.max_image_pixels:
                return None
            if orientation_of(picture) in (5, 6, 7, 8):  # turned a quarter: sides swap
                width, height = height, width
            return width, height
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        return None


def frame_png(data: bytes, frame: int, settings: Settings) -> bytes:
    """Frame ``frame`` of an image (the image itself for a still one) as PNG bytes,
    decoded as the worker decodes it (``models.images.decode_image``: the same size and
    pixel limits, EXIF rotation applied). ``ImageError`` when it cannot be decoded within
    them; ``ValueError`` when it has no such frame."""
    from models.images import decode_image

    if frame < 0:
        raise ValueError(f"the image has no frame {frame}")
    decoded = decode_image(data, settings, frame=frame)
    if frame >= decoded.frame_count:
        raise ValueError(f"the image has no frame {frame}")
    out = io.BytesIO()
    decoded.frames[0].save(out, format="PNG")
    return out.getvalue()


def item_view(verdict: StoredVerdict, reviews: list[StoredReview], ruleset: RuleSet | None,
              size: tuple[int, int] | None) -> dict[str, Any]:
    """What the templates show of one item."""
    specs = {} if ruleset is None else {r.spec.id: r.spec for r in ruleset.rules}
    names = {} if ruleset is None else {c.id: c.name for c in ruleset.categories.values()}
    matches = []
    frames: list[int] = []
    width, height = size or (0, 0)
    for number, match in enumerate(verdict.verdict.matches, start=1):
        data = match.to_dict()
        before, text, after = in_line(match.text, match.line)
        spec = specs.get(match.rule)
        xs = [x for x, _ in match.box]
        ys = [y for _, y in match.box]
        frame = data.get("frame")
        if frame is not None and frame not in frames:
            frames.append(int(frame))
        box = None
        if width and height and xs and ys:
            box = {"left": 100 * min(xs) / width, "top": 100 * min(ys) / height,
                   "width": 100 * (max(xs) - min(xs)) / width,
                   "height": 100 * (max(ys) - min(ys)) / height}
        matches.append({**data, "n": number, "before": before, "hit": text, "after": after,
                        "description": "" if spec is None else spec.description,
                        "reference": "" if spec is None else spec.reference,
                        "category_name": names.get(match.category, match.category),
                        "pct": box, "frame": frame, "crop": crop_of(box, size)})
    error = verdict.verdict.error
    return {
        "id": verdict.submission,
        "verdict_id": verdict.id,
        "ad_id": verdict.ad_id,
        "source": verdict.source,
        "decision": verdict.decision.value,
        "effective": verdict.effective_decision.value,
        "reviewed": verdict.reviewed,
        "industry": verdict.verdict.industry,
        "judged": verdict.judged.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "ruleset": verdict.verdict.ruleset,
        "engine": verdict.verdict.engine,
        "matches": matches,
        "frames": sorted(frames) or [None],
        "size": size,
        "error": None if error is None else {"code": error.code.value,
                                             "message": error.message},
        "reviews": [{**r.to_dict(), "created": r.created.strftime("%Y-%m-%d %H:%M:%S")}
                    for r in reviews],
        "quoted_id": quote(verdict.submission, safe=""),
    }


__all__ = [
    "FILTER_PARAMS",
    "HIDDEN_METADATA",
    "VIEWS",
    "BadFilter",
    "ConsoleFilter",
    "console_filter",
    "crop_of",
    "first_in",
    "frame_png",
    "image_info",
    "image_size",
    "in_line",
    "item_view",
    "neighbours",
    "position",
    "shown_metadata",
    "title_of",
]


def image_info(data: bytes, settings: Settings) -> tuple[tuple[int, int] | None, int]:
    """((width, height) as shown, or None when unreadable or over the service's limits;
    number of frames) of an image file (see ``image_size``)."""
    from PIL import Image

    size = image_size(data, settings)
    if size is None:
        return None, 0
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return size, int(getattr(picture, "n_frames", 1))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        return size, 1


def crop_of(pct: dict[str, float] | None, size: tuple[int, int] | None
            ) -> dict[str, float] | None:
    """How a CSS background shows the part of the image around a match box (``pct``, in
    percent of the image): background size and position in percent, and the crop's
    aspect ratio."""
    if pct is None or size is None or not size[0] or not size[1]:
        return None
    width, height = size
    pad_x = max(1.5, pct["height"] * height / width * 0.4)
    pad_y = max(1.5, pct["height"] * 0.4)
    left, top = max(0.0, pct["left"] - pad_x), max(0.0, pct["top"] - pad_y)
    right = min(100.0, pct["left"] + pct["width"] + pad_x)
    bottom = min(100.0, pct["top"] + pct["height"] + pad_y)
    cw, ch = max(right - left, 0.5), max(bottom - top, 0.5)
    return {"size": 100 * 100 / cw,
            "x": 0.0 if cw >= 100 else 100 * left / (100 - cw),
            "y": 0.0 if ch >= 100 else 100 * top / (100 - ch),
            "ratio": (cw * width) / (ch * height)}


def title_of(ad_id: str | None, source: str, metadata: dict[str, Any] | None,
             submission: str) -> str:
    """What an item is called: its ad id, else its file name, else a short id."""
    if ad_id:
        return ad_id
    name = (metadata or {}).get("filename") or (metadata or {}).get("name")
    if isinstance(name, str) and name:
        return name
    if source.startswith(("scan:", "url:")):
        tail = source.split(":", 1)[1].rstrip("/").rsplit("/", 1)[-1]
        if tail:
            return tail.split("?")[0]
    return submission[:8] + "…"


#: Metadata keys the console does not show (the queue's own bookkeeping).
HIDDEN_METADATA = frozenset({"image_ref", "engine", "priority", "callback_url"})


def shown_metadata(metadata: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The submission's own metadata, as (key, text) pairs, for the item page."""
    return [(str(k), v if isinstance(v, str) else repr(v))
            for k, v in sorted((metadata or {}).items()) if k not in HIDDEN_METADATA][:12]
