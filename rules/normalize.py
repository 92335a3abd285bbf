"""Text normalisation for matching, with a map from every normalised character back
to the original text.

Advertisers dodge reviewers with full-width forms (１００％), traditional characters
(國家級), inserted separators (全 网 第 一, 最·佳, 无效★退款), case (No.1 / NO.1) and
digit variants (①, ❶, 壹). Both the rule phrases and the OCR text go through the same
per-character fold:

1. separators are dropped: whitespace and line breaks, zero-width and other format
   characters, dashes, connectors, brackets, quotes, symbols (★ ♥ ™ ...) and every
   punctuation mark except the sentence marks in ``HARD_PUNCTUATION`` (kept, so that a
   phrase never spans two clauses) and ``%``;
2. NFKC (full width to half width, ① to 1, ⑴ to (1));
3. case folding;
4. traditional to simplified, per character (OpenCC's t2s table);
5. digit variants NFKC leaves alone (❶ ➀ ➊ ⓵) become ASCII digits, and the financial
   numerals that only ever mean numbers (壹 贰 叁 柒 捌 玖) become 一 二 三 七 八 九.

Folding is per character, so the result maps back: ``origin[j]`` is the index in the
original text of the character that produced normalised character ``j``. A match
``[s, e)`` in the normalised text covers ``[origin[s], origin[e - 1] + 1)`` of the
original, inner separators included.

Speed matters (every OCR line of every ad goes through here): the fold is computed
once per distinct character and cached, the text is rewritten with ``str.translate``
and the offset map is built with numpy, so the per-character work runs in C.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import numpy.typing as npt

#: Sentence punctuation that is kept (after NFKC): a phrase never matches across it.
HARD_PUNCTUATION = frozenset(",;:!?%‰。、")

#: Unicode categories whose characters are separators (dropped).
_SEPARATOR_CATEGORIES = frozenset(
    {
        "Zs",
        "Zl",
        "Zp",
        "Cc",
        "Cf",
        "Co",
        "Cn",
        "Mn",
        "Me",
        "Pd",
        "Pc",
        "Ps",
        "Pe",
        "Pi",
        "Pf",
        "Po",
        "Sk",
        "So",
        "Sm",
    }
)
#: Symbols of those categories that carry meaning in claims and are kept.
_KEPT_SYMBOLS = frozenset("+=<>")

_FINANCIAL_NUMERALS = {"壹": "一", "贰": "二", "叁": "三", "柒": "七", "捌": "八", "玖": "九"}


def _digit_variants() -> dict[str, str]:
    table: dict[str, str] = {}
    # Dingbat circled digits: ❶-❿, ➀-➉, ➊-➓ (1..10 each).
    for start in (0x2776, 0x2780, 0x278A):
        for k in range(10):
            table[chr(start + k)] = str(k + 1)
    # Double circled digits ⓵-⓾ and negative circled ⓫-⓴, ⓿.
    for k in range(10):
        table[chr(0x24F5 + k)] = str(k + 1)
    for k in range(10):
        table[chr(0x24EB + k)] = str(k + 11)
    table["\u24ff"] = "0"
    return table


_DIGIT_VARIANTS = _digit_variants()

# CJK blocks with traditional forms: Ext A, URO, compatibility ideographs, Ext B.
_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2A6E0))


@lru_cache(maxsize=1)
def _t2s_table() -> dict[str, str]:
    """Traditional -> simplified for single characters, from OpenCC's t2s conversion.

    Each character is converted on its own line, so phrase-level context never changes a
    character's mapping, and every mapping is one character to one character.
    """
    import opencc

    chars = [chr(cp) for lo, hi in _CJK_RANGES for cp in range(lo, hi)]
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # pragma: no cover - would mean OpenCC changed shape
        raise RuntimeError("OpenCC t2s did not convert characters one to one")
    return {a: b for a, b in zip(chars, converted, strict=True) if a != b and len(b) == 1}


def _is_separator(ch: str) -> bool:
    if ch in HARD_PUNCTUATION or ch in _KEPT_SYMBOLS:
        return False
    return unicodedata.category(ch) in _SEPARATOR_CATEGORIES


def fold_char(ch: str) -> str:
    """The normalised form of one character: '' for a separator, else one or more chars."""
    if ch in _DIGIT_VARIANTS:
        return _DIGIT_VARIANTS[ch]
    t2s = _t2s_table()
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        c = _DIGIT_VARIANTS.get(c, c)
        if len(c) == 1 and _is_separator(c):
            continue
        c = t2s.get(c, c)
        out.append(_FINANCIAL_NUMERALS.get(c, c))
    return "".join(out)


@dataclass(frozen=True)
class NormalizedText:
    """A text, its normalised form, and the map from normalised to original offsets."""

    original: str
    text: str
    origin: npt.NDArray[np.int64]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span ``[a, b)`` that normalised ``[start, end)`` came from."""
        return int(self.origin[start]), int(self.origin[end - 1]) + 1

    def gap_before(self, index: int) -> bool:
        """Whether dropped separators (or the text's start) lie before normalised ``index``."""
        if index <= 0:
            return True
        if index >= len(self.text):
            return True
        return bool(self.origin[index] - self.origin[index - 1] > 1)


@cache
def _fold_cached(ch: str) -> str:
    return fold_char(ch)


class _FoldTable(dict[int, "int | str | None"]):
    """``str.translate`` table that folds each character the first time it is seen.

    Values: the code point itself (unchanged), the folded text, or None (dropped).
    """

    def __missing__(self, cp: int) -> int | str | None:
        ch = chr(cp)
        folded = _fold_cached(ch)
        value: int | str | None = cp if folded == ch else (folded or None)
        self[cp] = value
        return value


class _FoldArrays:
    """The same fold as arrays indexed by code point, for whole-text numpy passes.

    ``single[cp]`` is the folded code point where the fold is one character, ``length[cp]``
    the folded length (0 dropped, 1, or more: an expansion, handled by ``_FoldTable``).
    Filled lazily; concurrent fills write identical values.
    """

    def __init__(self) -> None:
        self.single = np.arange(0x110000, dtype=np.uint32)
        self.length = np.ones(0x110000, dtype=np.int64)
        self.known = np.zeros(0x110000, dtype=bool)

    def learn(self, codepoints: npt.NDArray[np.uint32]) -> None:
        for cp in np.unique(codepoints).tolist():
            folded = _fold_cached(chr(cp))
            self.length[cp] = len(folded)
            if len(folded) == 1:
                self.single[cp] = ord(folded)
            self.known[cp] = True


_TABLE = _FoldTable()
_ARRAYS: _FoldArrays | None = None


def _arrays() -> _FoldArrays:
    global _ARRAYS
    if _ARRAYS is None:
        _ARRAYS = _FoldArrays()
    return _ARRAYS


class Normalizer:
    """Folds texts character by character. The fold is a pure function of the character,
    so every instance shares one per-process cache; safe to use from several threads.
    """

    def fold(self, text: str) -> str:
        """The normalised text alone, without the offset map (rule phrases use this)."""
        return text.translate(_TABLE)

    def normalize(self, text: str) -> NormalizedText:
        """Normalise ``text`` and map every normalised character to its origin."""
        if not text:
            return NormalizedText(text, text, np.zeros(0, dtype=np.int64))
        arrays = _arrays()
        codepoints = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        unknown = codepoints[~arrays.known[codepoints]]
        if unknown.size:
            arrays.learn(unknown)
        lengths = arrays.length[codepoints]
        if lengths.max() > 1:
            # An expansion (™ -> tm): rare, so the general path may be slower.
            folded = self.fold(text)
            origin = np.repeat(np.arange(len(text), dtype=np.int64), lengths)
            return NormalizedText(text, folded, origin)
        kept = lengths.astype(bool)
        if kept.all():
            origin = np.arange(len(text), dtype=np.int64)
            mapped = arrays.single[codepoints]
        else:
            origin = np.flatnonzero(kept)
            mapped = arrays.single[codepoints[kept]]
        folded = mapped.astype("<u4").tobytes().decode("utf-32-le")
        return NormalizedText(text, folded, origin)
