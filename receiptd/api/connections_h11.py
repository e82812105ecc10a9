"""The connection guard on uvicorn's h11 protocol (pure Python): where h11 says the request
is. Used where httptools is not installed (``connections.http_implementation``)."""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from receiptd.api.connections import GuardedProtocol, Phase, Request


class GuardedH11Protocol(GuardedProtocol, H11Protocol):
    implementation = "h11"

    def phase(self) -> Phase:
        state = self.conn.their_state
        if state is h11.IDLE:  # h11 holds a request's head until all of it is in
            return "head" if self.conn.trailing_data[0] else "idle"
        if state is h11.SEND_BODY:
            return "body"
        return "done"

    def request(self) -> Request | None:
        return self.cycle

    def on_response_complete(self) -> None:
        self._answered(super().on_response_complete)
