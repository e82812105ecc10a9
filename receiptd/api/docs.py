"""``/v1/docs``: Swagger UI, served from the files a Python package ships (no CDN).

The files come from the ``fastapi-offline`` distribution's ``static`` folder, found on disk
without importing the package (its ``__init__`` would import a web framework the daemon does
not otherwise load). The page itself is written here: it loads the bundle and the stylesheet
from this daemon and points Swagger UI at the OpenAPI document. There is no OAuth flow (the
only scheme is a bearer token), so no OAuth redirect page.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
from pathlib import Path

from receiptd.errors import NotFound

#: Swagger UI's files, by name, with their content types.
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
               "swagger-ui.css": "text/css; charset=utf-8", "favicon.png": "image/png"}
#: Where under ``/v1/docs/`` the page finds them.
DOCS_PREFIX = "/v1/docs/"
_PACKAGE = "fastapi_offline"


@functools.cache
def _static_dir() -> Path | None:
    spec = importlib.util.find_spec(_PACKAGE)  # a top-level name: finds, does not import
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def docs_file(name: str) -> bytes:
    """One of ``DOCS_ASSETS``, read from the package's files."""
    folder = _static_dir()
    if name not in DOCS_ASSETS or folder is None:
        raise NotFound(f"no docs file {name!r}")
    try:
        return (folder / name).read_bytes()
    except OSError as exc:
        raise NotFound(f"no docs file {name!r}") from exc


def docs_page(*, openapi_url: str, title: str) -> str:
    """The Swagger UI page for the document at ``openapi_url``."""
    config = json.dumps({
        "url": openapi_url,
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "showExtensions": True,
        "showCommonExtensions": True,
        "persistAuthorization": False,
    })
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" type="text/css" href="{DOCS_PREFIX}swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS_PREFIX}favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_PREFIX}swagger-ui-bundle.js"></script>
<script>
const config = {config};
config.presets = [SwaggerUIBundle.presets.apis];
window.ui = SwaggerUIBundle(config);
</script>
</body>
</html>
"""
