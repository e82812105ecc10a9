"""What the printer sends back: one event type per kind of reply, and the bytes that mark them.

``receiptd.protocol.stream.StreamParser`` turns the reply stream into these events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

from receiptd.protocol.status import StatusFlags

HEADER_37: Final = 0x37  # "header to NUL" replies of GS ( H, DLE DC4 8, GS ( E, ...
HEADER_5F: Final = 0x5F  # "header to NUL" replies of GS I n>=65 and GS g 2
POWER_ON_NOTICE: Final = b"\x3b\x31\x00"

# Kinds (second byte) of 0x37 header blocks.
KIND_USER_SETTING: Final = 0x20
KIND_MEMORY_SWITCH: Final = 0x21
KIND_PROCESS_ID: Final = 0x22
KIND_OFFLINE_RESPONSE: Final = 0x23
KIND_BUFFER_CLEARED: Final = 0x25



@dataclass(frozen=True, slots=True)
class RealTimeStatus:
    """A DLE EOT reply byte. Which n it answers is known only to whoever asked."""

    value: int


@dataclass(frozen=True, slots=True)
class AsbStatus:
    raw: bytes
    flags: StatusFlags


@dataclass(frozen=True, slots=True)
class ProcessIdReply:
    """``37 22 d1..d4 00``: everything sent before that GS ( H fn 48 has been printed."""

    pid: str


@dataclass(frozen=True, slots=True)
class OfflineResponse:
    """``37 23 cause… 00``; cause bytes are model-dependent (0x40-0x7F), empty for d=1."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class BufferCleared:
    """``37 25 00``: DLE DC4 8 was executed."""


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """Any other ``37 kind … 00`` block (0x20 user setting, 0x21 memory switch, ...)."""

    kind: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class InfoBlock:
    """``5F … 00``: the answer to GS I n>=65 or GS g 2 (ASCII)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class PowerOn:
    """``3B 31 00``: the printer was reset; its buffers and settings (ASB, offline response,
    pending process IDs) are gone."""


@dataclass(frozen=True, slots=True)
class FlowControl:
    xon: bool


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that form no reply; consecutive ones are reported together."""

    data: bytes


Event: TypeAlias = (
    RealTimeStatus
    | AsbStatus
    | ProcessIdReply
    | OfflineResponse
    | BufferCleared
    | HeaderBlock
    | InfoBlock
    | PowerOn
    | FlowControl
    | Garbage
)
