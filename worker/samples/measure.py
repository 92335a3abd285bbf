"""Measuring what OCR read against what was drawn."""

from __future__ import annotations

import unicodedata
from difflib import SequenceMatcher


def _comparable(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace())


def char_recall(expected: str, read: str) -> tuple[int, int]:
    """(characters of ``expected`` found in ``read``, characters expected).

    Both sides are folded the same way first (NFKC, case, whitespace removed: an OCR
    engine that reads ``１００％`` as ``100%`` or drops a space has read it right), then
    compared with ``difflib.SequenceMatcher``; the matched count is the sum of its
    matching blocks, so the order of the text counts as well as its characters.
    """
    a, b = _comparable(expected), _comparable(read)
    if not a:
        return 0, 0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()), len(a)
