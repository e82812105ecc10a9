"""One printer's profile: what its config names, filled in from what the printer says it is.

An installer often knows a printer's address and nothing else. The session asks every printer
who it is (``GS I`` maker, model, firmware, font of its language; Star's version line), and
``render.identify.suggest`` turns that into a profile and a double-byte set. Here:

* a setting the config **names** is used as named; where the identity disagrees, the
  disagreement is reported (``advice``: health, ``doctor``, a log line), never acted on;
* a setting the config **leaves out** (no ``profile``, no ``profile_overrides.double_byte``)
  follows the identity as soon as it is known, and receipts already accepted for the default
  are laid out again for the new profile at print time (``spool.prepare.bytes_for``);
* the dialect is never switched at run time (the session needs it to hear the identity at
  all): a dialect that does not fit the identity is advice.

Thread-safe: the API (accepting) and the spooler (printing) ask for the profile.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import structlog

from receiptd.config import PrinterConfig
from receiptd.errors import ConfigError
from receiptd.printer.dialect import printer_profile
from receiptd.render.identify import Advice, Suggestion, advise, suggest
from receiptd.render.profiles import Profile

log = structlog.get_logger("receiptd.printer")


def named_settings(printer: PrinterConfig) -> frozenset[str]:
    """The settings a printer's config names: ``profile``, ``dialect``, ``double_byte``."""
    named = {k for k in ("profile", "dialect") if k in printer.model_fields_set}
    if "double_byte" in printer.profile_overrides:
        named.add("double_byte")
    return frozenset(named)


class SelfConfig:
    """The profile ``name`` renders with, given the printer's identity as the session knows it."""

    def __init__(self, name: str, printer: PrinterConfig,
                 custom: dict[str, dict[str, Any]]) -> None:
        self.name = name
        self.named = named_settings(printer)
        self._printer = printer
        self._custom = custom
        self.configured = printer_profile(name, printer, custom)  # raises ConfigError
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, str], ...] = ()
        self._profile = self.configured
        self.suggestion = Suggestion()
        self.advice: list[Advice] = []
        self.source: dict[str, str] = {
            "profile": "config" if "profile" in self.named else "default",
            "double_byte": "config" if "double_byte" in self.named else "default",
            "dialect": "config" if "dialect" in self.named else "default",
        }

    def profile(self, identity: Mapping[str, str]) -> Profile:
        """The profile to render with now (``identity``: the session's answers so far)."""
        seen = tuple(sorted(dict(identity).items()))  # a copy: the session adds to it
        if seen == self._seen:
            return self._profile
        with self._lock:
            if seen != self._seen:
                self._follow(dict(identity))
                self._seen = seen
            return self._profile

    def report(self) -> dict[str, Any]:
        """What health and ``doctor`` show: the suggestion, where each setting came from, and
        the warnings."""
        with self._lock:
            return {
                "profile": self._profile.name,
                "double_byte": self._profile.double_byte,
                "dialect": self._printer.dialect,
                "source": dict(self.source),
                "suggested": self.suggestion.as_dict(),
                "warnings": [{"setting": a.setting, "configured": a.configured,
                              "suggested": a.suggested, "message": a.message}
                             for a in self.advice],
            }

    def _follow(self, identity: dict[str, str]) -> None:
        suggestion = suggest(identity)
        configured = self.configured
        advice = advise(suggestion, profile=configured.name, dialect=self._printer.dialect,
                        double_byte=configured.double_byte, named=self.named)
        if (suggestion.dialect and suggestion.dialect != self._printer.dialect
                and "dialect" not in self.named
                and not (suggestion.dialect == "star_raster" and self._printer.dialect == "star")):
            advice.append(Advice("dialect", self._printer.dialect, suggestion.dialect,
                                 f"the printer identifies as speaking {suggestion.dialect!r}; "
                                 f"set dialect = {suggestion.dialect!r} (or ?dialect= on "
                                 f"--printer) to use it"))
        fitting = suggestion.dialect is None or suggestion.dialect.startswith(
            "star") == (self._printer.dialect == "star")
        update: dict[str, Any] = {}
        overrides = dict(self._printer.profile_overrides)
        if fitting and "profile" not in self.named and suggestion.profile:
            update["profile"] = suggestion.profile
        if "double_byte" not in self.named and suggestion.double_byte:
            overrides["double_byte"] = suggestion.double_byte
            update["profile_overrides"] = overrides
        profile = configured
        if update:
            try:
                profile = printer_profile(self.name, self._printer.model_copy(update=update),
                                          self._custom)
            except ConfigError as exc:
                advice.append(Advice("profile", configured.name, str(suggestion.profile),
                                     f"the printer's identity points to settings that do not "
                                     f"load ({exc}); the configured ones are used"))
                profile = configured
        if profile != self._profile:
            log.info("printer_self_configured", printer=self.name, profile=profile.name,
                     double_byte=profile.double_byte, was=self._profile.name,
                     identity=identity)
        for item in advice:
            if item not in self.advice:
                log.warning("printer_config_mismatch", printer=self.name, setting=item.setting,
                            configured=item.configured, suggested=item.suggested)
        self.suggestion, self.advice, self._profile = suggestion, advice, profile
        if "profile" in update and profile is not configured:
            self.source["profile"] = "identity"
        if "profile_overrides" in update and profile is not configured:
            self.source["double_byte"] = "identity"
