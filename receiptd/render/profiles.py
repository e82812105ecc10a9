"""Printer profiles: what the renderer needs to know about one printer model.

A profile pairs our layout facts (columns, dots, paper) with the name of a python-escpos
capabilities profile (code pages, barcode and cutter features). Built-in profiles cover the
common Epson-class models; any python-escpos profile that states a paper width in dots can be
used by its name as well. python-escpos' ``default`` profile states no width (it would
silently ignore centering), so it is refused.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from receiptd.errors import ConfigError
from receiptd.render import capabilities

DOUBLE_BYTE_CODECS: dict[str, str] = {
    "gb18030": "gb18030",
    "big5": "big5",
    "shift_jis": "shift_jis",
    "ksc5601": "euc_kr",
}
LINE_MM_DEFAULT = 25.4 / 6  # ESC 2: 1/6 inch, the power-on line spacing of Epson-class printers
# The command set a printer is spoken to in: ESC/POS, Star Line Mode, or Star raster only
# (Star Graphic mode: TSP100-class printers that print nothing but raster lines).
DIALECTS = ("escpos", "star", "star_raster")
STAR_VENDOR = "Star Micronics"


@dataclass(frozen=True)
class Profile:
    """One printer model as the renderer sees it.

    ``columns`` is the number of font-A characters across ``width_dots`` (42 on an 80 mm
    TM-T88 class printer at 512 dots, 32 on 58 mm at 384 dots); ``columns_b`` the same for
    font B. ``encoding`` is the code page selected at the start of every receipt (a
    python-escpos code page name such as ``CP437``); characters outside it switch code page
    on the fly when the printer has one that holds them, or print as ``?``.
    ``double_byte`` names the printer's Kanji-mode character set (``FS &``), if it has one:
    East Asian wide characters are then sent in it; without it they print as ``??``.
    ``dialect`` is one of ``DIALECTS``: the Star ones need a Star capabilities profile (its
    code page numbers are Star's ``ESC GS t`` numbers) and no ``double_byte`` set.
    """

    name: str
    escpos_profile: str
    columns: int
    width_dots: int
    native_qr: bool
    cutter: bool
    paper_mm: float
    line_mm: float = LINE_MM_DEFAULT
    encoding: str = "CP437"
    double_byte: str | None = None
    columns_b: int = 0  # 0: derived as columns * 4 // 3 (font B is 9 dots against A's 12)
    dpi: int = 203
    dialect: str = "escpos"

    def __post_init__(self) -> None:
        if self.columns_b == 0:
            object.__setattr__(self, "columns_b", self.columns * 4 // 3)

    @property
    def dots_per_mm(self) -> float:
        return self.dpi / 25.4

    @property
    def double_byte_codec(self) -> str | None:
        """The Python codec of ``double_byte``."""
        return DOUBLE_BYTE_CODECS[self.double_byte] if self.double_byte else None

    @functools.cached_property
    def code_pages(self) -> dict[str, int]:
        """Code page name → ESC t number, as the escpos profile states them."""
        pages = capabilities.profiles()[self.escpos_profile]["codePages"]
        return {str(name): int(n) for n, name in pages.items() if name != "Unknown"}


_BUILTIN: dict[str, dict[str, Any]] = {
    "TM-T88V": dict(
        escpos_profile="TM-T88V", columns=42, columns_b=56, width_dots=512, native_qr=True,
        cutter=True, paper_mm=80.0, dpi=180,
    ),
    "TM-T88IV": dict(
        escpos_profile="TM-T88IV", columns=42, columns_b=56, width_dots=512, native_qr=True,
        cutter=True, paper_mm=80.0, dpi=180,
    ),
    "TM-T20II": dict(
        escpos_profile="TM-T20II", columns=48, columns_b=64, width_dots=576, native_qr=True,
        cutter=True, paper_mm=80.0, dpi=203,
    ),
    "TM-T20II-42col": dict(
        escpos_profile="TM-T20II-42col", columns=42, columns_b=60, width_dots=546,
        native_qr=True, cutter=True, paper_mm=80.0, dpi=203,
    ),
    # 58 mm Epson mobile printer; python-escpos has no TM-P20 entry, TM-P80 shares its
    # command set (code pages, native QR, barcodes). No cutter: a tear bar.
    "TM-P20": dict(
        escpos_profile="TM-P80", columns=32, columns_b=42, width_dots=384, native_qr=True,
        cutter=False, paper_mm=58.0, dpi=203,
    ),
    # Generic 58 mm Chinese printer (POS-58 / ZJ-5890 class): raster-only, no cutter.
    "POS-5890": dict(
        escpos_profile="POS-5890", columns=32, columns_b=42, width_dots=384, native_qr=False,
        cutter=False, paper_mm=58.0, dpi=203,
    ),
}

_FIELDS = {f.name: f for f in dataclasses.fields(Profile)}
_OVERRIDABLE = set(_FIELDS) - {"name"}


def _escpos_width(data: dict[str, Any]) -> int | None:
    try:
        pixels = data["media"]["width"]["pixels"]
    except (KeyError, TypeError):
        return None
    return pixels if isinstance(pixels, int) and pixels > 0 else None


def _from_capabilities(name: str) -> dict[str, Any] | None:
    data = capabilities.profiles().get(name)
    if data is None:
        return None
    width = _escpos_width(data)
    if width is None:
        return None
    fonts = data.get("fonts", {})
    columns = int(fonts.get("0", {}).get("columns", 0)) or 42
    columns_b = int(fonts.get("1", {}).get("columns", 0) or columns * 4 // 3)
    features = data.get("features", {})
    pages = data.get("codePages", {})
    encoding = pages.get("0", "CP437")
    dpi = data.get("media", {}).get("dpi")
    return dict(
        escpos_profile=name,
        columns=columns,
        columns_b=columns_b,
        width_dots=width,
        native_qr=bool(features.get("qrCode")),
        cutter=bool(features.get("paperFullCut") or features.get("paperPartCut")),
        paper_mm=80.0 if width >= 500 else 58.0 if width >= 360 else float(width) / 8,
        encoding=encoding if encoding != "Unknown" else "CP437",
        dpi=dpi if isinstance(dpi, int) and dpi > 0 else 203,
    )


def list_profiles() -> list[str]:
    """Every name ``get_profile`` accepts, sorted."""
    names = set(_BUILTIN)
    names.update(n for n, d in capabilities.profiles().items() if _escpos_width(d))
    return sorted(names)


def _check(key: str, value: Any, base: dict[str, Any], where: str) -> Any:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{where}{key}: {why} (got {value!r})")

    kind = _FIELDS[key].type
    if key == "escpos_profile":
        if not isinstance(value, str) or value not in capabilities.profiles():
            raise bad("not a python-escpos capabilities profile")
        if _escpos_width(capabilities.profiles()[value]) is None:
            raise bad("this python-escpos profile states no paper width; choose a model")
        return value
    if key == "double_byte":
        if value in (None, "", "none"):  # TOML has no null
            return None
        if value not in DOUBLE_BYTE_CODECS:
            raise bad(f"must be \"none\" or one of {sorted(DOUBLE_BYTE_CODECS)}")
        return value
    if key == "dialect":
        if value not in DIALECTS:
            raise bad(f"must be one of {', '.join(DIALECTS)}")
        return value
    if key == "encoding":
        if not isinstance(value, str):
            raise bad("must be a code page name")
        return value.upper()
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if kind == "int":
        limits = {
            "columns": (16, 96), "columns_b": (16, 128), "width_dots": (128, 2048),
            "dpi": (100, 600),
        }
        lo, hi = limits[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise bad(f"must be an integer from {lo} to {hi}")
        return value
    if kind == "float":
        limits_f = {"paper_mm": (30.0, 120.0), "line_mm": (1.0, 20.0)}
        lo_f, hi_f = limits_f[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("must be a number")
        if not lo_f <= float(value) <= hi_f:
            raise bad(f"must be from {lo_f} to {hi_f}")
        return float(value)
    raise bad("cannot be overridden")  # pragma: no cover


def get_profile(
    name: str, overrides: dict[str, Any] | None = None, *, where: str = "profile"
) -> Profile:
    """The profile called ``name``, with ``overrides`` (field name → value) applied.

    ``where`` is the config key path used in error messages (e.g.
    ``printers.front.profile``). Raises ``ConfigError`` for unknown names, unknown keys and
    bad values, naming the key.
    """
    prefix = f"{where}." if where else ""
    base = _BUILTIN.get(name) or _from_capabilities(name)
    if base is None:
        if name in capabilities.profiles():
            raise ConfigError(
                f"{where}: python-escpos profile {name!r} states no paper width "
                "(centering and images would be wrong); choose a printer model"
            )
        raise ConfigError(f"{where}: unknown printer profile {name!r}")
    values: dict[str, Any] = dict(base)
    for key, value in (overrides or {}).items():
        if key not in _OVERRIDABLE:
            raise ConfigError(f"{prefix}{key}: unknown profile setting")
        values[key] = _check(key, value, values, prefix)
    if "columns" in (overrides or {}) and "columns_b" not in (overrides or {}):
        values["columns_b"] = 0
    profile = Profile(name=name, **values)
    if profile.encoding not in profile.code_pages:
        raise ConfigError(
            f"{prefix}encoding: code page {profile.encoding!r} is not one of "
            f"{profile.escpos_profile}'s: {', '.join(sorted(profile.code_pages))}"
        )
    if profile.width_dots // profile.columns < 8:
        raise ConfigError(
            f"{prefix}columns: {profile.columns} columns do not fit {profile.width_dots} dots"
        )
    if profile.double_byte_codec:
        codecs.lookup(profile.double_byte_codec)
    _check_dialect(profile, prefix)
    return profile


def _check_dialect(profile: Profile, prefix: str) -> None:
    if profile.dialect == "escpos":
        return
    vendor = capabilities.profiles()[profile.escpos_profile].get("vendor")
    if vendor != STAR_VENDOR:
        raise ConfigError(
            f"{prefix}dialect: {profile.dialect} needs a Star profile (its code pages are "
            f"numbered as Star's), not {profile.escpos_profile!r}: use TSP600, TUP500 or "
            "SP2000 (with columns and width_dots as your model has them)")
    if profile.double_byte:
        raise ConfigError(
            f"{prefix}double_byte: not supported with dialect {profile.dialect}; such text "
            "is printed as an image drawn with a font")


def with_dialect(profile: Profile, dialect: str, *, where: str = "") -> Profile:
    """``profile`` spoken to in ``dialect`` (one of ``DIALECTS``). ``where`` is the printer's
    key path for error messages (``printers.front``). Raises ``ConfigError`` for an unknown
    dialect, or a Star one on a profile that cannot have it."""
    if dialect == profile.dialect:
        return profile
    prefix = f"{where}." if where else ""
    if dialect not in DIALECTS:
        raise ConfigError(
            f"{prefix}dialect: must be one of {', '.join(DIALECTS)} (got {dialect!r})")
    changed = dataclasses.replace(profile, dialect=dialect)
    _check_dialect(changed, prefix)
    return changed


def resolve_profile(
    name: str,
    overrides: dict[str, Any] | None = None,
    custom: dict[str, dict[str, Any]] | None = None,
    *,
    where: str = "printers.?",
) -> Profile:
    """A printer's profile as configured: ``name`` is a built-in or python-escpos profile, or
    a ``[profiles.NAME]`` section of ``custom`` (``base`` = a built-in profile, the other keys
    override its fields); then the printer's own ``profile_overrides`` on top.

    ``where`` is the printer's key path (``printers.front``). Raises ``ConfigError`` naming
    the full key path of the bad setting."""
    custom = custom or {}
    section = custom.get(name)
    if section is None:
        profile = get_profile(name, where=f"{where}.profile")
        base, values = name, dict[str, Any]()
    else:
        given = section.get("base")
        if not isinstance(given, str) or not given:
            raise ConfigError(f"profiles.{name}.base: required, the profile it starts from")
        base = given
        if base in custom:
            raise ConfigError(
                f"profiles.{name}.base: {base!r} is a [profiles] section; start from a "
                f"built-in profile ({', '.join(_BUILTIN)}) or a python-escpos one"
            )
        values = {k: v for k, v in section.items() if k != "base"}
        profile = get_profile(base, values, where=f"profiles.{name}")
    if overrides:
        profile = get_profile(
            base, {**values, **overrides}, where=f"{where}.profile_overrides"
        )
    if profile.name != name:
        profile = dataclasses.replace(profile, name=name)
    return profile
