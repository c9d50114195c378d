"""The API's documentation pages, served whole by the app so they work offline: Swagger UI at /docs (whose
"Authorize" takes an API key, the document's `ApiKey` bearer scheme, and "Try it out" sends it) and ReDoc at
/redoc. Their scripts and styles are the ones the `fastapi-offline` package ships, served at /docs-assets/, beside
the two small start-up scripts of web/static/docs/; no page loads anything from another origin, and no script is
inline (the pages' Content-Security-Policy allows none)."""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
# ReDoc styles itself with <style> elements it writes at run time, and searches in a worker it starts from a blob:
# URL; scripts still come from this origin only.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": DOCS_CSP, "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "X-Content-Type-Options": "nosniff"}


def install_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve /docs and /redoc (create the app with docs_url=None, redoc_url=None)."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static"), ("web", "static/docs")]),
              name="docs-assets")
    title = escape(app.title)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _page(f"{title} - API reference", f"""
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script src="{ASSETS}/swagger-init.js"></script>""")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _page(f"{title} - API reference", f"""
</head>
<body>
  <div id="redoc" data-openapi-url="{escape(openapi_url)}"></div>
  <script src="{ASSETS}/redoc.standalone.js"></script>
  <script src="{ASSETS}/redoc-init.js"></script>""")


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" type="image/png" href="{ASSETS}/favicon.png">{body}
</body>
</html>
""", headers=HEADERS)
