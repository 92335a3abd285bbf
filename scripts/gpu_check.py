"""The GPU check: HunyuanOCR's engine on a tiny model in bf16, one image per call against
batches, outputs compared and timed. Run by ``scripts/gpu-check.sh``.

The tiny model is the test suite's (``tests.models.test_hunyuan.build_tiny_model``): the
same architecture and loading calls as HunyuanOCR, random weights. What it says is
nonsense, but a greedy decode of the same image must say the same nonsense whether the
image came alone or in a left-padded batch; where it does not, batched bf16 is not safe
to turn on (``ADREVIEW_HUNYUAN_BATCH_SIZE`` stays 1). Prints one report and exits 1 when
any output differs, 2 when there is no CUDA device (``--device cpu`` runs it anyway, in
float32, to check the script itself).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402


def images() -> list[Image.Image]:
    """Eight differently sized and coloured images, so a batch needs real padding."""
    # Within the tiny processor's range and aspect, so every image is at least 2 x 2 patches.
    sizes = [(120, 80), (40, 70), (64, 64), (96, 60), (60, 110), (50, 50), (100, 64), (48, 80)]
    found = []
    for number, size in enumerate(sizes):
        image = Image.new("RGB", size, (255 - 20 * number, 240, 20 * number))
        box = (2, 2, size[0] // 2, size[1] // 3)
        ImageDraw.Draw(image).rectangle(box, fill=(number * 30, 0, 0))
        found.append(image)
    return found


def timed(call: Callable[[], list[Any]], repeats: int) -> tuple[list[Any], float]:
    """The first result of ``call`` and its median seconds over ``repeats`` runs."""
    result = call()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return result, statistics.median(seconds)


def one_by_one(engine: Any, pictures: Sequence[Image.Image]) -> list[Any]:
    """Each image in a ``generate`` call of its own."""
    return [engine.generate([image])[0] for image in pictures]


def in_batches(engine: Any, pictures: Sequence[Image.Image], size: int) -> list[Any]:
    """The images in ``generate`` calls of ``size``."""
    return [reply for start in range(0, len(pictures), size)
            for reply in engine.generate(pictures[start : start + size])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from models.hunyuan import HunyuanEngine
    from tests.models.test_hunyuan import build_tiny_model
    from worker.settings import Settings

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: the GPU check needs one (--device cpu checks the script)")
        return 2
    with tempfile.TemporaryDirectory() as folder:
        build_tiny_model(Path(folder))
        report: list[str] = []
        failures = 0
        for attention in ("eager", "sdpa"):
            engines = {
                size: HunyuanEngine.from_settings(Settings(
                    hunyuan_model=folder, hunyuan_device=args.device,
                    hunyuan_batch_size=size, hunyuan_max_new_tokens=args.tokens,
                    hunyuan_attn_implementation=attention))
                for size in (1, args.batch)
            }
            for engine in engines.values():
                engine.load()
            pictures = images()
            single, single_s = timed(partial(one_by_one, engines[1], pictures), args.repeats)
            batched, batched_s = timed(
                partial(in_batches, engines[args.batch], pictures, args.batch), args.repeats)
            differ = [n for n, (a, b) in enumerate(zip(single, batched, strict=True))
                      if a.text != b.text]
            failures += len(differ)
            loaded = engines[1]._loaded
            dtype = loaded.dtype if loaded is not None else "?"
            report.append(
                f"{attention:6s} {dtype!s:15s} images {len(pictures)}  tokens {args.tokens}  "
                f"one by one {single_s:.3f} s  batches of {args.batch} {batched_s:.3f} s  "
                f"(x{single_s / batched_s:.2f})  outputs differing: "
                f"{len(differ)}{' ' + str(differ) if differ else ''}")
        device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
        print(f"GPU check on {device}, torch {torch.__version__}")
        print("\n".join(report))
        print("batched output equals single" if not failures else
              f"batched output differs from single on {failures} image(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
