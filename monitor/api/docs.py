"""``/docs``: Swagger UI with its JavaScript and CSS served by the service itself, from the ``swagger-ui-bundle``
PyPI package, so a self-hosted or offline install has its API docs (FastAPI's default loads them from a CDN).

ReDoc is not offered: it has no packaged assets, and one documentation page is enough.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the Swagger UI files are served.
ASSETS = "/docs/assets"


def swagger_ui_dir() -> Path | None:
    """The folder of Swagger UI's files in the installed ``swagger-ui-bundle`` package, or None without it."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(str(swagger_ui_path))


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets; call on an app created with ``docs_url=None, redoc_url=None``."""
    assets = swagger_ui_dir()
    if assets is not None:
        app.mount(ASSETS, StaticFiles(directory=assets), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if assets is None:  # never fall back to a CDN: say what is missing, and where the schema is
            return HTMLResponse(
                "<!doctype html><title>Calmwatch API</title><p>The API docs page needs the "
                "<code>swagger-ui-bundle</code> package, which is not installed. The OpenAPI document is at "
                f'<a href="{app.openapi_url}">{app.openapi_url}</a>.</p>',
                status_code=503,
            )
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
