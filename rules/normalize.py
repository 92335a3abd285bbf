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
   numerals that only ever mean numbers (壹 贰 叁 柒 捌 玖) become 一 二 三 七 八 九;
6. look-alikes become the character they imitate: rare Han variants that stand in for
   a claim's characters (笫 for 第, 冣 for 最), strokes and kana that look like 一, and
   Cyrillic or Greek letters and negative squared letters that look like Latin ones.

Then a few folds that need the neighbouring characters, on the folded text:

* a sentence mark between single characters is a separator (全，网，第，一), while one
  between longer clauses is kept (第一，第二);
* ``+ = < >`` between two Han characters are separators (全+网+第+一), kept beside
  digits (100+);
* inside Latin tokens, 0 after a letter reads o (N0.1, T0P1) and l or i before a digit
  reads 1 (l00%);
* pinyin standing alone beside Han text for the characters that carry a claim: zui (最),
  di yi / di 1 (第一), ding (顶), ji before 品/致/佳 (极).

The result maps back: normalised character ``j`` came from original characters
``[origin[j], origin_end[j])`` (one character, or a pinyin syllable). A match ``[s, e)``
in the normalised text covers ``[origin[s], origin_end[e - 1])`` of the original, inner
separators included.

Speed matters (every OCR line of every ad goes through here): the fold is computed
once per distinct character and cached, the text is rewritten with ``str.translate``
and the offset map is built with numpy, so the per-character work runs in C.
"""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

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


#: Rare look-alikes written in place of a claim's characters, and strokes or kana that
#: look like 一. Only characters ordinary text hardly ever uses belong here.
_HAN_LOOKALIKES = {
    "笫": "第", "苐": "第",
    "冣": "最", "朂": "最", "㝡": "最",
    "囯": "国", "圀": "国",
    "効": "效", "傚": "效",
    "瘉": "愈", "毉": "医",
    "ー": "一", "㇐": "一", "ㄧ": "一", "─": "一", "━": "一",
}

#: Cyrillic and Greek letters (after case folding) that look like Latin ones: Т0Р1, NО.1.
_LATIN_LOOKALIKES = dict(
    zip("аеорсхутнкмвіјѕοτρανβεικμχυζ", "aeopcxythkmbijsotpanbeikmxuz", strict=True)
)


def _letter_variants() -> dict[str, str]:
    table: dict[str, str] = {}
    # Negative circled 🅐-🅩 and negative squared 🅰-🆉 capital letters (no NFKC form).
    for start in (0x1F150, 0x1F170):
        for k in range(26):
            table[chr(start + k)] = chr(ord("a") + k)
    return table


_LETTER_VARIANTS = _letter_variants()


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
    if ch in _LETTER_VARIANTS:
        return _LETTER_VARIANTS[ch]
    if ch in _HAN_LOOKALIKES:
        return _HAN_LOOKALIKES[ch]
    t2s = _t2s_table()
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        c = _DIGIT_VARIANTS.get(c, c)
        if len(c) == 1 and _is_separator(c):
            continue
        c = t2s.get(c, c)
        c = _FINANCIAL_NUMERALS.get(c, c)
        out.append(_HAN_LOOKALIKES.get(c, _LATIN_LOOKALIKES.get(c, c)))
    return "".join(out)


_SENTENCE = ",;:!?、。"
_JOINERS = "+=<>"
_PINYIN_CHARS = {"zui": "最", "diyi": "第一", "di": "第", "yi": "一",
                 "ding": "顶", "ji": "极"}


@dataclass(frozen=True)
class NormalizedText:
    """A text, its normalised form, and the map from normalised to original offsets."""

    original: str
    text: str
    origin: npt.NDArray[np.int64]
    #: Where each normalised character's source ends; None means ``origin + 1``.
    origin_end: npt.NDArray[np.int64] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span ``[a, b)`` that normalised ``[start, end)`` came from."""
        return int(self.origin[start]), int(self.ends[end - 1])

    @property
    def ends(self) -> npt.NDArray[np.int64]:
        """``origin_end``, filled in when the fold kept one source character per output."""
        return self.origin + 1 if self.origin_end is None else self.origin_end

    @cached_property
    def line_starts(self) -> list[int]:
        """The normalised offsets where a line of the original text starts (after a line
        break, which the fold drops), in order; empty for a one-line text."""
        if "\n" not in self.original:
            return []
        breaks, at = [], self.original.find("\n")
        while at >= 0:
            breaks.append(at)
            at = self.original.find("\n", at + 1)
        starts = np.unique(
            np.searchsorted(self.origin, np.asarray(breaks, dtype=np.int64), side="right")
        )
        return [int(s) for s in starts[(starts > 0) & (starts < len(self.text))]]

    def line_bounds(self, start: int, end: int) -> tuple[int, int]:
        """The normalised span of the lines that ``[start, end)`` lies on: context checks
        look no further, so that no exception reaches across an OCR line."""
        starts = self.line_starts
        if not starts:
            return 0, len(self.text)
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, max(start, end - 1))
        return (starts[first] if first >= 0 else 0,
                starts[last] if last < len(starts) else len(self.text))

    def gap_before(self, index: int) -> bool:
        """Whether dropped separators (or the text's start) lie before normalised ``index``."""
        if index <= 0:
            return True
        if index >= len(self.text):
            return True
        previous_end = (
            self.origin[index - 1] + 1 if self.origin_end is None else self.origin_end[index - 1]
        )
        return bool(self.origin[index] > previous_end)


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
        """The normalised text alone (rule phrases use this): the same fold as ``normalize``."""
        folded = text.translate(_TABLE)
        if _CONTEXT_CHARS.isdisjoint(folded):
            return folded  # nothing a context fold looks at: the per-character fold is all
        return self.normalize(text).text

    def normalize(self, text: str) -> NormalizedText:
        """Normalise ``text`` and map every normalised character to its origin."""
        norm = self._fold_chars(text)
        return _fold_context(norm) if norm.text else norm

    def _fold_chars(self, text: str) -> NormalizedText:
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
            folded = text.translate(_TABLE)
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


_MARK, _JOIN, _HANC, _LOWER, _DIGIT, _LI = 1, 2, 4, 8, 16, 32
#: Characters (after the per-character fold) that can start a context fold.
_CONTEXT_CHARS = frozenset(_SENTENCE + _JOINERS + "abcdefghijklmnopqrstuvwxyz")


@lru_cache(maxsize=1)
def _classes() -> npt.NDArray[np.uint8]:
    """Character classes the context folds look at, by code point."""
    table = np.zeros(0x110000, dtype=np.uint8)
    for ch in _SENTENCE:
        table[ord(ch)] |= _MARK
    for ch in _JOINERS:
        table[ord(ch)] |= _JOIN
    for lo, hi in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)):
        table[lo:hi] |= _HANC
    table[ord("a") : ord("z") + 1] |= _LOWER
    table[ord("0") : ord("9") + 1] |= _DIGIT
    table[ord("l")] |= _LI
    table[ord("i")] |= _LI
    return table


def _fold_context(norm: NormalizedText) -> NormalizedText:
    """The folds that look at neighbouring characters (see the module docstring).

    Character classes are looked up for the whole text at once; the neighbours are then
    examined only around the few characters that can start a fold.
    """
    text = norm.text
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").copy()
    cls = _classes()[codes]
    n = len(codes)
    padded = np.zeros(n + 4, dtype=np.uint8)  # classes with two empty places either side
    padded[2:-2] = cls
    edge = np.zeros(n + 4, dtype=bool)  # where the text ends: counts as a sentence mark
    edge[:2] = edge[-2:] = True

    def at(positions: npt.NDArray[np.intp], offset: int) -> npt.NDArray[np.uint8]:
        return padded[positions + 2 + offset]

    drop: list[npt.NDArray[np.intp]] = []
    marks = np.flatnonzero(cls & _MARK)
    if marks.size:
        # A sentence mark with one non-digit character on each side, each of those bounded
        # by a mark or the text's end: 全，网，第，一.
        def single(offset: int) -> npt.NDArray[np.bool_]:
            near = marks + offset
            inside = (near >= 0) & (near < n)
            ok = inside & ~(at(marks, offset) & (_MARK | _DIGIT)).astype(bool)
            result: npt.NDArray[np.bool_] = ok & (codes[np.clip(near, 0, n - 1)] != ord("%"))
            return result

        def bounded(offset: int) -> npt.NDArray[np.bool_]:
            near: npt.NDArray[np.bool_] = edge[marks + 2 + offset]
            return (at(marks, offset) & _MARK).astype(bool) | near

        lone = single(-1) & single(1) & bounded(-2) & bounded(2)
        drop.append(marks[lone])
    joins = np.flatnonzero(cls & _JOIN)
    if joins.size:
        between = (at(joins, -1) & _HANC).astype(bool) & (at(joins, 1) & _HANC).astype(bool)
        drop.append(joins[between])
    # Inside Latin tokens: l or i before a digit reads 1 (l00%), 0 after a letter reads o.
    changed = False
    ones = np.flatnonzero(cls & _LI)
    if ones.size:
        ones = ones[(at(ones, 1) & _DIGIT).astype(bool) & ~(at(ones, -1) & _LOWER).astype(bool)]
        if ones.size:
            codes[ones] = ord("1")
            changed = True
    zeros = np.flatnonzero(codes == ord("0"))
    if zeros.size:
        zeros = zeros[(at(zeros, -1) & _LOWER).astype(bool) & ~np.isin(zeros - 1, ones)]
        if zeros.size:
            codes[zeros] = ord("o")
            changed = True
    if changed:
        text = codes.tobytes().decode("utf-32-le")
    origin = norm.origin
    ends = norm.origin_end
    dropped = np.concatenate(drop) if drop else np.zeros(0, dtype=np.intp)
    if dropped.size:
        keep = np.ones(n, dtype=bool)
        keep[dropped] = False
        codes = codes[keep]
        text = codes.tobytes().decode("utf-32-le")
        origin = origin[keep]
        ends = None if ends is None else ends[keep]
        cls = _classes()[codes]
    if (cls & _LOWER).any():
        text, origin, ends = _fold_pinyin(text, cls, origin, ends)
    if text is norm.text:
        return norm
    return NormalizedText(norm.original, text, origin, ends)


def _fold_pinyin(
    text: str,
    cls: npt.NDArray[np.uint8],
    origin: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64] | None,
) -> tuple[str, npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """Pinyin tokens for claim characters replaced, each output character mapped to its
    share of the token's letters."""
    lower = (cls & _LOWER).astype(bool).astype(np.int8)
    edges = np.diff(np.concatenate(([0], lower, [0])))
    run_starts = np.flatnonzero(edges == 1)
    run_ends = np.flatnonzero(edges == -1)
    short = (run_ends - run_starts >= 2) & (run_ends - run_starts <= 4)
    found: list[tuple[int, int, str]] = []
    for begin, end in zip(run_starts[short].tolist(), run_ends[short].tolist(), strict=True):
        chars = _pinyin_at(text, begin, end)
        if chars:
            found.append((begin, end, chars))
    if not found:
        return text, origin, ends
    if ends is None:
        ends = origin + 1
    pieces: list[str] = []
    starts: list[npt.NDArray[np.int64]] = []
    stops: list[npt.NDArray[np.int64]] = []
    last = 0
    for begin, end, chars in found:
        pieces.append(text[last:begin])
        starts.append(origin[last:begin])
        stops.append(ends[last:begin])
        # Each claim character stands for an equal share of the token's letters.
        cuts = [begin + (end - begin) * k // len(chars) for k in range(len(chars) + 1)]
        pieces.append(chars)
        starts.append(origin[cuts[:-1]])
        stops.append(ends[[c - 1 for c in cuts[1:]]])
        last = end
    pieces.append(text[last:])
    starts.append(origin[last:])
    stops.append(ends[last:])
    return "".join(pieces), np.concatenate(starts), np.concatenate(stops)


def _is_han(ch: str) -> bool:
    return bool(_classes()[ord(ch)] & _HANC)


def _pinyin_at(text: str, begin: int, end: int) -> str:
    """The claim characters the letter run ``text[begin:end]`` spells here, or ''."""
    syllable = text[begin:end]
    prev = text[begin - 1] if begin > 0 else ""
    nxt = text[end] if end < len(text) else ""
    if syllable == "zui":
        return "最" if (nxt and _is_han(nxt)) or (prev and _is_han(prev)) else ""
    if syllable == "diyi":
        return "第一"
    if syllable == "di" and nxt in ("一", "1"):
        return "第"
    if syllable == "yi" and prev == "第":
        return "一"
    if syllable == "ding" and nxt and _is_han(nxt):
        return "顶"
    if syllable == "ji" and nxt in ("品", "致", "佳"):
        return "极"
    return ""
