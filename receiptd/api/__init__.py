"""The HTTP API: ``receiptd.api.app.create_app(backend)`` builds it.

Arrows point down: ``app`` mounts one router per resource (``receipts``, ``reprint``,
``printers``, ``events``, ``health``, ``journal``, ``tokens``); those build on ``deps`` (roles),
``models`` (bodies) and ``backend`` (what the API needs from the daemon); nothing in the API
imports ``app``.
"""
