"""The sample-ad generator: deterministic, in bounds, and honest about what it drew."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from rules import load_ruleset
from rules.normalize import Normalizer
from worker.samples import (
    CLAIM_DECISION,
    CLAIMS,
    CLEAN_HEADLINES,
    CLEAN_LINES,
    CONTEXT,
    DETAIL_CLAIMS,
    DETAIL_SIZE,
    EVASIONS,
    FONT_FILES,
    GIF_CLAIM,
    GROUPS,
    PAGE_LINES,
    PAGE_SEAM_CLAIM,
    PHOTO_SEAM,
    PHOTO_SIZE,
    POSTER_COLUMNS,
    POSTER_FOOT,
    POSTER_TITLE,
    SEAM_LINES,
    SampleAd,
    animated_gif,
    available_fonts,
    box_bounds,
    char_recall,
    contrast,
    corpus,
    covers,
    demo_ads,
    detail_page,
    faint_ink,
    gif_frames,
    page_photo,
    pick_family,
    render_ad,
    rotation,
    vertical_poster,
)
from worker.settings import SHIPPED_RULES_DIR

fold = Normalizer().fold


@pytest.fixture(scope="module")
def ads() -> list[SampleAd]:
    return corpus(seed=0, per_group=3)


def test_every_font_family_is_installed() -> None:
    # `make fonts` installs them; without them the artistic group silently loses its faces.
    assert available_fonts() == list(FONT_FILES)


def test_a_family_missing_a_glyph_falls_back_to_one_that_has_it() -> None:
    # Smiley Sans covers GB2312 only: no traditional 國 or 級.
    assert not covers("display", "國家級")
    family = pick_family("display", "國家級品質")
    assert family != "display" and covers(family, "國家級品質")
    assert pick_family("display", "全网第一") == "display"


def test_the_same_seed_gives_identical_pixels() -> None:
    first, second = corpus(seed=4, per_group=1), corpus(seed=4, per_group=1)
    assert [a.image.tobytes() for a in first] == [b.image.tobytes() for b in second]
    assert [a.lines for a in first] == [b.lines for b in second]
    assert [a.boxes for a in first] == [b.boxes for b in second]


def test_another_seed_gives_other_ads() -> None:
    first, second = corpus(seed=4, per_group=1), corpus(seed=5, per_group=1)
    assert all(a.image.tobytes() != b.image.tobytes() for a, b in zip(first, second, strict=True))


def test_a_sample_does_not_depend_on_how_many_were_asked_for() -> None:
    one = corpus(seed=2, per_group=1)
    two = corpus(seed=2, per_group=2)
    assert [a.image.tobytes() for a in one] == [b.image.tobytes() for b in two[::2]]


def test_every_group_is_present_with_unique_names(ads: list[SampleAd]) -> None:
    assert [ad.group for ad in ads] == [group for group in GROUPS for _ in range(3)]
    assert len({ad.name for ad in ads}) == len(ads)
    assert set(GROUPS) == {
        "plain", "artistic", "rotated", "small_lowcontrast", "evasion", "clean", "context"
    }


def test_every_line_is_drawn_inside_the_image(ads: list[SampleAd]) -> None:
    for ad in ads:
        assert ad.image.mode == "RGB"
        assert len(ad.boxes) == len(ad.lines) >= 3, ad.name
        width, height = ad.image.size
        for text, box in zip(ad.lines, ad.boxes, strict=True):
            assert text.strip()
            x0, y0, x1, y1 = box_bounds(box)
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (ad.name, text, box)


def test_each_box_holds_ink(ads: list[SampleAd]) -> None:
    # The pixels inside a line's box vary (text), unlike a flat patch of background.
    for ad in ads:
        for text, box in zip(ad.lines, ad.boxes, strict=True):
            patch = ad.image.crop(tuple(round(v) for v in box_bounds(box))).convert("L")
            low, high = patch.getextrema()
            assert high - low > 20, (ad.name, text)


def test_lines_are_in_reading_order(ads: list[SampleAd]) -> None:
    for ad in ads:
        if ad.group == "rotated":
            continue  # a turned card moves rows sideways
        tops = [box_bounds(box)[1] for box in ad.boxes]
        centres = [(box_bounds(b)[1] + box_bounds(b)[3]) / 2 for b in ad.boxes]
        for k in range(1, len(ad.boxes)):
            same_row = abs(centres[k] - centres[k - 1]) < 10
            assert same_row or tops[k] > tops[k - 1], (ad.name, ad.lines[k])


def test_the_rotated_group_turns_its_text(ads: list[SampleAd]) -> None:
    for ad in (a for a in ads if a.group == "rotated"):
        angles = []
        for box in ad.boxes:
            (x0, y0), (x1, y1) = box[0], box[1]
            angles.append(abs(math.degrees(math.atan2(y1 - y0, x1 - x0))))
        assert max(angles) >= 5, ad.name
        assert max(angles) <= 31, ad.name


def test_claims_are_on_the_ad_and_set_the_expected_decision(ads: list[SampleAd]) -> None:
    for ad in ads:
        text = fold("\n".join(ad.lines))
        for claim in ad.claims:
            assert fold(claim) in text, (ad.name, claim)
        if ad.group in ("clean", "context"):
            assert ad.claims == () and ad.expect == "pass", ad.name
        else:
            assert ad.claims, ad.name
            decisions = {CLAIM_DECISION[claim] for claim in ad.claims}
            assert ad.expect == ("reject" if "reject" in decisions else "review"), ad.name


def test_clean_and_context_copy_carries_nothing_that_looks_like_a_claim(
    ads: list[SampleAd],
) -> None:
    risky = ["最", "第一", "首选", "极", "顶", "唯一", "王牌", "领先", "国家", "治", "效",
             "保证", "风险", "稳赚", "包过", "退款", "no1", "top1", "冠军", "祛", "100%"]
    risky += [fold(phrase) for phrase in CLAIM_DECISION]
    for ad in (a for a in ads if a.group in ("clean", "context")):
        text = fold("\n".join(ad.lines))
        for phrase in CONTEXT:
            text = text.replace(fold(phrase), "|")
        found = [word for word in risky if word in text]
        assert not found, (ad.name, found)
    for ad in (a for a in ads if a.group == "context"):
        assert any(phrase in ad.lines for phrase in CONTEXT), ad.name


def test_the_evasion_group_dresses_its_claims_up(ads: list[SampleAd]) -> None:
    # Spaced, dotted, traditional or full-width: the canonical form is not drawn as such,
    # unless the claim is itself the English stand-in for 第一 (NO.1, TOP1).
    for ad in (a for a in ads if a.group == "evasion"):
        text = "".join(ad.lines)
        assert all(claim not in text or claim.isascii() for claim in ad.claims), ad.name


def test_small_print_is_small_or_faint(ads: list[SampleAd]) -> None:
    for ad in (a for a in ads if a.group == "small_lowcontrast"):
        heights = [box_bounds(b)[3] - box_bounds(b)[1] for b in ad.boxes]
        assert min(heights) <= 20, ad.name


def test_expectations_agree_with_the_shipped_rule_set() -> None:
    shipped = load_ruleset(SHIPPED_RULES_DIR)
    for ad in corpus(seed=0, per_group=8):
        judgement = shipped.judge("\n".join(ad.lines))
        assert judgement.decision.value == ad.expect, (ad.name, ad.lines)
        # every claim is where a rule fired (a pattern may report a longer phrase)
        found = [fold(m.text) for m in judgement.matches]
        for claim in ad.claims:
            assert any(fold(claim) in text or text in fold(claim) for text in found), (
                ad.name, claim, found)


def test_every_claim_phrase_and_none_of_the_clean_copy_fires_under_the_shipped_rules() -> None:
    shipped = load_ruleset(SHIPPED_RULES_DIR)
    for text, phrase in (*CLAIMS, *EVASIONS):
        judgement = shipped.judge(text.replace("{p}", "面霜"))
        assert judgement.decision.value == CLAIM_DECISION[phrase], text
    for text in (*CONTEXT, *CLEAN_LINES, *CLEAN_HEADLINES):
        assert not shipped.judge(text.replace("{p}", "面霜")).matches, text


def test_faint_ink_hits_the_asked_contrast() -> None:
    for background in ((255, 255, 255), (216, 30, 6), (33, 33, 33)):
        ink = faint_ink(background, 2.0)
        assert 2.0 <= contrast(ink, background) < 2.6


def test_rotation_sends_points_where_pillow_draws_them() -> None:
    image = Image.new("L", (300, 120), 0)
    ImageDraw.Draw(image).ellipse((60, 20, 70, 30), fill=255)
    for angle in (17, -30, 90):
        size, forward = rotation(image.size, angle)
        turned = image.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        assert turned.size == size
        x0, y0, x1, y1 = turned.point(lambda v: 255 if v > 128 else 0).getbbox() or (0, 0, 0, 0)
        fx, fy = forward((65, 25))
        assert abs((x0 + x1) / 2 - fx) < 2 and abs((y0 + y1) / 2 - fy) < 2


def test_render_ad_draws_the_given_lines_in_the_given_colours() -> None:
    image = render_ad(["全网第一保温杯", "限时特惠 ¥59"], colours=((255, 255, 255), (20, 20, 20)),
                      size=(640, 360))
    assert image.size == (640, 360)
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 16) or []}
    assert (255, 255, 255) in colours and (20, 20, 20) in colours


def test_detail_page_geometry() -> None:
    page, truth = detail_page(seed=0)
    assert page.size == DETAIL_SIZE == (750, 8000)
    width, height = page.size
    for text, (x0, y0, x1, y1) in truth:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, text
    tops = [rect[1] for _, rect in truth]
    assert tops == sorted(tops)
    claims = {text: rect for text, rect in truth if text in dict(DETAIL_CLAIMS)}
    assert set(claims) == set(dict(DETAIL_CLAIMS))
    for seam in SEAM_LINES:
        crossing = [t for t, (_, y0, _, y1) in claims.items() if y0 < seam < y1]
        assert len(crossing) == 1, seam
        (_, y0, _, y1) = claims[crossing[0]]
        assert abs((y0 + y1) / 2 - seam) <= 20
    centres = sorted((y0 + y1) / 2 for _, y0, _, y1 in claims.values())
    assert centres[0] < 1000  # near the top
    assert any(3500 < y < 4500 for y in centres)  # in the middle
    assert centres[-1] > 7000  # near the bottom


def test_detail_page_is_deterministic() -> None:
    first, second = detail_page(seed=3), detail_page(seed=3)
    assert first[0].tobytes() == second[0].tobytes() and first[1] == second[1]


def test_animated_gif_shows_its_claim_only_from_the_claim_frame() -> None:
    data = animated_gif(seed=2, frames=20, claim_frame=12)
    assert data == animated_gif(seed=2, frames=20, claim_frame=12)
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.n_frames == 20
    frames = gif_frames(seed=2, frames=20, claim_frame=12)
    assert [GIF_CLAIM[0] in f.lines for f in frames] == [k >= 12 for k in range(20)]
    assert all(f.claims == (GIF_CLAIM[1],) for f in frames[12:])
    # what was drawn is what was saved: the frames differ exactly where the claim starts
    gif.seek(11)
    before = gif.convert("RGB")
    gif.seek(12)
    after = gif.convert("RGB")
    box = tuple(round(v) for v in box_bounds(frames[12].boxes[1]))
    assert before.crop(box).tobytes() != after.crop(box).tobytes()


@pytest.mark.parametrize("seed", range(8))
def test_a_gif_can_show_its_claim_in_one_frame_and_every_frame_is_kept(seed: int) -> None:
    data = animated_gif(seed=seed, frames=60, claim_frame=30, shown=1,
                        duration=[50 if k % 2 else 100 for k in range(60)])
    gif = Image.open(io.BytesIO(data))
    assert gif.n_frames == 60  # the moving highlight keeps Pillow from merging frames
    gif.seek(1)
    assert gif.info["duration"] == 50
    frames = gif_frames(seed=seed, frames=60, claim_frame=30, shown=1)
    assert [GIF_CLAIM[0] in f.lines for f in frames] == [k == 30 for k in range(60)]


@pytest.mark.parametrize("turn", [90, -90])
def test_page_photo_geometry(turn: int) -> None:
    photo, drawn = page_photo(seed=1, turn=turn)
    assert photo.size == PHOTO_SIZE
    assert photo.tobytes() == page_photo(seed=1, turn=turn)[0].tobytes()
    *lines, claim = drawn
    assert [line.text for line in lines] == [text for text, _ in PAGE_LINES]
    for line in drawn:
        x0, y0, x1, y1 = box_bounds(line.box)
        assert 0 <= x0 < x1 <= PHOTO_SIZE[0] and 0 <= y0 < y1 <= PHOTO_SIZE[1]
        (ax, ay), (bx, by) = line.box[0], line.box[1]
        assert abs(by - ay) > 5 * abs(bx - ax)  # printed lines run down the photo
        assert (by < ay) == (turn == 90)  # turned left, they read upwards
        assert y0 < PHOTO_SEAM[0] and y1 > PHOTO_SEAM[1]  # every line crosses the seam
    assert claim.text == PAGE_SEAM_CLAIM and PAGE_SEAM_CLAIM in lines[1].text
    top, bottom = box_bounds(claim.box)[1], box_bounds(claim.box)[3]
    assert abs((top + bottom) / 2 - sum(PHOTO_SEAM) / 2) < 3
    assert bottom - top > PHOTO_SEAM[1] - PHOTO_SEAM[0]


def test_vertical_poster_geometry() -> None:
    poster, drawn = vertical_poster(seed=2)
    title, *columns, foot = drawn
    assert title.text == POSTER_TITLE and foot.text == POSTER_FOOT
    assert [c.text for c in columns] == [text for text, _ in POSTER_COLUMNS]
    lefts = [box_bounds(c.box)[0] for c in columns]
    assert lefts == sorted(lefts, reverse=True)  # right to left
    for column in columns:
        (ax, ay), (bx, by) = column.box[0], column.box[1]
        assert ax == bx and by > ay  # read top to bottom
        assert box_bounds(title.box)[3] < box_bounds(column.box)[1]
        assert box_bounds(column.box)[3] < box_bounds(foot.box)[1]
        assert box_bounds(column.box)[2] <= poster.width


def test_demo_ads_are_a_mix_of_formats_written_the_same_every_time(tmp_path: Path) -> None:
    first = demo_ads(tmp_path / "one")
    second = demo_ads(tmp_path / "two")
    assert len(first) >= 8
    assert [p.name for p in first] == [p.name for p in second]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    formats = set()
    for path in first:
        with Image.open(path) as image:
            image.load()
            formats.add(image.format)
    assert formats == {"JPEG", "PNG", "WEBP", "GIF"}
    names = " ".join(p.stem for p in first)
    assert "clean" in names and "detail" in names


def test_char_recall_counts_characters_found_in_order() -> None:
    assert char_recall("全网第一", "全网第一") == (4, 4)
    assert char_recall("全网 第一", "全网第一") == (4, 4)  # whitespace is not read
    assert char_recall("１００％有效", "100%有效") == (6, 6)  # nor is width
    assert char_recall("NO.1", "no.1") == (4, 4)
    assert char_recall("限时特惠全场包邮", "限时特惠") == (4, 8)
    assert char_recall("限时特惠", "") == (0, 4)
    assert char_recall("", "anything") == (0, 0)
    assert char_recall("ABCD", "DCBA") == (1, 4)  # order counts
