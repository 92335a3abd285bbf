"""``adreview scan`` throughput against raw RapidOCR calls, measured in the same run.

All variants run as fresh processes on the same generated ad images, so each pays its own
start-up and model load:

* baselines — a loop of raw ``RapidOCR(...)`` calls on the image files with the engine's
  parameters and nothing else (no decoding checks, no rule matching, no database), once
  on one core (one onnxruntime thread) and once on all cores (onnxruntime's threads
  spread over every core, as one scan process does);
* ``scan --jobs 1`` — the whole product in one process: safe decoding, OCR, matching,
  SQLite writes; goal at least 0.9x the all-cores baseline (same threads);
* ``scan --jobs 2`` — two worker processes, each with its share of the cores; goal at
  least 1.7x the one-core baseline (one process per core against one core), and the
  ratio against the all-cores baseline reported beside it;
* a second scan of the same images on the first scan's database — the OCR cache means no
  image is read again; goal at most 5% of the first scan's time.

Run: ``.venv/bin/python bench/scan.py [--images N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.samples import corpus  # noqa: E402

BASELINE = """
import sys, time
from pathlib import Path
from rapidocr_onnxruntime import RapidOCR
from models.rapidocr import DEFAULT_PARAMS, thread_count
ocr = RapidOCR(intra_op_num_threads=thread_count(int(sys.argv[2])), inter_op_num_threads=1,
               **DEFAULT_PARAMS.kwargs())
lines = 0
for path in sorted(Path(sys.argv[1]).iterdir()):
    result, _ = ocr(str(path))
    lines += len(result or [])
print(lines)
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=56, help="Images to scan (default 56).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ADREVIEW_WORKER_PROCESSES", None)
    with tempfile.TemporaryDirectory(prefix="adreview-bench-") as tmp:
        folder = Path(tmp) / "ads"
        folder.mkdir()
        ads = corpus(seed=11, per_group=max(1, -(-args.images // 7)))[: args.images]
        for index, ad in enumerate(ads):
            ad.image.save(folder / f"{index:03d}-{ad.group}.jpg", quality=92)
        n = len(ads)
        scan = [sys.executable, "-m", "worker.cli", "scan", str(folder), "--json"]
        db1 = f"sqlite:///{Path(tmp) / 'one.db'}"
        db2 = f"sqlite:///{Path(tmp) / 'two.db'}"

        one_core, _ = timed([sys.executable, "-c", BASELINE, str(folder), "1"], env)
        baseline, _ = timed([sys.executable, "-c", BASELINE, str(folder), "0"], env)
        jobs1, out1 = timed([*scan, "--jobs", "1", "--db", db1], env)
        jobs2, out2 = timed([*scan, "--jobs", "2", "--db", db2], env)
        cached, out3 = timed([*scan, "--jobs", "1", "--db", db1], env)

    decisions = [json.loads(line)["decision"] for line in out1.splitlines()]
    assert len(decisions) == n, (len(decisions), n)
    assert decisions == [json.loads(line)["decision"] for line in out2.splitlines()]
    assert decisions == [json.loads(line)["decision"] for line in out3.splitlines()]
    figures = {
        "images": n,
        "cores": os.cpu_count(),
        "baseline_one_core_s": round(one_core, 2),
        "baseline_all_cores_s": round(baseline, 2),
        "baseline_all_cores_images_per_s": round(n / baseline, 3),
        "scan_jobs1_s": round(jobs1, 2),
        "scan_jobs2_s": round(jobs2, 2),
        "rescan_cached_s": round(cached, 2),
        "jobs1_vs_all_cores": round(baseline / jobs1, 3),
        "jobs2_vs_one_core": round(one_core / jobs2, 3),
        "jobs2_vs_all_cores": round(baseline / jobs2, 3),
        "cached_vs_first": round(cached / jobs1, 4),
    }
    goals = {
        "jobs1_vs_all_cores >= 0.9": figures["jobs1_vs_all_cores"] >= 0.9,
        "jobs2_vs_one_core >= 1.7": figures["jobs2_vs_one_core"] >= 1.7,
        "cached_vs_first <= 0.05": figures["cached_vs_first"] <= 0.05,
    }
    if args.json:
        print(json.dumps({**figures, "goals": goals}))
        return
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    for goal, met in goals.items():
        print(f"{'met' if met else 'MISSED':>32}: {goal}")


if __name__ == "__main__":
    main()
