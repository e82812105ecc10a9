"""Text as the printer will print it: cleaned, in the printer's character sets, measured and
wrapped in columns.

Text is text: control characters in any text field (C0, DEL, C1; TAB becomes a space, LF is
kept only in ``text`` blocks) are replaced before encoding, and zero-width characters are
dropped. What a printer can print itself is its code pages (single-byte) and, on East Asian
models, its double-byte set (GB18030, Big5, Shift_JIS, KS C 5601). A character in neither is
kept if a font has it (the one receiptd ships, or the machine's: its line is then sent as an
image, ``glyphs``). Text with a character that nothing can print is refused
(``UnprintableText``, naming the characters): accepted text never prints as ``?``. So the
column arithmetic (``wcwidth``) matches the paper.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from receiptd.errors import UnprintableText
from receiptd.render import glyphs
from receiptd.render.escpos import Encoder
from receiptd.render.profiles import Profile

__all__ = [
    "Charset",
    "charset_of",
    "clean_text",
    "script_support",
    "substitute_unprintable",
    "text_width",
    "wrap",
]

NAMED_AT_MOST = 8  # characters an ``unprintable_text`` message names
_SUBSTITUTE = contextvars.ContextVar("substitute_unprintable", default=False)


@functools.cache
def _wcwidth() -> Callable[[str], int]:
    from wcwidth import wcwidth as columns  # its tables: about 1 MB resident

    return columns


def wcwidth(char: str) -> int:
    """Columns of one character, as ``wcwidth.wcwidth`` counts them. A printable ASCII
    character is one column without asking: the library and its Unicode tables are loaded by
    the first other character, so a daemon that printed only ASCII text has not loaded them."""
    if " " <= char <= "~":
        return 1
    return _wcwidth()(char)


@contextlib.contextmanager
def substitute_unprintable() -> Iterator[None]:
    """Within this block, characters nothing can print become ``?`` instead of raising:
    for showing receipts journaled before such text was refused (their paper had ``?``)."""
    token = _SUBSTITUTE.set(True)
    try:
        yield
    finally:
        _SUBSTITUTE.reset(token)


def _control_table(multiline: bool) -> dict[int, str]:
    """``str.translate`` table for control characters (and NBSP → space)."""
    table = {c: "?" for c in [*range(0x20), *range(0x7F, 0xA0)]}
    table[0x09] = " "
    nl = "\n" if multiline else " "
    table.update({0x0A: nl, 0x0D: nl, 0x2028: nl, 0x2029: nl, 0xA0: " "})
    table[0xAD] = ""  # soft hyphen: invisible unless the line breaks there
    return table


_MULTILINE = _control_table(True)
_SINGLE_LINE = _control_table(False)


def clean_text(text: str, *, multiline: bool = False) -> str:
    """Replace every control character: TAB → space, CR/LF (CR LF) → LF in multi-line
    fields and space elsewhere, any other C0/DEL/C1 → ``?``. NFC-normalised."""
    if text.isascii() and text.isprintable():
        return text
    text = text.replace("\r\n", "\n")
    return unicodedata.normalize("NFC", text).translate(_MULTILINE if multiline else _SINGLE_LINE)


class Charset:
    """What one printer can print: single-byte code page characters, double-byte ones.

    The code pages' characters (``maps``, ``pages``, ``single``) are worked out on the first
    character that is not ASCII: that decodes every code page of the printer through Python's
    codecs (about 1.5 MB resident for an Epson model), which text in ASCII never needs."""

    def __init__(self, escpos_profile: str, codec: str | None, lang: str = "SC") -> None:
        from receiptd.render.escpos import Dummy  # python-escpos: on first use

        capabilities = Dummy(profile=escpos_profile).profile
        self.code_pages: dict[str, str] = capabilities.get_code_pages()
        # Some profiles have one font only: python-escpos refuses to select font B there.
        self.has_font_b = "1" in getattr(capabilities, "fonts", {"1": None})
        # Each code page's characters → byte, shared with every encoder made here: whoever
        # needs a code page first fills it in (``maps`` fills them all).
        self._maps: dict[str, dict[str, int]] = {}
        self._pages: dict[tuple[frozenset[str], str], str | None] = {}
        self.codec = codec
        self.lang = lang
        self._cache: dict[str, str] = {}
        self._encodable: dict[str, bool] = {}

    @functools.cached_property
    def maps(self) -> dict[str, dict[str, int]]:
        """Every code page python-escpos can encode: its characters above 0x7F → byte."""
        probe = Encoder(self.code_pages)
        probe.available_characters = self._maps
        for name in self.code_pages:
            with contextlib.suppress(LookupError):
                probe._get_codepage_char_map(name)
        return self._maps

    @functools.cached_property
    def pages(self) -> list[str]:
        """The code pages of ``maps``, lowest number first."""
        return sorted(self.maps, key=lambda name: int(self.code_pages[name]))

    @functools.cached_property
    def single(self) -> frozenset[str]:
        """The printable characters (from U+00A0) that some code page holds."""
        chars = {c for table in self.maps.values() for c in table}
        return frozenset(c for c in chars if c.isprintable() and ord(c) >= 0xA0)

    def new_encoder(self) -> Encoder:
        # A fresh encoder per section: its code page preferences depend on what it used
        # before, so sharing one would make the bytes depend on earlier receipts. The code
        # page tables are shared: they depend on nothing but the code page.
        encoder = Encoder(self.code_pages)
        encoder.available_characters = self._maps
        return encoder

    def page_for(self, chars: frozenset[str], current: str | None) -> str | None:
        """The code page to write these (non-ASCII, single-byte) characters in: the current
        one if it holds them all, else the lowest-numbered one that does, else ``None``."""
        key = (chars, current or "")
        if key not in self._pages:
            candidates = [current] if current in self.maps else []
            found = None
            for name in candidates + self.pages:
                if chars.issubset(self.maps[name]):
                    found = name
                    break
            self._pages[key] = found
        return self._pages[key]

    def is_double(self, char: str) -> bool:
        return ord(char) >= 0x80 and char not in self.single

    def encodable(self, char: str) -> bool:
        """True if the printer has this character in a code page or its double-byte set."""
        known = self._encodable.get(char)
        if known is None:
            known = ord(char) < 0x80 or char in self.single or bool(
                self.codec and wcwidth(char) == 2 and _double_width_encodable(char, self.codec)
            )
            self._encodable[char] = known
        return known

    def needs_raster(self, text: str) -> bool:
        """True if a printable line holds characters the printer cannot print itself: the
        line is then sent as an image drawn with a font (``receiptd.render.glyphs``)."""
        return not text.isascii() and not all(self.encodable(c) for c in text)

    def printable(self, text: str) -> str:
        """The text as the paper will show it (``text`` already cleaned): characters the
        printer has and characters a font has (printed as an image); zero-width ones are
        dropped. Raises ``UnprintableText`` naming the characters that are neither."""
        if text.isascii():
            return text
        out: list[str] = []
        missing: list[str] = []
        for char in text:
            shown = char if ord(char) < 0x80 else self._char(char)
            if shown is None:
                if _SUBSTITUTE.get():
                    shown = "?" * max(wcwidth(char), 1)
                elif char not in missing:
                    missing.append(char)
            out.append(shown or "")
        if missing:
            raise self.unprintable(missing)
        return "".join(out)

    def unprintable(self, chars: list[str]) -> UnprintableText:
        """The refusal for ``chars``: names them (at most ``NAMED_AT_MOST``) and the fix."""
        named = ", ".join(_describe(c) for c in chars[:NAMED_AT_MOST])
        more = f" and {len(chars) - NAMED_AT_MOST} more" if len(chars) > NAMED_AT_MOST else ""
        sets = "code pages" + (f" or its double-byte set ({self.codec})" if self.codec else "")
        where = "the shipped font or the machine's fonts" if glyphs.system_fonts() else \
            "the shipped font (system fonts are off: [daemon] system_fonts)"
        if glyphs.shipped_font() is None:
            where += " (receiptd's own font is missing from its install: reinstall receiptd)"
        return UnprintableText(
            f"this printer cannot print {named}{more}: not in its {sets}, and not in "
            f"{where}. Remove them, install a font package that has them (Debian: "
            f"{glyphs.FONT_PACKAGES}) and let receiptd use system fonts, or choose a printer "
            "profile whose code page or double_byte set holds them"
        )

    def _char(self, char: str) -> str | None:
        """What ``char`` (not ASCII) prints as: itself, ``""`` if zero-width, ``None`` if
        nothing can print it."""
        known = self._cache.get(char)
        if known is not None:
            return known
        if char in self.single:
            result = char
        elif wcwidth(char) <= 0:
            result = ""
        elif self.encodable(char):
            result = char
        else:
            # Not cached here: which fonts count can change (``glyphs.use_system_fonts``);
            # ``glyphs.font_for`` has its own cache.
            return char if glyphs.font_for(char, self.lang) is not None else None
        self._cache[char] = result
        return result


def _describe(char: str) -> str:
    """``U+1F600 '😀' (GRINNING FACE)``; unassigned and private-use ones have no name."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {char!r}" + (f" ({name})" if name else "")


# One sample per script a receipt is commonly written in: the characters a cashier's slip
# uses first (the store's name, the total, thanks).
SCRIPT_SAMPLES = {
    "Chinese (simplified)": "收银小票合计找零谢谢",
    "Chinese (traditional)": "收銀發票總計謝謝光臨",
    "Japanese": "領収書合計ありがとうカタカナ",
    "Korean": "영수증합계감사합니다",
}


def script_support(profile: Profile) -> list[dict[str, Any]]:
    """For each of ``SCRIPT_SAMPLES``: does its sample print on this printer, and how —
    ``printer`` (its double-byte set), ``font`` (drawn as an image; ``font`` names it) or
    not at all (``missing``: the sample's characters that nothing can print)."""
    charset = charset_of(profile)
    out = []
    for script, sample in SCRIPT_SAMPLES.items():
        drawn = [c for c in sample if not charset.encodable(c)]
        refs = [glyphs.font_for(c, charset.lang) for c in drawn]
        missing = [c for c, ref in zip(drawn, refs, strict=True) if ref is None]
        families = sorted({ref.family for ref in refs if ref is not None})
        out.append({
            "script": script,
            "sample": sample,
            "prints": not missing,
            "by": "font" if drawn else "printer",
            "font": families[0] if families else None,
            "missing": "".join(missing),
        })
    return out


def _double_width_encodable(char: str, codec: str) -> bool:
    try:
        return len(char.encode(codec)) == 2
    except UnicodeEncodeError:
        return False


@functools.lru_cache(maxsize=32)
def _charset(escpos_profile: str, codec: str | None, lang: str = "SC") -> Charset:
    return Charset(escpos_profile, codec, lang)


def charset_of(profile: Profile) -> Charset:
    """The character sets of this printer (shared: one per model and double-byte set)."""
    return _charset(
        profile.escpos_profile, profile.double_byte_codec, glyphs.lang_for(profile.double_byte)
    )


def text_width(text: str) -> int:
    """Columns of a printable string (wide characters count 2)."""
    if text.isascii():
        return len(text)
    return sum(max(wcwidth(c), 0) for c in text)


def _cut_to_width(text: str, width: int) -> tuple[str, str]:
    """Split ``text`` after at most ``width`` columns (never inside a wide character)."""
    if text.isascii():
        return text[:width], text[width:]
    used = 0
    for i, char in enumerate(text):
        w = max(wcwidth(char), 0)
        if used + w > width:
            return text[:i], text[i:]
        used += w
    return text, ""


# Line-breaking rules for East Asian text (kinsoku): no line starts with closing punctuation
# or small kana, none ends with opening punctuation.
_NO_LINE_START = frozenset(
    "!%),.:;?]}\u00a2\u00b0\u2019\u201d\u2030\u2032\u2033\u2103\u3001\u3002\u3005"
    "\u3009\u300b\u300d\u300f\u3011\u3015\u3017\u3019\u301f\u3041\u3043\u3045\u3047"
    "\u3049\u3063\u3083\u3085\u3087\u308e\u309b\u309c\u309d\u309e\u30a1\u30a3\u30a5"
    "\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7\u30ee\u30f5\u30f6\u30fb\u30fc\u30fd\u30fe"
    "\uff01\uff05\uff09\uff0c\uff0e\uff1a\uff1b\uff1f\uff3d\uff5d\uff60\uff61\uff63"
    "\uff64\uff9e\uff9f"
)
_NO_LINE_END = frozenset(
    "$([{\u00a3\u00a5\u2018\u201c\u3008\u300a\u300c\u300e\u3010\u3014\u3016\u3018"
    "\u301d\uff04\uff08\uff3b\uff5b\uff5f\uffe1\uffe5"
)


def _can_break_between(before: str, after: str) -> bool:
    """A line may break between two non-space characters if either is wide (CJK text
    has no spaces between words), unless kinsoku forbids it."""
    if before == " " or after == " ":
        return False
    if wcwidth(before) != 2 and wcwidth(after) != 2:
        return False
    return after not in _NO_LINE_START and before not in _NO_LINE_END


def _break_at(head: str, tail: str) -> tuple[str, str] | None:
    """Where to break a line whose first ``width`` columns are ``head``: after the last
    space or CJK break opportunity in it (the space is dropped); ``None`` if there is none."""
    if tail[:1] == " ":
        return head.rstrip(" ") or head, tail[1:]
    if tail and _can_break_between(head[-1], tail[0]):
        return head, tail
    for i in range(len(head) - 1, 0, -1):
        if head[i] == " ":
            return head[:i].rstrip(" ") or head[:i], head[i + 1 :] + tail
        if _can_break_between(head[i - 1], head[i]):
            return head[:i], head[i:] + tail
    return None


def _wider_than(text: str, width: int) -> bool:
    """``text_width(text) > width``, measuring only the head a line can hold (no character is
    wider than two columns) unless that head is mostly zero-width: wrapping a long paragraph
    then costs its length once, not once per line."""
    head = text[: 2 * width + 2]
    if text_width(head) > width:
        return True
    return len(text) > len(head) and text_width(text) > width


def wrap(text: str, width: int) -> list[str]:
    """Wrap printable text to ``width`` columns.

    Lines that fit are kept exactly (spaces too: plain-text receipts align with them). A
    longer line breaks at its last space within the width, or between two characters of
    which one is wide (Chinese, Japanese and Korean text breaks anywhere, bar kinsoku),
    else hard at the width; never inside a wide character.
    """
    if len(text) <= width and text.isascii() and "\n" not in text:
        return [text]  # one line that fits: one column a character
    return _wrap(text, max(width, 2))


def _wrap(text: str, width: int) -> list[str]:
    """``wrap`` for any text, measured character by character."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        rest = paragraph
        while _wider_than(rest, width):
            head, tail = _cut_to_width(rest, width)
            line, rest = _break_at(head, tail) or (head, tail)
            lines.append(line)
        lines.append(rest)
    return lines
