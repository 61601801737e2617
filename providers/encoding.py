"""SMS encoding and segments, counted exactly as Twilio's open-source calculator
(npm `sms-segments-calculator` 1.3.0, compliance.md §6) counts them.

- GSM-7 when every character is in the GSM 03.38 basic set (7 bits) or its extension
  table (escape + code, 14 bits); otherwise the whole message is UCS-2 (16 bits per
  UTF-16 code unit, so an emoji outside the BMP costs 32).
- One segment carries 1,120 bits; a concatenated one spends 48 on its header, leaving
  1,072 (160/153 GSM-7 septets, 70/67 UCS-2 units). Characters are packed greedily and
  never split: an escape pair or a grapheme (a surrogate pair, a flag, a ZWJ emoji, a
  letter with its combining accents) moves to the next segment whole, so
  `'A' * 152 + '{' + 'A' * 152` takes 3 segments, not ceil(306 / 153) = 2.
- `characters`: septets in GSM-7 (extension characters count 2); graphemes in UCS-2.
  CRLF counts as two in both.
- Graphemes are split by the same rules as the calculator's splitter (grapheme-splitter
  1.0.4, Unicode 10), ported below with its property table (`grapheme_table`).

`tests/providers/test_segments_oracle.py` runs the npm calculator on a generated corpus
and compares every figure.
"""

import bisect
from dataclasses import dataclass, field

from .grapheme_table import RANGES

# GSM 03.38 basic set plus the extension table (which costs two septets per character).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
MAX_PARTS = 10
SEGMENT_BITS = 1120  # 140 octets
HEADER_BITS = 48  # the 6-octet concatenation header of every part of a split message


@dataclass(frozen=True)
class Segmentation:
    characters: int
    segments: int
    encoding: str  # "GSM-7" | "UCS-2"
    # Every grapheme that is not GSM-7, in order, repeats included (the calculator's
    # getNonGsmCharacters); empty for GSM-7.
    non_gsm_characters: list[str] = field(default_factory=list)

    @property
    def forced_ucs2(self) -> list[str]:
        """The distinct characters that switched the message to UCS-2, first seen first."""
        return list(dict.fromkeys(self.non_gsm_characters))


def is_gsm(character: str) -> bool:
    return character in _GSM_BASIC or character in _GSM_EXTENDED


def segment(text: str) -> Segmentation:
    """Encoding, segments, characters and the non-GSM characters of an SMS body."""
    graphemes = split_graphemes(text)
    if all(len(g) == 1 and is_gsm(g) for g in graphemes):
        sizes = [14 if g in _GSM_EXTENDED else 7 for g in graphemes]
        return Segmentation(characters=sum(sizes) // 7, segments=_pack(sizes), encoding="GSM-7")
    sizes = [16 * _utf16_units(g) for g in graphemes]
    return Segmentation(
        characters=len(graphemes),
        segments=_pack(sizes),
        encoding="UCS-2",
        non_gsm_characters=[g for g in graphemes if not (len(g) == 1 and is_gsm(g))],
    )


def segment_count(text: str) -> tuple[int, str]:
    """(parts, encoding) for an SMS body; encoding is "GSM-7" or "UCS-2"."""
    result = segment(text)
    return result.segments, result.encoding


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _pack(sizes: list[int]) -> int:
    """Segments for characters of these sizes in bits, packed as the calculator packs
    them: greedily, whole characters only; when the first segment overflows it takes a
    header too and hands the characters that no longer fit to the second."""
    segments: list[list[int]] = [[]]
    used = [0]
    header = [False]
    for size in sizes:
        if SEGMENT_BITS - used[-1] < size:
            moved: list[int] = []
            if not header[-1]:
                header[-1] = True
                used[-1] += HEADER_BITS
                while used[-1] > SEGMENT_BITS:
                    last = segments[-1].pop()
                    used[-1] -= last
                    moved.insert(0, last)
            segments.append(moved)
            used.append(HEADER_BITS + sum(moved))
            header.append(True)
        segments[-1].append(size)
        used[-1] += size
    return len(segments)


# --- Grapheme clusters, as grapheme-splitter 1.0.4 finds them ---------------------------
# A port of its nextBreak/shouldBreak over UTF-16 code units (the calculator runs in
# JavaScript). Its rules are Unicode 10's: a ZWJ joins only before Glue_After_Zwj or
# E_Base_GAZ, so some newer ZWJ emoji count as two characters there, and so here.

(CR, LF, CONTROL, EXTEND, RI, SPACING_MARK, L, V, T, LV, LVT, OTHER, PREPEND) = range(13)
E_BASE, E_MODIFIER, ZWJ, GLUE_AFTER_ZWJ, E_BASE_GAZ = range(13, 18)
_STARTS = [r[0] for r in RANGES]
_NOT_BREAK, _BREAK_START = 0, 1


def _property(code: int) -> int:
    i = bisect.bisect_right(_STARTS, code) - 1
    if i >= 0 and RANGES[i][0] <= code <= RANGES[i][1]:
        return RANGES[i][2]
    return OTHER


def _code_point_at(units: list[int], i: int) -> int:
    code = units[i]
    if 0xD800 <= code <= 0xDBFF and i < len(units) - 1:
        low = units[i + 1]
        if 0xDC00 <= low <= 0xDFFF:
            return (code - 0xD800) * 0x400 + (low - 0xDC00) + 0x10000
        return code
    if 0xDC00 <= code <= 0xDFFF and i >= 1:
        high = units[i - 1]
        if 0xD800 <= high <= 0xDBFF:
            return (high - 0xD800) * 0x400 + (code - 0xDC00) + 0x10000
        return code
    return code


def _is_pair_at(units: list[int], i: int) -> bool:
    return 0xD800 <= units[i] <= 0xDBFF and i + 1 < len(units) and 0xDC00 <= units[i + 1] <= 0xDFFF


def _last_index(items: list[int], value: int) -> int:
    for i in range(len(items) - 1, -1, -1):
        if items[i] == value:
            return i
    return -1


def _should_break(start: int, mid: list[int], end: int) -> int:
    every = [start, *mid, end]
    previous, nxt = every[-2], end
    # GB10 lookahead terminator
    e_modifier = _last_index(every, E_MODIFIER)
    if (
        e_modifier > 1
        and all(c == EXTEND for c in every[1:e_modifier])
        and start not in (EXTEND, E_BASE, E_BASE_GAZ)
    ):
        return 2
    # GB12/GB13 lookahead terminator
    ri = _last_index(every, RI)
    if ri > 0 and all(c == RI for c in every[1:ri]) and previous not in (PREPEND, RI):
        return 3 if sum(1 for c in every if c == RI) % 2 == 1 else 4
    if previous == CR and nxt == LF:  # GB3
        return _NOT_BREAK
    if previous in (CONTROL, CR, LF):  # GB4
        if nxt == E_MODIFIER and all(c == EXTEND for c in mid):
            return 2
        return _BREAK_START
    if nxt in (CONTROL, CR, LF):  # GB5
        return _BREAK_START
    if previous == L and nxt in (L, V, LV, LVT):  # GB6
        return _NOT_BREAK
    if previous in (LV, V) and nxt in (V, T):  # GB7
        return _NOT_BREAK
    if previous in (LVT, T) and nxt == T:  # GB8
        return _NOT_BREAK
    if nxt in (EXTEND, ZWJ) or nxt == SPACING_MARK or previous == PREPEND:  # GB9, 9a, 9b
        return _NOT_BREAK
    # GB10
    non_extend = _last_index(every, EXTEND) - 1 if EXTEND in every else len(every) - 2
    if (
        every[non_extend] in (E_BASE, E_BASE_GAZ)
        and all(c == EXTEND for c in every[non_extend + 1 : -1])
        and nxt == E_MODIFIER
    ):
        return _NOT_BREAK
    if previous == ZWJ and nxt in (GLUE_AFTER_ZWJ, E_BASE_GAZ):  # GB11
        return _NOT_BREAK
    if RI in mid:  # GB12/GB13
        return 2
    if previous == RI and nxt == RI:
        return _NOT_BREAK
    return _BREAK_START  # GB999


def _next_break(units: list[int], index: int) -> int:
    if index >= len(units) - 1:
        return len(units)
    start = _property(_code_point_at(units, index))
    mid: list[int] = []
    for i in range(index + 1, len(units)):
        if _is_pair_at(units, i - 1):  # the low half of a pair already read
            continue
        nxt = _property(_code_point_at(units, i))
        if _should_break(start, mid, nxt):
            return i
        mid.append(nxt)
    return len(units)


def split_graphemes(text: str) -> list[str]:
    """Grapheme clusters as the calculator sees them (CRLF counts as two)."""
    raw = text.encode("utf-16-le", "surrogatepass")
    units = [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]
    graphemes: list[str] = []
    index = 0
    while index < len(units):
        end = _next_break(units, index)
        piece = raw[2 * index : 2 * end].decode("utf-16-le", "surrogatepass")
        graphemes.extend(["\r", "\n"] if piece == "\r\n" else [piece])
        index = end
    return graphemes
