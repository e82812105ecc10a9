"""The command lines: ``receiptd`` (``cli.daemon``) and ``receiptctl`` (``cli.ctl``, which speaks
the HTTP API through ``cli.client`` only)."""
