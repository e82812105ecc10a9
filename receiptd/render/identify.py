"""What a printer says it is, turned into the settings it needs: profile, dialect, double-byte set.

The session asks every printer who it is (ESC/POS ``GS I``: maker, model, firmware, the font of
its language; Star: its firmware version line). ``suggest`` maps those answers to what a
config would name; ``advise`` compares them with what the config did name. A value the config
names always wins: identity only fills what it left out, and a disagreement is a warning with
the suggestion, never a silent change (a clone may name another model than it is).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from receiptd.render.profiles import list_profiles

#: The ``GS I 69`` answer ("font of language type") → receiptd's double-byte set. Epson answers
#: e.g. ``KANJI JAPANESE``, ``CHINA GB2312``, ``TAIWAN BIG-5``, ``KOREA C-5601C``; Chinese
#: clones answer ``GB18030`` or ``CHINESE``. Matched on the upper-cased answer, first hit wins.
_DOUBLE_BYTE_HINTS = (
    ("GB", "gb18030"), ("CHINA", "gb18030"), ("CHINESE", "gb18030"),
    ("BIG5", "big5"), ("BIG-5", "big5"), ("TAIWAN", "big5"),
    ("KANJI", "shift_jis"), ("JAPAN", "shift_jis"),
    ("KOREA", "ksc5601"), ("5601", "ksc5601"),
)
#: Star models that print nothing but raster lines (Star Graphic mode).
_STAR_RASTER_ONLY = re.compile(r"^(TSP1\d\d|TSP143|MPOP|SM-)")
_STAR_MODEL = re.compile(r"^(TSP|TUP|SP\d|MC-?PRINT|MCP|MPOP|SM-|FVP|HSP|BSC)")
#: The profile for a Star model no profile is named after: 80 mm paper, Star's code pages.
_STAR_PROFILE = "TSP600"


@dataclass(frozen=True)
class Suggestion:
    """Settings that fit the printer's identity; ``None`` where it says nothing useful."""

    profile: str | None = None
    dialect: str | None = None
    double_byte: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("profile", self.profile), ("dialect", self.dialect),
                                  ("double_byte", self.double_byte)) if v}


def _squash(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def _profile_for(model: str, profiles: Collection[str]) -> str | None:
    """The profile named like ``model``, else the longest one ``model`` starts with (a
    ``TM-T88VI`` is closest to the ``TM-T88V`` profile)."""
    wanted = _squash(model)
    if not wanted:
        return None
    by_squash = {_squash(p): p for p in profiles if p not in ("default", "simple")}
    if wanted in by_squash:
        return by_squash[wanted]
    prefixes = [s for s in by_squash if len(s) >= 4 and wanted.startswith(s)]
    return by_squash[max(prefixes, key=len)] if prefixes else None


def _star(identity: Mapping[str, str]) -> bool:
    maker = identity.get("maker", "").upper()
    return "STAR" in maker or bool(_STAR_MODEL.match(identity.get("model", "").upper()))


def suggest(identity: Mapping[str, str], profiles: Collection[str] | None = None) -> Suggestion:
    """The settings ``identity`` (the session's answers: ``maker``, ``model``, ``firmware``,
    ``font``) points to."""
    if not identity:
        return Suggestion()
    known = list_profiles() if profiles is None else profiles
    model = identity.get("model", "")
    dialect = None
    if _star(identity):
        dialect = "star_raster" if _STAR_RASTER_ONLY.match(model.upper()) else "star"
    elif identity.get("maker") or model:
        dialect = "escpos"
    font = identity.get("font", "").upper()
    double_byte = next((codec for hint, codec in _DOUBLE_BYTE_HINTS if hint in font), None)
    profile = _profile_for(model, known)
    if profile is None and dialect in ("star", "star_raster") and _STAR_PROFILE in known:
        profile = _STAR_PROFILE
    return Suggestion(profile=profile, dialect=dialect,
                      double_byte=double_byte)


@dataclass(frozen=True)
class Advice:
    """One disagreement between the config and the printer's identity."""

    setting: str
    configured: str | None
    suggested: str
    message: str


def advise(suggestion: Suggestion, *, profile: str, dialect: str,
           double_byte: str | None, named: Collection[str]) -> list[Advice]:
    """Warnings where a setting the config ``named`` differs from the suggestion. Settings the
    config left out are not warned about: the suggestion fills them."""
    found: list[Advice] = []
    pairs = (("profile", profile, suggestion.profile), ("dialect", dialect, suggestion.dialect),
             ("double_byte", double_byte, suggestion.double_byte))
    for setting, configured, suggested in pairs:
        if setting not in named or suggested is None or configured == suggested:
            continue
        found.append(Advice(setting, configured, suggested,
                            f"the printer identifies as needing {setting} = {suggested!r}, "
                            f"the config says {configured!r}; the config is used (remove the "
                            f"setting to follow the printer, or set it to {suggested!r})"))
    return found
