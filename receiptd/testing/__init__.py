"""Test helpers shipped with the product (like ``structlog.testing``).

``receiptd.testing.fakeusb`` is a pyusb backend whose one USB printer is a TCP server (the
emulator) behind a bridge; select it with
``RECEIPTD_USB_BACKEND=receiptd.testing.fakeusb:get_backend``.
"""
