"""What a Star printer in Star Line Mode tells the host: ASB, ENQ and EOT status, the ETB counter.

Written from Star Micronics' "STAR Line Mode Command Specifications" (line thermal printers),
Rev 1.12, section 5.2 "Appendix 2: Status Specifications": 5.2.1 ENQ Command Status, 5.2.2
EOT Command Status and 5.2.3 Automatic Status. docs/STAR.md has the table of every bit set here.

The Automatic Status (ASB) is nine bytes: header 1 (the length), header 2 (the status version),
then printer status 1 to 7. It is sent when ``ESC RS a`` turns it on, whenever what it reports
changes, when the printer reaches an ``ETB``, and on request (``ESC ACK SOH``). The ETB counter
(5 bits) counts the ``ETB`` commands the printer has reached; ``ESC RS E n`` and ``CAN`` set it
back to 0 without a status block, and so does a power cycle.
"""

from __future__ import annotations

from receiptd.emulator.status import Fault, PrinterStatus
from receiptd.emulator.transcript import Transcript

ASB_LENGTH = 9
ASB_VERSION = 3  # header 2 version 3: "up to printer status 7 (9th byte)"


def _encode_count(n: int) -> int:
    """Star's 5-bit field layout (headers 1 and 2, the ETB counter): value bits 0-2 in bits 1-3,
    bits 3-4 in bits 5-6; bits 0, 4 and 7 carry no value."""
    return ((n & 0x07) << 1) | (((n >> 3) & 0x03) << 5)


def decode_count(byte: int) -> int:
    return ((byte >> 1) & 0x07) | (((byte >> 5) & 0x03) << 3)


def asb_block(faults: set[Fault], offline: bool, etb_executed: bool, etb_counter: int) -> bytes:
    """The nine ASB bytes."""
    f = faults
    header1 = 0x01 | _encode_count(ASB_LENGTH)  # bit 0 marks header 1
    header2 = _encode_count(ASB_VERSION)
    s1 = (0x20 if Fault.COVER_OPEN in f else 0) | (0x08 if offline else 0)
    s1 |= 0x04 if Fault.DRAWER_OPEN in f else 0
    s1 |= 0x02 if etb_executed else 0
    s2 = (0x40 if Fault.OVERHEAT in f else 0) | (0x20 if Fault.UNRECOVERABLE in f else 0)
    s2 |= (0x08 if Fault.CUTTER_ERROR in f else 0) | (0x04 if Fault.JAM in f else 0)
    s3 = 0
    s4 = (0x08 if Fault.PAPER_OUT in f else 0) | (0x04 if Fault.NEAR_END in f else 0)
    s5 = 0
    s6 = _encode_count(etb_counter % 32)
    s7 = 0
    return bytes([header1, header2, s1, s2, s3, s4, s5, s6, s7])


def enq_status(faults: set[Fault], buffer_has_data: bool) -> int:
    """The ENQ reply (5.2.1): bit 7 compulsion switch, bit 5 receive buffer has data, bit 3
    paper end, bit 2 other errors (an unrecoverable error or an open cover); bit 4 is 0."""
    f = faults
    v = 0x80 if Fault.DRAWER_OPEN in f else 0
    v |= 0x20 if buffer_has_data else 0
    v |= 0x08 if Fault.PAPER_OUT in f else 0
    v |= 0x04 if f & {Fault.UNRECOVERABLE, Fault.COVER_OPEN} else 0
    return v


def eot_status(faults: set[Fault]) -> int:
    """The EOT reply (5.2.2): bit 7 compulsion switch, bit 4 always 1, bit 3 paper end, bit 2
    paper near end (inner sensor); bit 0 is 0."""
    f = faults
    v = 0x10
    v |= 0x80 if Fault.DRAWER_OPEN in f else 0
    v |= 0x08 if Fault.PAPER_OUT in f else 0
    v |= 0x04 if Fault.NEAR_END in f else 0
    return v


def version_reply(version: str) -> bytes:
    """``ESC # *`` answer: ``ESC # * ,`` the printer version, ``LF NUL``."""
    return b"\x1b#*," + version.encode("ascii", "replace") + b"\n\x00"


class StarStatus(PrinterStatus):
    """The faults, the power and the reply queue (as the ESC/POS model), with Star's status.

    ``asb_mask`` is 1 while ASB is on, 0 while off (``ESC RS a n``: bit 0 of n).
    """

    def __init__(self, transcript: Transcript) -> None:
        super().__init__(transcript)
        self.etb_counter = 0
        self.etb_executed = False
        # A LAN printer: ASB is always on and ESC RS a n does not turn it off ("The command is
        # ignored (set to enable auto-status) when using Ethernet or wireless LAN").
        self.ethernet = False

    def set_ethernet(self) -> None:
        """The printer has a LAN interface: ASB on from now on (no block is sent for it)."""
        self.ethernet = True
        self._asb_power_on_value()

    def _asb_power_on_value(self) -> None:
        """ASB as at power on: on for a LAN printer, off otherwise (the memory switch)."""
        self.asb_mask = 1 if self.ethernet else 0
        self.asb_sent = self._view() if self.ethernet else None

    def asb_bytes(self) -> bytes:
        return asb_block(self.faults, self.offline, self.etb_executed, self.etb_counter)

    def _view(self) -> bytes:
        """What a change of sends a block: everything but the ETB bit (clearing it sends none)."""
        block = bytearray(self.asb_bytes())
        block[2] &= ~0x02
        return bytes(block)

    def send_asb(self) -> None:
        """Queue one ASB block; the ETB bit it carries is cleared once it is on its way."""
        self.send(self.asb_bytes())
        self.etb_executed = False
        self.asb_sent = self._view()

    def enable_asb(self, mask: int) -> None:
        """ESC RS a n: ASB on (bit 0 of n set) or off, and one block now when it is on. A LAN
        printer keeps ASB on whatever n says (and still sends the block)."""
        self.asb_mask = 1 if mask & 0x01 or self.ethernet else 0
        self.asb_sent = self._view()
        if self.asb_mask:
            self.send_asb()

    def changed(self) -> None:
        if self.asb_mask and self._view() != self.asb_sent:
            self.send_asb()
        self.was_offline = self.offline

    def etb(self) -> None:
        """The printer reached an ETB: count it, and report it when ASB is on."""
        self.etb_counter = (self.etb_counter + 1) % 32
        self.etb_executed = True
        if self.asb_mask:
            self.send_asb()

    def etb_init(self) -> None:
        """ESC RS E n / CAN: counter and ETB status back to 0; no block is sent."""
        self.etb_counter = 0
        self.etb_executed = False
        if self.asb_sent is not None:
            self.asb_sent = self._view()

    def enq(self, buffer_has_data: bool) -> bytes:
        return bytes([enq_status(self.faults, buffer_has_data)])

    def eot(self) -> bytes:
        return bytes([eot_status(self.faults)])

    def host_connected(self) -> None:
        """A new host connection: replies queued for the previous one are not sent."""
        self.out.clear()

    def power_off(self) -> None:
        """As the ESC/POS model, and the ETB counter starts again from 0."""
        super().power_off()
        self.etb_counter = 0
        self.etb_executed = False

    def power_on(self) -> None:
        """A new slip; no power-on notice. ASB is back at its power-on value: on for a LAN
        printer, off on the serial port until the host turns it on again."""
        self.powered = True
        self.transcript.new_slip()
        self.transcript.event("power_on")
        self.notice_pending = False
        self.was_offline = self.offline
        self._asb_power_on_value()

    def reset(self) -> None:
        """ESC ACK CAN / ESC ? LF NUL: the printer restarts without losing power: the ASB
        setting and the ETB counter go back to their power-on values."""
        self.etb_counter = 0
        self.etb_executed = False
        self._asb_power_on_value()
