"""Claims drawn onto real photographs, read by the embedded OCR engine: recall and false alarms.

The sample generator's backgrounds are flat colours and gradients; real ads are busy
photographs, low contrast, JPEG. This benchmark draws ad copy onto real photographs
(a folder you pass with ``--photos``, or by default the public-domain photographs that
ship inside the scikit-image wheel, downloaded with pip into a cache outside the
repository and never committed), JPEG-compresses them, reads them with RapidOCR and
judges them with the shipped rules, in one run:

* claim recall: violating images flagged with the drawn claim among the evidence;
* the clean-image flag rate: images with only ordinary copy flagged;
* every missed claim sorted by what OCR made of it: ``dropped`` (read with one
  character missing), ``confusable`` (one character read as another), ``merged`` (its
  characters read inside a longer run of other text), ``small`` (drawn below 30 px) and
  ``unread`` (most of it not read at all);

each three times on the same OCR reading: exact matching only (before), with near-miss
matching (claims read with one character dropped or confused count as uncertain review
evidence), and with near misses plus the second look (unsure lines read again from their
crops), whose cost is reported against the OCR time. Acceptance: recall >= 95% with <= 2%
of clean images flagged.

Run: ``.venv/bin/python bench/real_backgrounds.py [--photos DIR] [--images N] [--json]``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageStat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.base import TextLine  # noqa: E402
from models.images import decode_image  # noqa: E402
from models.reader import read_image  # noqa: E402
from models.registry import create_engine  # noqa: E402
from models.second_look import second_look  # noqa: E402
from rules import Decision, RuleSet, load_ruleset  # noqa: E402
from rules.normalize import Normalizer  # noqa: E402
from worker.pipeline import judge_lines, unsure_lines  # noqa: E402
from worker.samples import (  # noqa: E402
    CLAIMS,
    CLEAN_HEADLINES,
    CLEAN_LINES,
    CONTEXT,
    EVASIONS,
    PRODUCTS,
    Block,
    Style,
    available_fonts,
    compose,
    pick_ink,
)
from worker.settings import SHIPPED_RULES_DIR, Settings  # noqa: E402

CACHE = Path.home() / ".cache" / "adreview-bench"
SKIMAGE = "scikit-image==0.25.2"
#: The photographs in scikit-image's data folder (the drawings, charts and scans left out).
PHOTOS = (
    "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "rocket.jpg",
    "motorcycle_left.png", "motorcycle_right.png", "gravel.png", "grass.png", "brick.png",
    "moon.png", "hubble_deep_field.jpg", "retina.jpg", "clock_motion.png", "ihc.png",
    "color.png",
)  # fmt: skip
SIZES = ((800, 800), (750, 1000), (1200, 628), (640, 960))
SMALL_PX = 30
TARGETS = {"recall_min": 0.95, "clean_flagged_max": 0.02}


def fetch_photos(cache: Path) -> Path:
    """The scikit-image photographs, extracted once into ``cache/skimage-photos``."""
    folder = cache / "skimage-photos"
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not list(wheels.glob("scikit_image-*.whl")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
             "-q", "-d", str(wheels), SKIMAGE],
            check=True,
        )
    (wheel,) = sorted(wheels.glob("scikit_image-*.whl"))[-1:]
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in PHOTOS:
            (folder / name).write_bytes(archive.read(f"skimage/data/{name}"))
    return folder


@dataclass(frozen=True)
class Case:
    """One generated image: its bytes, the claim drawn on it (None for clean copy) and
    the pixel size the claim was drawn at."""

    name: str
    data: bytes
    claim: str | None
    canonical: str | None
    claim_px: int
    #: Every line of text drawn, in reading order (for character recall).
    drawn: tuple[str, ...] = ()


def _backdrop(rng: random.Random, photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A random crop of ``photo`` at the ad's aspect ratio, scaled to ``size``."""
    w, h = photo.size
    ratio = size[0] / size[1]
    crop_w = int(min(w, h * ratio) * rng.uniform(0.55, 1.0))
    crop_h = int(crop_w / ratio)
    x = rng.randint(0, max(0, w - crop_w))
    y = rng.randint(0, max(0, h - crop_h))
    return photo.crop((x, y, x + crop_w, y + crop_h)).resize(size, Image.Resampling.LANCZOS)


def _palette(image: Image.Image) -> list[tuple[int, int, int]]:
    """The colours text must stand out against: the mean of each horizontal third."""
    w, h = image.size
    colours = []
    for k in range(3):
        band = image.crop((0, k * h // 3, w, (k + 1) * h // 3))
        mean = ImageStat.Stat(band).mean
        colours.append((int(mean[0]), int(mean[1]), int(mean[2])))
    return colours


def make_cases(photos: Sequence[Path], images: int, seed: int = 0) -> list[Case]:
    """``images`` violating and ``images`` clean cases on crops of the photographs."""
    rng = random.Random(seed)
    loaded = [Image.open(p).convert("RGB") for p in photos]
    fonts = [f for f in available_fonts() if f != "hand"] or ["sans-bold"]
    claims = [*CLAIMS, *EVASIONS]
    cases: list[Case] = []
    for index in range(2 * images):
        violating = index % 2 == 0
        size = rng.choice(SIZES)
        backdrop = _backdrop(rng, rng.choice(loaded), size)
        palette = _palette(backdrop)
        ink = pick_ink(rng, palette, minimum=rng.choice((2.5, 3.5, 4.5)))
        product = rng.choice(PRODUCTS)
        effect = rng.choice(("none", "none", "stroke", "shadow"))
        accent = (255, 255, 255) if sum(ink) < 380 else (20, 20, 20)
        claim_px = rng.choice((24, 32, 40, 48, 56, 64))

        def style(px: int, accent: tuple[int, int, int] = accent, effect: str = effect,
                  ink: tuple[int, int, int] = ink) -> Style:
            return Style(rng.choice(fonts), px, ink, effect, accent,
                         angle=rng.choice((0.0, 0.0, 0.0, -6.0, 5.0)))

        rows: list[list[Block]] = [
            [Block(rng.choice(CLEAN_HEADLINES).replace("{p}", product), style(56))]]
        drawn = canonical = None
        if violating:
            drawn, canonical = rng.choice(claims)
            drawn = drawn.replace("{p}", product)
            rows.insert(rng.randint(0, 1),
                        [Block(drawn, style(claim_px), (canonical,), min_size=claim_px)])
        else:
            rows.append([Block(rng.choice(CONTEXT), style(claim_px))])
        for line in rng.sample(CLEAN_LINES, k=2):
            rows.append([Block(line, style(rng.choice((28, 32, 36))))])
        rendered = compose(rows, seed=f"real:{seed}:{index}", size=size,
                           backdrop=(backdrop, palette), decorate=False, product=False,
                           rotate=rng.choice((0.0, 0.0, 0.0, 3.0, -4.0)))
        if violating and canonical not in rendered.claims:
            continue  # the claim did not fit the card
        buffer = io.BytesIO()
        rendered.image.convert("RGB").save(buffer, "JPEG", quality=rng.randint(60, 85))
        cases.append(Case(f"{'claim' if violating else 'clean'}-{index:03d}", buffer.getvalue(),
                          drawn, canonical, claim_px, rendered.lines))
    return cases


def _fold(text: str) -> str:
    return Normalizer().fold(text)


def failure_mode(case: Case, lines: Sequence[TextLine]) -> str:
    """What OCR made of a claim the rules missed."""
    claim = _fold(case.claim or "")
    read = _fold("\n".join(line.text for line in lines))
    if any(claim[:i] + claim[i + 1 :] in read for i in range(len(claim))):
        return "dropped"
    if any(_one_off(claim, read[j : j + len(claim)]) for j in range(len(read) - len(claim) + 1)):
        return "confusable"
    found = sum(1 for ch in claim if ch in read)
    if found >= len(claim) * 0.8:
        return "merged"
    if case.claim_px < SMALL_PX:
        return "small"
    return "unread"


def _one_off(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _found(case: Case, decision: Decision, evidence: Sequence[Any], ruleset: RuleSet) -> bool:
    """Whether the drawn claim is among the evidence: a match of a rule that fires on the
    claim as written, or a match whose text lies inside the drawn claim (the OCR reading
    of it, 10%有效 for １００％有效)."""
    if decision is Decision.PASS:
        return False
    claim = _fold(case.claim or "")
    rules = {m.rule for m in ruleset.match(case.claim or "")}
    for item in evidence:
        text = _fold(item.text)
        if item.rule in rules or (text and (text in claim or claim in text)):
            return True
    return False


def measure(cases: Sequence[Case], ruleset: RuleSet, settings: Settings) -> dict[str, Any]:
    """OCR each case once, then judge its lines without and with near-miss matching."""
    engine = create_engine("rapidocr", settings)
    results: dict[str, dict[str, Any]] = {}
    read: list[tuple[Case, list[TextLine]]] = []
    frames = []
    started = time.perf_counter()
    for case in cases:
        decoded = decode_image(case.data, settings)
        frames.append(decoded)
        read.append((case, read_image(engine, decoded, settings)))
    ocr_seconds = time.perf_counter() - started
    started = time.perf_counter()
    looked: list[tuple[Case, list[TextLine]]] = []
    reread = changed = 0
    for (case, lines), decoded in zip(read, frames, strict=True):
        unsure = unsure_lines(lines, ruleset, settings)
        new = second_look(engine, decoded.frames, lines, unsure) if unsure else lines
        reread += len(unsure)
        changed += sum(1 for line in new if line.first_read is not None)
        looked.append((case, new))
    look_seconds = time.perf_counter() - started
    passes = (("exact", False, read), ("near_miss", True, read),
              ("second_look", True, looked))
    for label, near_miss, readings in passes:
        hits = misses = clean_flagged = clean = 0
        modes: Counter[str] = Counter()
        missed: list[dict[str, str]] = []
        for case, lines in readings:
            judged = judge_lines(lines, ruleset, settings.min_match_confidence,
                                 near_miss=near_miss)
            if case.claim is None:
                clean += 1
                clean_flagged += judged.decision is not Decision.PASS
                continue
            if _found(case, judged.decision, judged.evidence, ruleset):
                hits += 1
                continue
            misses += 1
            mode = failure_mode(case, lines)
            modes[mode] += 1
            missed.append({"image": case.name, "claim": case.claim, "mode": mode,
                           "read": " | ".join(line.text for line in lines)[:120]})
        total = hits + misses
        results[label] = {
            "violating": total,
            "found": hits,
            "recall": hits / total if total else 0.0,
            "clean": clean,
            "clean_flagged": clean_flagged,
            "clean_flagged_rate": clean_flagged / clean if clean else 0.0,
            "failure_modes": dict(modes),
            "missed": missed,
        }
    return {"images": len(cases), "ocr_seconds": round(ocr_seconds, 1),
            "second_look_cost": {"seconds": round(look_seconds, 2), "lines": reread,
                            "changed": changed,
                            "share_of_ocr": look_seconds / ocr_seconds if ocr_seconds else 0.0},
            **results}


def render(report: dict[str, Any]) -> str:
    out = [f"{report['images']} images on crops of {report['photos']} real photographs "
           f"({report['photo_dir']}); OCR {report['ocr_seconds']} s", ""]
    out.append(f"   {'matching':<12}{'claims':>8}{'found':>7}{'recall':>8}"
               f"{'clean':>7}{'flagged':>9}{'rate':>7}   failure modes of the misses")
    for label in ("exact", "near_miss", "second_look"):
        r = report[label]
        modes = ", ".join(f"{k} {v}" for k, v in sorted(r["failure_modes"].items())) or "-"
        out.append(f"   {label:<12}{r['violating']:>8}{r['found']:>7}{r['recall']:>8.1%}"
                   f"{r['clean']:>7}{r['clean_flagged']:>9}{r['clean_flagged_rate']:>7.1%}   {modes}")
    look = report["second_look_cost"]
    out += ["", f"   second look: {look['lines']} lines read again, {look['changed']} changed, "
                f"{look['seconds']} s = {look['share_of_ocr']:.1%} of the OCR time"]
    after = report["second_look"]
    ok = (after["recall"] >= TARGETS["recall_min"]
          and after["clean_flagged_rate"] <= TARGETS["clean_flagged_max"])
    out += ["", f"   target: recall >= 95% with <= 2% of clean images flagged -> "
                f"{'OK' if ok else 'MISSED'}", "", "   claims still missed:"]
    for item in after["missed"]:
        out.append(f"     [{item['mode']}] {item['claim']}  <- OCR: {item['read']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, help="a folder of real photographs")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--images", type=int, default=60, help="violating (and clean) images")
    parser.add_argument("--rules", type=Path, default=SHIPPED_RULES_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    folder = args.photos or fetch_photos(args.cache.expanduser())
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not photos:
        print(f"real_backgrounds: no photographs in {folder}", file=sys.stderr)
        return 2
    settings = Settings()
    cases = make_cases(photos, args.images, args.seed)
    report = {"photo_dir": str(folder), "photos": len(photos),
              **measure(cases, load_ruleset(args.rules), settings)}
    print(json.dumps(report, ensure_ascii=False) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
