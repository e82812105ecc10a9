"""The command lines: ``receiptd`` (``cli.daemon``) and ``receiptctl`` (``cli.ctl``, which speaks
the HTTP API through ``cli.client`` only).

Importing this package first stands in for parts of libraries the daemon does not use idle:
pydantic's plugin loader (``cli._noplugins``), so the processes these commands start build
their pydantic models without looking for plugins; uvicorn's own command line
(``cli._uvicorn``), which the daemon's server does not need; and the standard library's
``html`` with its table of entities (0.5 MB), which Starlette imports for the debug page it
never shows here and the API docs page escapes its title with: imported when first used
(``render.ondemand``)."""

from receiptd.cli import _noplugins, _uvicorn
from receiptd.render import ondemand

_noplugins.install()
_uvicorn.install()
ondemand.stand_in("html")
