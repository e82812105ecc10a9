"""Virtual printer ports: a TCP port per printer that an unmodified POS app prints to as if it
were the printer (AppSocket, "port 9100"), journaled and confirmed like any receipt.

* ``server``: one port: connections, jobs, answers, journaling through ``receiptd.intake``;
* ``answers``: the status bytes an Epson printer would send, from receiptd's view of it;
* ``resend``: the window in which a byte-identical job is a resend, not a new receipt;
* ``watch``: waiting on the event loop for a receipt printed or a printer changing state.

The daemon starts ``VirtualPorts`` on its event loop after the journal is open and the
workers run, and stops it before it drains the spoolers.
"""

from __future__ import annotations

from receiptd.intake import Backend
from receiptd.vport.server import VirtualPort
from receiptd.vport.watch import Watch

__all__ = ["VirtualPort", "VirtualPorts"]


class VirtualPorts:
    """Every configured virtual port, and the one event-bus watch they share."""

    def __init__(self, backend: Backend) -> None:
        self.watch = Watch(backend)
        self.ports = [VirtualPort(backend, name, cfg, self.watch)
                      for name, cfg in backend.config.printers.items() if cfg.virtual_port]

    async def start(self) -> dict[str, str]:
        """Listen on every port; returns printer name -> bound address (for the ready line).
        Call on the running event loop."""
        if not self.ports:
            return {}
        self.watch.start()
        return {port.printer: await port.start() for port in self.ports}

    async def stop(self) -> None:
        for port in self.ports:
            await port.stop()
        await self.watch.stop()
