"""HunyuanOCR through ``transformers``: batched text spotting on CPU or one GPU.

The model comes from a local folder or a hub id with a pinned revision (the hub id's root
changed from HunyuanOCR 1.0 to 1.5, so an unpinned id would silently change what a stored
verdict means). Nothing is loaded when the engine is built: the model is loaded on the
first ``recognize`` call, once per process, so a prefork parent never touches CUDA.

Run as Tencent runs it: the whole image (``WholeImage``: tiled only past the processor's
max_pixels or its aspect-ratio limit of 200), eager attention, bf16 on a GPU that has it
(float32 otherwise: never fp16), one image per ``generate`` call by default, the official
spotting prompt in the model's chat template (padded on the left when batched), greedy
decoding with repetition penalty 1.08, at most 8192 new tokens and a tail-repetition
stop. Only the new tokens are decoded; runaway repetition is trimmed and the reply parsed
into lines whose boxes are in pixels of the original images. A reply that reached the cap
or was stopped is a truncated ``Reading``; the engine version names every generation
setting, so changing one re-reads what was cached.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from models.base import Reading, TextLine
from models.hunyuan_output import (
    REPETITION_PENALTY,
    SPOTTING_PROMPT,
    RepetitionStop,
    build_messages,
    is_no_text_reply,
    parse_spotting,
    trim_repetition,
)
from models.tiling import WholeImage
from worker.errors import AdreviewError, ConfigError, EngineUnavailable, OcrError
from worker.settings import Settings

log = logging.getLogger(__name__)

#: Files whose content identifies a local model folder (those present are hashed).
IDENTITY_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "model.safetensors.index.json",
)

#: Attention implementations transformers offers HunyuanOCR; Tencent runs ``eager``.
ATTENTION = ("eager", "sdpa", "flash_attention_2")

#: The tail-repetition stop decodes the reply every this many new tokens.
STOP_PROBE_TOKENS = 64

#: The processor's pixel budget when its configuration names none (transformers' default).
DEFAULT_MAX_PIXELS = 2048 * 2048

#: ``owner/name`` as the hub spells repository ids; anything else is taken for a folder.
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: a local folder, or a hub id at a pinned revision."""

    location: str
    revision: str | None
    local: bool

    @property
    def version(self) -> str:
        """The engine version stored with OCR results read from this source."""
        if self.local:
            return f"hunyuan:{Path(self.location).name}@{_folder_digest(Path(self.location))}"
        return f"hunyuan:{self.location}@{self.revision}"

    @classmethod
    def resolve(cls, model: str, revision: str | None) -> ModelSource:
        """Decide whether ``model`` is a folder or a hub id, and check what can be checked
        without loading anything.

        Raises ``EngineUnavailable`` for a missing or incomplete folder and ``ConfigError``
        for a hub id without a pinned revision.
        """
        path = Path(model).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise EngineUnavailable(
                    f"HunyuanOCR model folder {str(path)!r} has no config.json; "
                    "point ADREVIEW_HUNYUAN_MODEL at a folder saved by save_pretrained"
                )
            # A folder holds exactly one version: any revision setting does not apply.
            return cls(str(path.resolve()), None, local=True)
        if path.exists() or not _HUB_ID_RE.match(model):
            raise EngineUnavailable(f"HunyuanOCR model folder {model!r} does not exist")
        if not revision:
            raise ConfigError(
                f"HunyuanOCR hub id {model!r} (no local folder of that name exists) needs a "
                "pinned revision: set ADREVIEW_HUNYUAN_REVISION to a commit hash of that "
                "repository (its root now holds HunyuanOCR-1.5; 1.0 lives under v1.0/), or set "
                "ADREVIEW_HUNYUAN_MODEL to a local model folder"
            )
        return cls(model, revision, local=False)


def _folder_digest(folder: Path) -> str:
    """A short content hash of a model folder's configuration and weight file sizes."""
    digest = hashlib.sha256()
    for name in IDENTITY_FILES:
        file = folder / name
        if file.is_file():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    for weights in sorted(folder.glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Reply:
    """What the model generated for one image.

    ``text`` is the decoded new tokens (special tokens skipped), ``new_tokens`` how many
    tokens were generated up to and including the end-of-sequence token, ``truncated``
    whether generation stopped at the ``max_new_tokens`` cap instead, ``stopped`` whether
    the tail-repetition stop ended it.
    """

    text: str
    new_tokens: int
    truncated: bool
    stopped: bool = False

    @property
    def cut_short(self) -> bool:
        """Whether the model was stopped before it finished (cap or repetition stop)."""
        return self.truncated or self.stopped


def read_reply(reply: Reply, size: tuple[int, int]) -> list[TextLine]:
    """The lines of one reply, boxes in pixels of the original image of ``size`` (w, h).

    The model saw a resized copy, but its coordinates are normalised to 0-1000, so the
    original size is what turns them into pixels.
    """
    width, height = size
    text = trim_repetition(reply.text)
    if reply.cut_short:
        log.warning(
            "HunyuanOCR %s (%d tokens) on a %dx%d image; "
            "%d of %d characters kept after trimming repetition",
            "was stopped repeating itself" if reply.stopped else "stopped at the new-token cap",
            reply.new_tokens,
            width,
            height,
            len(text),
            len(reply.text),
        )
    lines = parse_spotting(text, width, height)
    if not lines and not is_no_text_reply(text):
        log.warning("HunyuanOCR reply has no readable lines: %.200r", text)
    return lines


@dataclass
class _Loaded:
    """The model and processor of one process, with the device they live on."""

    model: Any
    processor: Any
    device: str
    dtype: Any
    pid: int


#: The first transformers whose PIL processor loads HunyuanOCR without torchvision.
TRANSFORMERS_WITHOUT_TORCHVISION = (5, 22)

#: The first transformers with HunyuanOCR (``hunyuan_vl``).
TRANSFORMERS_MIN = (5, 13)

#: The oldest torch the supported transformers releases load with.
TORCH_MIN = (2, 6)


def _release(version: str) -> tuple[int, ...]:
    """``"5.22.0.dev0"`` -> ``(5, 22)``: the release's major and minor numbers."""
    numbers = re.findall(r"\d+", version)[:2]
    return tuple(int(n) for n in numbers)


@cache
def missing_requirements() -> str | None:
    """What keeps ``load()`` from working here, in words; None when nothing does.

    Checks what loading needs without importing torch or the model's module (that
    import pulls in much of torch, seconds on a busy CPU, and a task's time limit that
    interrupts it leaves the process's modules half initialised): torch >= 2.6,
    transformers >= 5.13 with ``hunyuan_vl``, and torchvision where transformers is
    older than 5.22 (its processor needs it there).
    """
    from importlib import metadata, util

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch is not installed"
    if _release(torch_version) < TORCH_MIN:
        return f"torch {torch_version} is older than 2.6"
    try:
        transformers_version = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return "transformers is not installed"
    release = _release(transformers_version)
    try:
        has_model = util.find_spec("transformers.models.hunyuan_vl") is not None
    except (ImportError, ValueError):
        has_model = False
    if release < TRANSFORMERS_MIN or not has_model:
        return f"transformers {transformers_version} has no HunyuanOCR (hunyuan_vl)"
    if release < TRANSFORMERS_WITHOUT_TORCHVISION and util.find_spec("torchvision") is None:
        return (f"transformers {transformers_version} needs torchvision to load HunyuanOCR's "
                "processor (or upgrade to transformers>=5.22)")
    return None


def _transformers_ready() -> bool:
    return missing_requirements() is None


class HunyuanEngine:
    """HunyuanOCR text spotting through ``transformers`` (``HunYuanVLForConditionalGeneration``).

    Built from a model source and generation limits; the model itself is loaded lazily,
    under a lock, on the first call that needs it (``recognize``, ``generate`` or
    ``load``). Generation calls are serialised: the model keeps per-call state
    (multimodal position offsets) between its forward passes.
    """

    name = "hunyuan"

    def __init__(
        self,
        source: ModelSource,
        *,
        device: str | None = None,
        batch_size: int = 1,
        max_new_tokens: int = 8192,
        attn_implementation: str = "eager",
        repeat_stop: RepetitionStop | None = None,
        local_files_only: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"HunyuanOCR batch size must be at least 1, got {batch_size}")
        if max_new_tokens < 1:
            raise ConfigError(f"HunyuanOCR max_new_tokens must be at least 1, got {max_new_tokens}")
        if attn_implementation not in ATTENTION:
            raise ConfigError(
                f"HunyuanOCR attention {attn_implementation!r} is not one of {', '.join(ATTENTION)}"
            )
        self.source = source
        self.device = device
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.attn_implementation = attn_implementation
        self.repeat_stop = repeat_stop or RepetitionStop()
        self.version = f"{source.version}|{self.generation_settings()}"
        # Local folders never reach for the network; hub ids follow HF_HUB_OFFLINE unless told.
        self.local_files_only = local_files_only or source.local
        self.load_count = 0
        self._loaded: _Loaded | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> HunyuanEngine:
        """The engine ``settings.hunyuan_*`` describe (nothing is loaded yet)."""
        return cls(
            ModelSource.resolve(settings.hunyuan_model, settings.hunyuan_revision),
            device=settings.hunyuan_device,
            batch_size=settings.hunyuan_batch_size,
            max_new_tokens=settings.hunyuan_max_new_tokens,
            attn_implementation=settings.hunyuan_attn_implementation,
        )

    @staticmethod
    def is_available() -> bool:
        """Whether what ``load()`` needs is installed (see ``missing_requirements``)."""
        return _transformers_ready()

    def generation_settings(self) -> str:
        """Every setting that changes what the model reads, as it enters ``version``."""
        return (f"max_new_tokens={self.max_new_tokens},"
                f"repetition_penalty={REPETITION_PENALTY},{self.repeat_stop.describe()},"
                f"attn={self.attn_implementation},batch={self.batch_size}")

    def whole_image(self) -> WholeImage:
        """The processor's limits: images within them are read whole (loads the model)."""
        loaded = self._ensure_loaded()
        processor = loaded.processor.image_processor
        # transformers keeps max_pixels as size.longest_edge (a SizeDict), older ones as-is.
        size = getattr(processor, "size", None)
        max_pixels = getattr(size, "longest_edge", None) or getattr(processor, "max_pixels", None)
        return WholeImage(int(max_pixels or DEFAULT_MAX_PIXELS))

    @property
    def is_loaded(self) -> bool:
        """Whether this process has loaded the model yet."""
        return self._loaded is not None

    def load(self) -> None:
        """Load the model now (e.g. in a worker child's start-up) instead of on first use."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None:
            with self._load_lock:
                loaded = self._loaded
                if loaded is None:
                    loaded = self._load()
                    self._loaded = loaded
                    self.load_count += 1
        if loaded.pid != os.getpid() and loaded.device.startswith("cuda"):
            raise EngineUnavailable(
                "HunyuanOCR was loaded on CUDA before this process was forked; load it in the "
                "worker process (lazily) or run GPU workers with the solo or threads pool"
            )
        return loaded

    def _load(self) -> _Loaded:
        missing = missing_requirements()
        if missing is not None:
            raise EngineUnavailable(
                f"HunyuanOCR cannot load here: {missing}; pip install 'adreview[hunyuan]'"
            )
        import torch

        # Typed as Any: transformers' auto classes are untyped and its decorators confuse mypy.
        transformers: Any = importlib.import_module("transformers")
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineUnavailable(f"HunyuanOCR device {device!r} requested but CUDA is absent")
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            dtype = torch.bfloat16
        else:
            # Tencent runs bf16; fp16 was never validated, so a GPU without bf16 gets float32.
            if device.startswith("cuda"):
                log.warning("this GPU has no bfloat16: HunyuanOCR runs in float32, not float16")
            dtype = torch.float32
        where = self.source.location + (f"@{self.source.revision}" if self.source.revision else "")
        options: dict[str, Any] = {"local_files_only": self.local_files_only}
        if self.source.revision:
            options["revision"] = self.source.revision
        log.info("loading HunyuanOCR from %s on %s (%s)", where, device, dtype)
        try:
            processor = transformers.AutoProcessor.from_pretrained(
                self.source.location, backend="pil", **options
            )
            model = transformers.HunYuanVLForConditionalGeneration.from_pretrained(
                self.source.location, dtype=dtype,
                attn_implementation=self.attn_implementation, **options
            )
            model.to(device)
            model.eval()
        except Exception as exc:
            raise EngineUnavailable(
                f"cannot load HunyuanOCR from {where}: {type(exc).__name__}: {exc}"
            ) from exc
        # Generation appends to the right end of every row, so prompts are padded on the left.
        processor.tokenizer.padding_side = "left"
        return _Loaded(model, processor, device, dtype, os.getpid())

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        """Spot the text of every image; per image, its lines in pixels of that image."""
        return [reading.lines for reading in self.read(images)]

    def read(self, images: Sequence[Image.Image]) -> list[Reading]:
        """Spot the text of every image, each reading marked when it was cut short."""
        results: list[Reading] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            for image, reply in zip(chunk, self.generate(chunk), strict=True):
                results.append(Reading(read_reply(reply, image.size), reply.cut_short))
        return results

    def generate(self, images: Sequence[Image.Image]) -> list[Reply]:
        """Run the spotting prompt on one batch of images and return the raw replies."""
        if not images:
            return []
        loaded = self._ensure_loaded()
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        with self._generate_lock:
            try:
                return self._generate(loaded, rgb)
            except AdreviewError:
                raise
            except Exception as exc:
                if len(rgb) > 1 and type(exc).__name__ == "OutOfMemoryError":
                    # A batch of large images may not fit where each one alone does.
                    log.warning("HunyuanOCR out of memory on %d images; one at a time", len(rgb))
                    _empty_cache(loaded)
                    try:
                        return [reply for image in rgb for reply in self._generate(loaded, [image])]
                    except Exception as retry_exc:
                        exc = retry_exc
                sizes = ", ".join(f"{image.width}x{image.height}" for image in rgb)
                raise OcrError(
                    f"HunyuanOCR generation failed on {len(rgb)} image(s) ({sizes}) on "
                    f"{loaded.device}: {type(exc).__name__}: {exc}"
                ) from exc

    def _generate(self, loaded: _Loaded, images: list[Image.Image]) -> list[Reply]:
        import torch

        processor = loaded.processor
        model = loaded.model
        prompts = [
            processor.apply_chat_template(
                build_messages({"type": "image", "image": image}, SPOTTING_PROMPT),
                tokenize=False,
                add_generation_prompt=True,
            )
            for image in images
        ]
        inputs = processor(text=prompts, images=images, padding=True, return_tensors="pt")
        inputs = inputs.to(loaded.device)
        config = self._generation_config(loaded)
        prompt_length = inputs["input_ids"].shape[1]
        stop = tail_repetition_stop(
            processor.tokenizer, prompt_length, len(images), self.repeat_stop
        )
        with torch.inference_mode():
            output = model.generate(
                **inputs, generation_config=config, stopping_criteria=[stop]
            )
        new = output[:, prompt_length:]
        texts: list[str] = processor.batch_decode(
            new, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        eos = config.eos_token_id
        eos_ids = {eos} if isinstance(eos, int) else set(eos or [])
        replies = []
        for number, (row, text) in enumerate(zip(new.tolist(), texts, strict=True)):
            ended = next((i + 1 for i, token in enumerate(row) if token in eos_ids), None)
            count = ended if ended is not None else len(row)
            stopped = ended is None and stop.stops[number].stopped
            replies.append(Reply(text, count, ended is None and count >= self.max_new_tokens,
                                 stopped))
        return replies

    def _generation_config(self, loaded: _Loaded) -> Any:
        """Greedy decoding, the repetition penalty and the cap, over the model's own ids."""
        config = copy.deepcopy(loaded.model.generation_config)
        tokenizer = loaded.processor.tokenizer
        config.do_sample = False
        # Sampling knobs a checkpoint may ship would only draw warnings under greedy search.
        config.temperature = None
        config.top_p = None
        config.top_k = None
        config.num_beams = 1
        config.repetition_penalty = REPETITION_PENALTY
        config.max_new_tokens = self.max_new_tokens
        config.max_length = None
        if config.eos_token_id is None:
            config.eos_token_id = tokenizer.eos_token_id
        if config.pad_token_id is None:
            pad = tokenizer.pad_token_id
            config.pad_token_id = pad if pad is not None else config.eos_token_id
        return config


def tail_repetition_stop(
    tokenizer: Any, prompt_length: int, rows: int, policy: RepetitionStop,
    probe_tokens: int = STOP_PROBE_TOKENS,
) -> Any:
    """A transformers ``StoppingCriteria`` that ends each row of a batch once its reply is
    stuck repeating itself (``policy``, copied per row), decoding every ``probe_tokens``
    new tokens. ``.stops[i].stopped`` says afterwards whether row ``i`` was stopped."""
    import torch

    transformers: Any = importlib.import_module("transformers")

    class TailRepetitionStop(transformers.StoppingCriteria):  # type: ignore[misc]
        def __init__(self) -> None:
            self.stops = [replace(policy, stopped=False, _next=None) for _ in range(rows)]
            self._probed = 0

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            generated = input_ids.shape[1] - prompt_length
            if generated - self._probed >= probe_tokens:
                self._probed = generated
                for number, stop in enumerate(self.stops):
                    if not stop.stopped:
                        stop.check(tokenizer.decode(input_ids[number, prompt_length:],
                                                    skip_special_tokens=True))
            return torch.tensor([stop.stopped for stop in self.stops], dtype=torch.bool,
                                device=input_ids.device)

    return TailRepetitionStop()


def _empty_cache(loaded: _Loaded) -> None:
    import torch

    if loaded.device.startswith("cuda"):
        torch.cuda.empty_cache()
