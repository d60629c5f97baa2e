"""Security headers on every response, and a last check of every header value.

Pure ASGI, outermost in the stack: errors, 404s, 405s, 429s, CORS preflights, downloads and the
last-resort 500 all pass through it. A header the application already set is left as it is
(a download's ``Cache-Control: no-cache`` for revalidation, ``/metrics``' own one).

Headers (``security_headers`` on, the default):

- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``;
- ``Cross-Origin-Resource-Policy`` (``same-origin`` by default): it only governs other sites'
  pages *embedding* a response (``<img>``, ``<script>``, no-cors fetches); CORS requests from
  ``CORS_ORIGINS`` and plain navigations (a download link) are not affected by it;
- ``Content-Security-Policy``: ``default-src 'none'; frame-ancestors 'none'`` for the API (JSON
  runs no script), and for the ``/docs`` and ``/redoc`` pages one that lets them load Swagger UI
  and ReDoc from their CDN and run their inline start-up script (:data:`DOCS_CSP`);
- ``Cache-Control: no-store`` on every response that sets no ``Cache-Control`` of its own (but
  the docs pages): registry answers change with every write and may name private models.

``Strict-Transport-Security`` is sent only when ``HSTS_MAX_AGE`` is set.

Whatever the settings, a header whose value holds CR, LF or NUL is dropped (and logged) rather
than sent: the server would otherwise either split the header block or drop the connection.
Every header the service builds from user data is encoded so that this never happens; this is
the net under them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings

log = logging.getLogger("model_service.server")

Headers = list[tuple[bytes, bytes]]

# What Swagger UI (/docs, its OAuth2 redirect page) and ReDoc (/redoc) load, as FastAPI renders them.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'none'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; "
    f"style-src 'self' 'unsafe-inline' {DOCS_CDN} https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def security_headers(settings: Settings) -> tuple[Headers, Headers]:
    """The headers added to API responses and to the docs pages, from the settings."""
    common: Headers = []
    if settings.security_headers:
        common += [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-resource-policy", settings.cross_origin_resource_policy.encode("ascii")),
        ]
    if settings.hsts_max_age:
        hsts = f"max-age={settings.hsts_max_age}" + ("; includeSubDomains" if settings.hsts_include_subdomains else "")
        common.append((b"strict-transport-security", hsts.encode("ascii")))
    api, docs = list(common), list(common)
    if settings.security_headers:
        api += [(b"content-security-policy", settings.content_security_policy.encode("ascii")),
                (b"cache-control", b"no-store")]
        docs.append((b"content-security-policy", DOCS_CSP.encode("ascii")))
    return api, docs


class SecurityHeadersMiddleware:
    """Adds ``headers`` (``docs_headers`` on ``docs_paths``) to every HTTP response that does
    not already have them, and drops any header whose value could split the header block."""

    def __init__(self, app: ASGIApp, *, headers: Headers, docs_headers: Headers, docs_paths: Iterable[str]):
        self.app = app
        self.headers = headers
        self.docs_headers = docs_headers
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.docs_headers if scope["path"] in self.docs_paths else self.headers

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secured(message.get("headers", ()), extra)
            await send(message)

        await self.app(scope, receive, send_secured)


def secured(headers: Iterable[tuple[bytes, bytes]], extra: Headers) -> Headers:
    """``headers`` without any whose value holds CR, LF or NUL, plus each of ``extra`` whose
    name is not among them."""
    out: Headers = []
    present = set()
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\0" in value:
            log.error("Dropped the %s response header: its value holds a line break or NUL",
                      name.decode("latin-1")[:100])
            continue
        out.append((name, value))
        present.add(name.lower())
    out.extend(header for header in extra if header[0] not in present)
    return out
