"""OCR engines: one protocol (``models.base``) and one module per backend."""

from models.base import FakeEngine, OcrEngine, TextLine

__all__ = ["FakeEngine", "OcrEngine", "TextLine"]
