"""RapidOCR on onnxruntime: the embedded default engine (CPU, real boxes and scores).

``rapidocr-onnxruntime==1.4.4`` carries the PP-OCRv4 detection and recognition models and
the direction classifier inside its wheel, so nothing is downloaded at run time.

Several worker processes share one machine, so each process gives onnxruntime only its
share of the cores: ``settings.ocr_threads`` intra-op threads, or when that is 0,
``cores // ADREVIEW_WORKER_PROCESSES`` (the scan pool sets that variable in each child).
The RapidOCR object is built on the first ``recognize`` call in each process, never in a
parent that will fork (onnxruntime's thread pools do not survive ``fork``).

Boxes run along the text (``TextLine``). RapidOCR gives every box from the image's top
left, clockwise, whichever way the text runs; it turns the crop of a box at least 1.5
times as tall as wide a quarter turn before recognising it (a vertical line then reads
left to right, top first), and its direction classifier turns a crop upside down when
the text stands on its head. Its result drops the classifier's verdicts, so the engine
keeps what the classifier was given and said (``_Recorder``) and turns each box to match:
a page photographed sideways reads up or down the image, and evidence boxes of vertical
lines cover the matched characters, not a sliver across the column.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from models.base import Box, TextLine
from worker.errors import EngineUnavailable, OcrError
from worker.settings import Settings

log = logging.getLogger(__name__)

#: The distribution whose wheel carries the models.
PACKAGE = "rapidocr-onnxruntime"
#: Environment variable the scan pool sets in each worker process: how many share the cores.
WORKER_PROCESSES_ENV = "ADREVIEW_WORKER_PROCESSES"
#: Bumped whenever what this module makes of RapidOCR's output changes; part of
#: ``version``, so OCR stored by an earlier revision is read again. 2: boxes along the text.
OUTPUT_REVISION = 2


@dataclass(frozen=True)
class RapidOcrParams:
    """Detection and recognition parameters handed to RapidOCR.

    The defaults are RapidOCR 1.4.4's own except where ad images read better otherwise:

    ``max_side_len``
        RapidOCR shrinks any image whose long side exceeds this before detection. Its
        default, 2000, would shrink the tiles the reader cuts (up to ``max_tile_side``,
        2048 px by default), so it is 2048 here and ``from_settings`` raises it to a
        larger tile size.
    ``box_thresh`` / ``unclip_ratio``
        Ad text sits on busy, low-contrast backgrounds; a lower box threshold (0.3 instead
        of 0.5) keeps faint and small lines, and a larger unclip ratio (1.8 instead of 1.6)
        keeps the ends of outlined and brush strokes inside the crop. On the generated
        corpus this lifts character recall on small/low-contrast ads from 86.8 % to 89.4 %
        and on rotated ones from 97.0 % to 98.2 %.
    ``text_score``
        RapidOCR drops lines recognised below this confidence. Lowering it added no
        recall on the corpus, only noise, so it stays at 0.5.
    """

    text_score: float = 0.5
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    det_thresh: float = 0.3
    limit_side_len: int = 736
    limit_type: str = "min"
    max_side_len: int = 2000
    use_cls: bool = True

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``RapidOCR(...)`` these parameters stand for."""
        return {
            "text_score": self.text_score,
            "use_cls": self.use_cls,
            "max_side_len": self.max_side_len,
            "det_box_thresh": self.box_thresh,
            "det_unclip_ratio": self.unclip_ratio,
            "det_thresh": self.det_thresh,
            "det_limit_side_len": self.limit_side_len,
            "det_limit_type": self.limit_type,
        }

    def fingerprint(self) -> str:
        """A short stable hash of the parameters (they change what is read)."""
        text = json.dumps(self.kwargs(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


#: Parameters tuned on the generated ad corpus (see ``tests/models/test_rapidocr.py``).
DEFAULT_PARAMS = RapidOcrParams(box_thresh=0.3, unclip_ratio=1.8, max_side_len=2048)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def worker_processes() -> int:
    """How many worker processes share this machine (``ADREVIEW_WORKER_PROCESSES``, default 1)."""
    raw = os.environ.get(WORKER_PROCESSES_ENV, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        log.warning("ignoring %s=%r: not a whole number", WORKER_PROCESSES_ENV, raw)
        return 1
    return max(1, value)


def thread_count(configured: int) -> int:
    """onnxruntime intra-op threads for this process.

    ``configured`` > 0 is used as given (capped at the core count, above which onnxruntime
    would be left at its all-cores default by RapidOCR); 0 means this process's share of
    the cores: ``cores // worker processes``, at least 1.
    """
    cores = available_cores()
    if configured > 0:
        return min(configured, os.cpu_count() or cores)
    return max(1, cores // worker_processes())


@cache
def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent


@cache
def package_version() -> str:
    """``rapidocr-onnxruntime-<version>/<det>+<rec>+<cls>``, from the installed package.

    Read from the package metadata and its ``config.yaml`` without importing it, so it is
    cheap and the same in every process.
    """
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return f"{PACKAGE}-missing"
    models = ["det", "rec", "cls"]
    folder = _package_dir()
    if folder is not None:
        import yaml

        try:
            config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
            models = [Path(config[part]["model_path"]).stem for part in ("Det", "Rec", "Cls")]
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            log.warning("cannot read the model names from rapidocr's config.yaml")
    return f"{PACKAGE}-{version}/{'+'.join(models)}"


def to_bgr(image: Image.Image) -> npt.NDArray[np.uint8]:
    """The pixel array RapidOCR wants: 3-channel uint8 in OpenCV's BGR order.

    RapidOCR converts PIL images and files from RGB itself but takes a numpy array as
    BGR unchanged; handing it the array ourselves keeps palette, alpha and greyscale
    modes under our control (flattened onto white by ``convert("RGB")``).
    """
    if image.mode != "RGB":
        if "A" in image.getbands() or image.mode == "P":
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
    rgb = np.asarray(image, dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


class RapidOcrEngine:
    """RapidOCR (PP-OCRv4 on onnxruntime) behind the ``OcrEngine`` protocol."""

    name = "rapidocr"

    def __init__(self, *, threads: int = 0, params: RapidOcrParams = DEFAULT_PARAMS) -> None:
        self.threads = threads
        self.params = params
        self.version = f"{package_version()}/{params.fingerprint()}/r{OUTPUT_REVISION}"
        self._lock = threading.Lock()
        self._ocr: Any = None
        self._pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Sent to another process: the settings travel, the loaded runtime does not.
        return {"threads": self.threads, "params": self.params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(threads=state["threads"], params=state["params"])  # type: ignore[misc]

    @classmethod
    def from_settings(cls, settings: Settings) -> RapidOcrEngine:
        """The engine configured by ``settings`` (threads; tiles are read unshrunk)."""
        longest = max(DEFAULT_PARAMS.max_side_len, settings.max_tile_side)
        params = replace(DEFAULT_PARAMS, max_side_len=longest)
        return cls(threads=settings.ocr_threads, params=params)

    @staticmethod
    def is_available() -> bool:
        """Whether ``rapidocr_onnxruntime`` (and onnxruntime under it) imports here."""
        return _importable()

    def runtime(self) -> Any:
        """The process's RapidOCR object, built on first use (once per process)."""
        pid = os.getpid()
        if self._ocr is not None and self._pid == pid:
            return self._ocr
        with self._lock:
            if self._ocr is None or self._pid != pid:
                self._ocr = self._build()
                self._pid = pid
            return self._ocr

    def _build(self) -> Any:
        try:
            module = importlib.import_module("rapidocr_onnxruntime")
        except ImportError as exc:
            raise EngineUnavailable(f"rapidocr_onnxruntime cannot be imported: {exc}") from exc
        threads = thread_count(self.threads)
        try:
            ocr = module.RapidOCR(
                intra_op_num_threads=threads, inter_op_num_threads=1, **self.params.kwargs()
            )
        except Exception as exc:
            raise EngineUnavailable(f"RapidOCR could not load its models: {exc}") from exc
        ocr.text_cls = _Recorder(ocr.text_cls)
        ocr.text_rec = _Recorder(ocr.text_rec)
        log.info("RapidOCR loaded in process %d with %d onnxruntime threads", os.getpid(), threads)
        return ocr

    def session_threads(self) -> dict[str, tuple[int, int]]:
        """(intra_op, inter_op) threads of each onnxruntime session, as the sessions report."""
        ocr = self.runtime()
        parts = {"det": ocr.text_det, "cls": ocr.text_cls, "rec": ocr.text_rec}
        result = {}
        for part, model in parts.items():
            # 1.4.4 keeps its OrtInferSession as ``infer`` (det, cls) or ``session`` (rec).
            wrapper = getattr(model, "infer", None) or model.session
            options = wrapper.session.get_session_options()
            result[part] = (options.intra_op_num_threads, options.inter_op_num_threads)
        return result

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        """Read every image; lines in RapidOCR's top-to-bottom order, boxes in image pixels.

        Images are read one at a time under a lock: onnxruntime already spreads each image
        over this process's threads, and RapidOCR keeps per-call state on the object.
        """
        ocr = self.runtime()
        results: list[list[TextLine]] = []
        for index, image in enumerate(images):
            pixels = pad_thin(to_bgr(image), self.params.max_side_len)
            try:
                with self._lock:
                    ocr.text_cls.clear()
                    ocr.text_rec.clear()
                    raw, _elapsed = ocr(pixels)
                    turns = _turns(ocr, len(raw or ()))
            except Exception as exc:
                raise OcrError(
                    f"RapidOCR failed on image {index} ({image.width}x{image.height}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            results.append(_lines(raw, image.width, image.height, turns))
        return results


    def read_line(self, image: Image.Image) -> tuple[str, float] | None:
        """Recognise ``image`` as one line of text, without detection (a second look at a
        line's crop): its text and score, or None when nothing was read."""
        ocr = self.runtime()
        try:
            with self._lock:
                raw, _elapsed = ocr(to_bgr(image), use_det=False, use_cls=False)
        except Exception as exc:
            raise OcrError(f"RapidOCR failed on a line crop: {type(exc).__name__}: {exc}") from exc
        if not raw:
            return None
        text, score = raw[0][0], raw[0][1]
        text = str(text).strip()
        return (text, float(score)) if text else None


def pad_thin(pixels: npt.NDArray[np.uint8], max_side_len: int) -> npt.NDArray[np.uint8]:
    """Pad a long thin strip at its bottom/right edge so RapidOCR can shrink it.

    RapidOCR scales an image whose long side exceeds ``max_side_len`` and rounds both
    sides to multiples of 32; a short side that would round to 0 makes it fail. Padding
    repeats the edge pixels after the image, so coordinates of the original are unchanged.
    """
    height, width = pixels.shape[:2]
    longest = max(height, width)
    if longest <= max_side_len or min(height, width) == 0:
        return pixels
    needed = math.ceil(32 * longest / max_side_len)
    pad_h = max(0, needed - height)
    pad_w = max(0, needed - width)
    if not pad_h and not pad_w:
        return pixels
    return np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


class _Recorder:
    """A RapidOCR stage that keeps what it was last given and what it gave back."""

    def __init__(self, stage: Any) -> None:
        self.stage = stage
        self.given: tuple[Any, ...] | None = None
        self.gave: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.given = args
        self.gave = self.stage(*args, **kwargs)
        return self.gave

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stage, name)

    def clear(self) -> None:
        """Forget the last call (a call may end before reaching this stage)."""
        self.given = self.gave = None


#: How a crop was turned before it was recognised: a quarter turn, a half turn.
Turn = tuple[bool, bool]


def _turns(ocr: Any, count: int) -> list[Turn] | None:
    """How each of the ``count`` lines of the last call was turned, in order; None when
    the stages' records do not add up to the result (nothing then is turned)."""
    cls, rec = ocr.text_cls, ocr.text_rec
    if not isinstance(cls, _Recorder) or cls.given is None or cls.gave is None:
        return None
    if not isinstance(rec, _Recorder) or rec.gave is None:
        return None
    crops, verdicts, recognised = cls.given[0], cls.gave[1], rec.gave[0]
    # RapidOCR drops lines recognised below its text score; the rest keep their order.
    kept = [i for i, read in enumerate(recognised) if float(read[1]) >= ocr.text_score]
    if len(kept) != count or len(crops) != len(verdicts) or len(crops) != len(recognised):
        log.debug("cannot tell which way RapidOCR's lines run; boxes left as given")
        return None
    turns = []
    for i in kept:
        label, score = verdicts[i]
        flipped = "180" in str(label) and float(score) > float(cls.cls_thresh)
        height, width = crops[i].shape[:2]
        turns.append((width > height, flipped))
    return turns


def _along(box: Box, turn: Turn) -> Box:
    """RapidOCR's box (image top left first, clockwise) as a box along the text.

    A quarter turn is taken only for a box taller than wide (RapidOCR's rule), so a
    crop that came out wider than tall from a tall box was turned.
    """
    quarter, half = turn
    p0, p1, p2, p3 = box
    height = max(math.dist(p0, p3), math.dist(p1, p2))
    width = max(math.dist(p0, p1), math.dist(p2, p3))
    if quarter and height > width:
        return (p3, p0, p1, p2) if half else (p1, p2, p3, p0)
    return (p2, p3, p0, p1) if half else box


def _lines(
    raw: Any, width: int, height: int, turns: Sequence[Turn] | None = None
) -> list[TextLine]:
    """RapidOCR's ``[[points, text, score], ...]`` (None when nothing was found) as lines,
    boxes turned along the text by ``turns`` (one per entry of ``raw``).

    Points are clipped to the image (padding added by ``pad_thin`` lies outside it).
    """
    if not raw:
        return []
    lines = []
    for number, (points, text, score) in enumerate(raw):
        text = str(text).strip()
        if not text:
            continue
        box: Box = tuple(  # type: ignore[assignment]
            (min(max(float(x), 0.0), float(width)), min(max(float(y), 0.0), float(height)))
            for x, y in points
        )
        if turns is not None:
            box = _along(box, turns[number])
        lines.append(TextLine(text, box, float(score)))
    return lines


@cache
def _importable() -> bool:
    """Whether the packages are installed, without importing them (onnxruntime and OpenCV
    take a while to import, and a scan whose images are all cached never needs them).
    A broken install still fails, as ``EngineUnavailable``, when the runtime is built."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("rapidocr_onnxruntime", "onnxruntime", "cv2")
    )
