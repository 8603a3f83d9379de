"""`/docs`: Swagger UI from the `swagger-ui-bundle` package's files, so the page works with no internet access."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from server.errors import NotFound

ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
          "favicon-32x32.png": "image/png"}


def _bundle_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(str(swagger_ui_path))


def install_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs with its script, style and icon under /docs/assets (create the app with
    `docs_url=None`, so FastAPI's CDN page is not registered)."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png")

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"no documentation asset named {name!r}")
        response = Response((_bundle_dir() / name).read_bytes(), media_type=ASSETS[name])
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response
