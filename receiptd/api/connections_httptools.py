"""The connection guard on uvicorn's httptools protocol (llhttp, in C): the parser's
callbacks say where the request is."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from receiptd.api.connections import GuardedProtocol, Phase, Request


class GuardedHttpToolsProtocol(GuardedProtocol, HttpToolsProtocol):
    implementation = "httptools"

    #: The parser's last word on the request it reads: its first byte ("head"), its headers
    #: ("body"), its end ("done").
    _parsed: Phase = "idle"

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

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed = "head"

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._parsed = "body"

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._parsed = "done"

    def on_response_complete(self) -> None:
        self._answered(super().on_response_complete)
