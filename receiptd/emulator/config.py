"""What the emulated printer is built with, and the error for asking it something impossible."""

from __future__ import annotations

from dataclasses import dataclass, field


class EmulatorError(ValueError):
    """A bad fault name or argument given to the emulator (control port answers ``error``)."""


@dataclass(frozen=True)
class Identity:
    model_id: int = 0x20  # GS I 1
    type_id: int = 0x02  # GS I 2: bit 1 = autocutter
    version_id: int = 0x01  # GS I 3
    firmware: str = "1.00 ESC/POS"  # GS I 65
    maker: str = "EPSON"  # GS I 66
    model: str = "TM-T88V"  # GS I 67
    serial: str = "RCPTEMU0001"  # GS I 68
    font: str = "PC437"  # GS I 69


@dataclass(frozen=True)
class PrinterConfig:
    buffer_size: int = 4096
    speed_mm_s: float = 250.0
    columns: int = 42  # font A characters per line
    bytes_per_s: float | None = None  # link rate limit (serial baud / 10)
    overheat_s: float = 2.0  # how long a head overheat lasts
    power_off_s: float = 1.0  # how long a power cycle keeps the printer off
    cjk: str = "gb18030"  # double-byte encoding in FS & mode until FS C selects another
    identity: Identity = field(default_factory=Identity)
    process_id: bool = True  # False: GS ( H fn 48 is consumed but never answered (older models)
    dialect: str = "escpos"  # "star": Star Line Mode (receiptd.emulator.star_model)
    star_version: str = "TSP143IIIU Ver1.0"  # the Star dialect's ESC # * answer
