"""Engines by name. Backends are imported only when chosen, so a missing optional
package (torch, transformers) breaks only the engine that needs it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from worker.errors import EngineNotFound, EngineUnavailable

if TYPE_CHECKING:
    from models.base import OcrEngine
    from worker.settings import Settings

#: name -> "module:Class"; each class has ``from_settings(settings)`` and ``is_available()``.
ENGINES: dict[str, str] = {
    "rapidocr": "models.rapidocr:RapidOcrEngine",
    "hunyuan": "models.hunyuan:HunyuanEngine",
    "hunyuan-vllm": "models.vllm:VllmHunyuanEngine",
}


def _engine_class(name: str) -> type:
    try:
        target = ENGINES[name]
    except KeyError:
        raise EngineNotFound(name, list(ENGINES)) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailable(f"OCR engine {name!r} cannot be imported: {exc}") from exc
    cls: type = getattr(module, class_name)
    return cls


def available_engines() -> list[str]:
    """Names of the engines whose packages are installed here."""
    names = []
    for name in ENGINES:
        try:
            cls = _engine_class(name)
        except EngineUnavailable:
            continue
        if cls.is_available():  # type: ignore[attr-defined]
            names.append(name)
    return names


def create_engine(name: str, settings: Settings) -> OcrEngine:
    """Build the engine called ``name``; unknown names fail listing the known ones."""
    cls = _engine_class(name)
    if not cls.is_available():  # type: ignore[attr-defined]
        raise EngineUnavailable(
            f"OCR engine {name!r} is not usable here: its optional packages are missing"
        )
    engine: OcrEngine = cls.from_settings(settings)  # type: ignore[attr-defined]
    return engine
