"""The sales page: GET / serves an HTML shell; its script reads the lead routes.

The shell and its assets (served from leadml_serve/web/static, no CDN, no build step) hold no
lead data and need no key. The page asks for an API key once, keeps it in the tab's
sessionStorage and sends it as a header on every call, so a visitor without a key sees
a sign-in form and nothing else.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from leadml import __version__, vocabulary
from leadml.vocabulary import GLOSSARY

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SECURITY_HEADERS = {
    # Scripts, styles and requests only from this server: no inline script, no CDN.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

DOCS_CSP = (
    # Swagger UI (only with serve.docs = true): FastAPI's page has an inline script and
    # loads its bundle from jsDelivr.
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"])
    )


@router.get("/", response_class=HTMLResponse)
async def sales_page(request: Request) -> HTMLResponse:
    """The ranked-leads page (an empty shell until the visitor signs in with a key)."""
    stages = [
        (vocabulary.label("stage", token), meaning)
        for token, meaning in vocabulary.STAGE_MEANING.items()
    ]
    html = (
        _templates()
        .get_template("index.html")
        .render(version=__version__, glossary=GLOSSARY.items(), stages=stages)
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def mount_static(app: FastAPI) -> None:
    """Serve the page's CSS and JavaScript at /static."""
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs (serve.docs = true), with a policy that lets it load its CDN assets."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page
