"""The command lines: ``receiptd`` (``cli.daemon``) and ``receiptctl`` (``cli.ctl``, which speaks
the HTTP API through ``cli.client`` only).

Importing this package first stands in for pydantic's plugin loader (``cli._noplugins``): the
processes these commands start build their pydantic models without looking for plugins."""

from receiptd.cli import _noplugins

_noplugins.install()
