"""Pure ESC/POS codec: command builders, the reply-stream parser, status decoding.

No I/O, no threads, no logging: every function maps bytes to values. The reference is
docs/PROTOCOL.md (Epson-class printers); comments say what the protocol requires.

* ``status``: ``StatusFlags`` and how DLE EOT replies and ASB blocks set them;
* ``commands``: builders for the commands the daemon sends, and process-ID encoding;
* ``replies``: one event type per kind of reply;
* ``stream``: ``StreamParser``, which splits the reply stream into those events.

The wire bytes themselves (``DLE``, ``XON``, ``KIND_PROCESS_ID``, ...) stay in the submodule
that uses them.
"""

from receiptd.protocol.commands import (
    ASB_DRAWER,
    ASB_ERROR,
    ASB_ONLINE,
    ASB_PANEL,
    ASB_PAPER,
    CUMULATIVE,
    PID_CHARS,
    PID_LENGTH,
    PID_MODULUS,
    PROBE_PID,
    clear_buffers,
    decode_pid,
    dle_eot,
    enable_asb,
    encode_pid,
    identity,
    init,
    is_pid,
    maintenance_counter,
    offline_response,
    process_id,
    recover,
    request_status_now,
    status_when_reached,
)
from receiptd.protocol.replies import (
    AsbStatus,
    BufferCleared,
    Event,
    FlowControl,
    Garbage,
    HeaderBlock,
    InfoBlock,
    OfflineResponse,
    PowerOn,
    ProcessIdReply,
    RealTimeStatus,
)
from receiptd.protocol.status import (
    ASB_FIELDS,
    DLE_EOT_FIELDS,
    StatusFlags,
    flags_from_asb,
    is_asb_first,
    is_asb_rest,
    is_dle_eot_reply,
    merge_dle_eot,
)
from receiptd.protocol.stream import MAX_BLOCK_LEN, StreamParser

__all__ = [
    "ASB_DRAWER",
    "ASB_ERROR",
    "ASB_FIELDS",
    "ASB_ONLINE",
    "ASB_PANEL",
    "ASB_PAPER",
    "CUMULATIVE",
    "DLE_EOT_FIELDS",
    "MAX_BLOCK_LEN",
    "PID_CHARS",
    "PID_LENGTH",
    "PID_MODULUS",
    "PROBE_PID",
    "AsbStatus",
    "BufferCleared",
    "Event",
    "FlowControl",
    "Garbage",
    "HeaderBlock",
    "InfoBlock",
    "OfflineResponse",
    "PowerOn",
    "ProcessIdReply",
    "RealTimeStatus",
    "StatusFlags",
    "StreamParser",
    "clear_buffers",
    "decode_pid",
    "dle_eot",
    "enable_asb",
    "encode_pid",
    "flags_from_asb",
    "identity",
    "init",
    "is_asb_first",
    "is_asb_rest",
    "is_dle_eot_reply",
    "is_pid",
    "maintenance_counter",
    "merge_dle_eot",
    "offline_response",
    "process_id",
    "recover",
    "request_status_now",
    "status_when_reached",
]
