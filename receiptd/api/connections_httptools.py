"""The connection guard on uvicorn's httptools protocol (llhttp, in C): the parser's
callbacks say where the request is.

httptools takes a request's head however long it grows (h11 gives up at 16 KB with a 400):
a client sending one endless header could fill the memory before the head's time is up. Here
a head still incomplete ``MAX_HEAD_BYTES`` after the read it began in is answered as h11
answers it (400, "Invalid HTTP request received.") and the connection closed.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from receiptd.api.connections import GuardedProtocol, Phase, Request

#: h11's limit on an incomplete head (uvicorn's default), counted after the head's first read.
MAX_HEAD_BYTES = 16 * 1024


class GuardedHttpToolsProtocol(GuardedProtocol, HttpToolsProtocol):
    implementation = "httptools"

    #: The parser's last word on the request it reads: its first byte ("head"), its headers
    #: ("body"), its end ("done").
    _parsed: Phase = "idle"
    #: Bytes of the head in progress read after the read it began in.
    _head_bytes = 0
    _head_began = False

    def phase(self) -> Phase:
        if self.pipeline:  # a request read in full waits for the one before to be answered
            return "done"
        if self._parsed == "body":  # the cycle is this request's
            return "body"
        # Otherwise the cycle is the last request read in full (or None before the first):
        # while it is answered, the next one's first bytes are not yet a request of their own
        # (h11 does not even read them).
        if self.cycle is not None and not self.cycle.response_complete:
            return "done"
        return "head" if self._parsed == "head" else "idle"

    def request(self) -> Request | None:
        return self.cycle

    def data_received(self, data: bytes) -> None:
        self._head_began = False
        super().data_received(data)
        if self._parsed != "head" or self._head_began or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed = "head"
        self._head_began = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._parsed = "body"

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._parsed = "done"

    def on_response_complete(self) -> None:
        self._answered(super().on_response_complete)
