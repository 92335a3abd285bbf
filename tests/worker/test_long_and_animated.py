"""Long detail pages, large photos, vertical text and animations through the real
pipeline (RapidOCR on real pixels)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from models.base import Box, TextLine
from models.images import decode_image
from models.rapidocr import RapidOcrEngine
from models.tiling import direction, plan_tiles
from rules import Decision, RuleSet, load_ruleset
from worker.annotate import annotate
from worker.pipeline import review
from worker.samples import (
    DETAIL_CLAIMS,
    DETAIL_SIZE,
    GIF_CLAIM,
    PAGE_SEAM_CLAIM,
    PHOTO_SEAM,
    PHOTO_SIZE,
    animated_gif,
    box_bounds,
    char_recall,
    detail_page,
    gif_frames,
    page_photo,
    vertical_poster,
)
from worker.scan import MemoryCache
from worker.settings import SHIPPED_RULES_DIR, Settings
from worker.verdict import Verdict

SETTINGS = Settings()


@pytest.fixture(scope="module")
def engine() -> RapidOcrEngine:
    return RapidOcrEngine.from_settings(SETTINGS)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(SHIPPED_RULES_DIR)


def png(image: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # type: ignore[attr-defined]
    return buffer.getvalue()


def test_the_detail_page_puts_claims_across_the_edges_of_the_tiles_it_is_cut_into() -> None:
    page, truth = detail_page(0)
    assert page.size == DETAIL_SIZE
    edges = {edge for _, top, _, bottom in plan_tiles(DETAIL_SIZE, SETTINGS) for edge in (top, bottom)}
    claims = [text for text, _ in DETAIL_CLAIMS]
    straddling = [
        text for text, (_, y0, _, y1) in truth
        if text in claims and any(y0 < edge < y1 for edge in edges)
    ]
    assert len(straddling) >= 2, (straddling, sorted(edges))


def test_every_claim_of_a_750x8000_detail_page_is_found_once_where_it_was_drawn(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    page, truth = detail_page(0)
    verdict = review(png(page), engine, ruleset, SETTINGS)
    assert verdict.decision is Decision.REJECT
    drawn = dict(truth)
    for text, phrases in DETAIL_CLAIMS:
        x0, y0, x1, y1 = drawn[text]
        for phrase in phrases:
            found = [m for m in verdict.matches if m.phrase == phrase or phrase in m.phrase]
            assert len(found) == 1, (phrase, [(m.phrase, m.box) for m in verdict.matches])
            (match,) = found
            ys = [y for _, y in match.box]
            # The evidence box lies on the drawn line, in original-page pixels.
            assert y0 - 12 <= min(ys) and max(ys) <= y1 + 12, (phrase, match.box, drawn[text])
            xs = [x for x, _ in match.box]
            assert x0 - 12 <= min(xs) and max(xs) <= x1 + 12, (phrase, match.box, drawn[text])


def test_a_claim_shown_only_in_a_late_frame_of_a_gif_is_found(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    data = animated_gif(seed=3, frames=20, claim_frame=12)
    decoded = decode_image(data, SETTINGS)
    assert decoded.frame_count == 20
    assert 0 in decoded.frame_indices and max(decoded.frame_indices) >= 12
    verdict = review(data, engine, ruleset, SETTINGS)
    assert verdict.decision is Decision.REJECT
    assert any(GIF_CLAIM[1] in m.phrase for m in verdict.matches)


def test_the_same_gif_read_as_its_first_frame_only_would_pass(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    """The control: without frame sampling the claim would slip through."""
    data = animated_gif(seed=3, frames=20, claim_frame=12)
    first_only = Settings(max_frames=1)
    verdict = review(data, engine, ruleset, first_only)
    assert verdict.decision is Decision.PASS, verdict.matches


# --- animations: every distinct frame, evidence on its frame ---------------------------


@pytest.mark.parametrize("position", [1, 13, 29, 44, 59])
def test_a_claim_shown_in_one_frame_of_a_60_frame_gif_is_found_on_that_frame(
    engine: RapidOcrEngine, ruleset: RuleSet, position: int
) -> None:
    data = animated_gif(seed=5, frames=60, claim_frame=position, shown=1)
    assert decode_image(data, SETTINGS).frame_count == 60
    verdict = review(data, engine, ruleset, SETTINGS)
    assert verdict.decision is Decision.REJECT
    found = [m for m in verdict.matches if GIF_CLAIM[1] in m.phrase]
    assert found and all(m.frame == position for m in found), verdict.matches
    assert all(m.to_dict()["frame"] == position for m in found)


def test_the_annotated_image_of_an_animation_is_the_frame_of_its_evidence(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    data = animated_gif(seed=5, frames=60, claim_frame=37, shown=1)
    verdict = review(data, engine, ruleset, SETTINGS)
    (match, *_) = [m for m in verdict.matches if GIF_CLAIM[1] in m.phrase]
    drawn = np.asarray(annotate(data, verdict.matches, SETTINGS), dtype=np.int16)
    frames = gif_frames(seed=5, frames=60, claim_frame=37, shown=1)
    claim_frame = np.asarray(frames[37].image, dtype=np.int16)
    first = np.asarray(frames[0].image, dtype=np.int16)
    assert drawn.shape == claim_frame.shape
    x0, y0, x1, y1 = (round(v) for v in box_bounds(match.box))
    inside = (slice(y0 + 6, y1 - 6), slice(x0 + 6, x1 - 6))  # within the outline
    assert np.abs(drawn[inside] - claim_frame[inside]).mean() < 4
    assert np.abs(drawn[inside] - first[inside]).mean() > 20
    # Evidence of two frames: both, side by side, each under its caption.
    other = replace(match, frame=0)
    sheet = annotate(data, [match, other], SETTINGS)
    assert sheet.width > 2 * claim_frame.shape[1] and sheet.height > claim_frame.shape[0]


# --- large photos and vertical text ----------------------------------------------------


def read_and_judge(
    image: Image.Image, engine: RapidOcrEngine, ruleset: RuleSet, fmt: str = "PNG"
) -> tuple[Verdict, list[TextLine]]:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    cache = MemoryCache()
    verdict = review(buffer.getvalue(), engine, ruleset, SETTINGS, cache)
    ((_, _, _, lines, _, _),) = cache.added
    return verdict, lines


def lies_on(box: Box, drawn: Box, slack: float) -> bool:
    bx0, by0, bx1, by1 = box_bounds(box)
    dx0, dy0, dx1, dy1 = box_bounds(drawn)
    return (dx0 - slack <= bx0 and bx1 <= dx1 + slack
            and dy0 - slack <= by0 and by1 <= dy1 + slack)


@pytest.mark.parametrize("turn", [90, -90])
def test_a_sideways_page_in_a_large_photo_is_read_once_per_line_claim_across_the_seam_found_once(
    engine: RapidOcrEngine, ruleset: RuleSet, turn: int
) -> None:
    photo, drawn = page_photo(seed=0, turn=turn)
    assert photo.size == PHOTO_SIZE and len(plan_tiles(PHOTO_SIZE, SETTINGS)) == 4
    verdict, lines = read_and_judge(photo, engine, ruleset, "JPEG")
    *page, claim = drawn
    # Every printed line comes back once, whole, running the way it was printed.
    assert len(lines) == len(page), [line.text for line in lines]
    for line, printed in zip(lines, page, strict=True):
        matched, total = char_recall(printed.text, line.text)
        assert matched >= total - 1, (line.text, printed.text)
        assert direction(line) == (1, -1 if turn == 90 else 1)
    assert claim.text == PAGE_SEAM_CLAIM
    top, bottom = box_bounds(claim.box)[1], box_bounds(claim.box)[3]
    assert top < PHOTO_SEAM[0] and bottom > PHOTO_SEAM[1], "no tile holds the claim whole"
    found = [m for m in verdict.matches if PAGE_SEAM_CLAIM in m.phrase]
    assert len(found) == 1, [(m.phrase, m.text) for m in verdict.matches]
    assert verdict.decision is Decision.REJECT
    # The evidence box covers the claim's characters down the column, not a sliver across it.
    assert lies_on(found[0].box, page[1].box, 20)
    assert box_bounds(found[0].box)[3] - box_bounds(found[0].box)[1] < 700


def test_vertical_columns_are_read_right_to_left_and_a_claim_across_two_is_found(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    poster, drawn = vertical_poster(seed=0)
    verdict, lines = read_and_judge(poster, engine, ruleset)
    assert [line.text.replace(" ", "") for line in lines] == [
        d.text.replace(" ", "") for d in drawn]
    assert verdict.decision is Decision.REJECT
    across = [m for m in verdict.matches if "销量第一" in m.phrase]
    assert len(across) == 1 and "\n" in across[0].text, verdict.matches
    cure = [m for m in verdict.matches if m.phrase == "根治顽疾"]
    assert len(cure) == 1 and lies_on(cure[0].box, drawn[4].box, 12)
    assert box_bounds(cure[0].box)[3] - box_bounds(cure[0].box)[1] < 0.6 * (
        box_bounds(drawn[4].box)[3] - box_bounds(drawn[4].box)[1])


# --- multi-page TIFF: every page read ----------------------------------------------------


def two_page_tiff() -> bytes:
    """A TIFF whose first page has no claim and whose second page has ``GIF_CLAIM``."""
    frames = gif_frames(seed=3, frames=20, claim_frame=12)
    pages = [frames[0].image.convert("RGB"), frames[12].image.convert("RGB")]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:],
                  compression="tiff_lzw")
    return buffer.getvalue()


def test_a_claim_on_page_2_of_a_tiff_is_found_on_that_page(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    data = two_page_tiff()
    decoded = decode_image(data, SETTINGS)
    assert (decoded.format, decoded.frame_count, decoded.frame_indices) == ("TIFF", 2, (0, 1))
    verdict = review(data, engine, ruleset, SETTINGS)
    assert verdict.decision is Decision.REJECT
    hits = [m for m in verdict.matches if GIF_CLAIM[1] in m.phrase]
    assert hits and {m.frame for m in hits} == {1}


def test_the_same_tiff_read_as_its_first_page_only_would_pass(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    """The control: page 1 alone holds no claim."""
    verdict = review(two_page_tiff(), engine, ruleset, Settings(max_frames=1))
    assert verdict.decision is Decision.PASS, verdict.matches
