"""Rendering the UI's pages: one Jinja2 environment (templates shipped in the package), the
filters the templates use, and the response every page gets (its own Content-Security-Policy,
no caching, the form token cookie)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ... import __version__
from ...domain.callers import Scope
from ...domain.models import ModelVersion
from ...domain.naming import accuracy_of
from ..schemas import human_size
from . import session

# Scripts and styles come from the UI's own static files only; charts are inline SVG, so no
# inline script or style attribute is needed (or allowed).
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store", "Vary": "Cookie, X-UI-Partial"}
STATIC_PATH = "/ui/static"


def filesize(value: int | None) -> str:
    """A size as the API's ``model_size`` spells it (``1.2 MB``)."""
    return "—" if value is None else human_size(value)


def when(value: datetime | None) -> str:
    """A UTC time as people read it (``2026-11-29 06:31 UTC``)."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def number(value: Any) -> str:
    """Metrics and parameters: integers as they are, floats with up to 6 significant digits."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    return str(value)


def value_text(value: Any) -> str:
    """A hyperparameter or dataset value: numbers formatted, structures as compact JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    if isinstance(value, str):
        return value
    return number(value)


def label(model: ModelVersion) -> str:
    return f"{model.name} {model.version}"


def _environment() -> Environment:
    environment = Environment(loader=PackageLoader("model_service.server.ui", "templates"),
                              autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(filesize=filesize, when=when, iso=iso, number=number, value_text=value_text,
                               label=label, accuracy=accuracy_of)
    environment.globals.update(static=lambda name: f"{STATIC_PATH}/{name}?v={__version__}", version=__version__)
    return environment


ENVIRONMENT = _environment()


class Viewer:
    """Who looks at the page, as the templates need it."""

    def __init__(self, request: Request):
        state = request.scope.get("state", {})
        self.caller = state.get("caller")
        authentication = request.app.state.auth
        self.auth_enabled: bool = authentication.enabled
        self.signed_in = self.auth_enabled and self.caller is not None and self.caller.authenticated
        self.actor = self.caller.actor if self.caller is not None else "anonymous"
        self.scopes = sorted(s.value for s in self.caller.scopes) if self.caller is not None else []

    def can_write(self, name: str | None = None) -> bool:
        """Whether to show the write controls (for ``name``): the key has the write scope and,
        with a name prefix, the name is inside it. The server checks again on every write."""
        if self.caller is None or not self.caller.allows(Scope.WRITE):
            return False
        return name is None or self.caller.may_write(name)


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` with ``context``, plus what every page has (viewer, form token)."""
    body = ENVIRONMENT.get_template(template).render(
        request=request, viewer=Viewer(request), csrf=session.csrf_token(request), csrf_field=session.CSRF_FIELD,
        path=request.url.path, **context)
    response = HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)
    session.keep_csrf(response, request)
    return response
