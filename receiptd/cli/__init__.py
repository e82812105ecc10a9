"""The command lines: ``receiptd`` (``cli.daemon``) and ``receiptctl`` (``cli.ctl``, which speaks
the HTTP API through ``cli.client`` only).

Importing this package first stands in for two parts of libraries the daemon does not use:
pydantic's plugin loader (``cli._noplugins``), so the processes these commands start build
their pydantic models without looking for plugins, and uvicorn's own command line
(``cli._uvicorn``), which the daemon's server does not need."""

from receiptd.cli import _noplugins, _uvicorn

_noplugins.install()
_uvicorn.install()
