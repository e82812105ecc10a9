"""The web console's files: one page, its script, its style sheet and its icon.

They ship inside the package (no CDN, no build step): the daemon serves them from here
(``receiptd.api.console``), so the console works on a till with no internet. The page holds
no data of its own; its script reads everything from the JSON API with the session cookie.
"""

from __future__ import annotations

from importlib import resources

#: The files the console serves, and their media types: nothing else under this package is
#: ever read for a request, so no path from a URL reaches the file system.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


def asset(name: str) -> bytes:
    """The bytes of one of ``ASSETS`` (``KeyError`` for any other name)."""
    if name not in ASSETS:
        raise KeyError(name)
    return (resources.files(__package__) / "static" / name).read_bytes()
