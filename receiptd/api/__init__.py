"""The HTTP API: ``receiptd.api.app.create_app(backend)`` builds it.

Arrows point down: ``app`` serves one route table per resource (``receipts``, ``reprint``,
``printers``, ``events``, ``health``, ``journal``, ``tokens``, ``console``); those build on
``routing`` (the table's entries), ``deps`` (roles), ``models`` (bodies) and ``backend`` (what
the API needs from the daemon); ``openapi`` makes the document from the same tables; nothing
in the API imports ``app``.
"""
