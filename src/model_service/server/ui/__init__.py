"""The web UI: server-rendered pages under ``/ui`` to browse, search, compare and change models.

Pages are Jinja2 templates rendered from the registry directly (no second trip through the JSON
API), styled and scripted by static files shipped in this package: no build step, and every page
reads and works without JavaScript (the script only swaps the models list's results in place).
Routes declare their scope like the API's (``auth.READ``/``WRITE``); the key comes from the UI's
session cookie (``session.py``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ...domain.errors import RegistryError, Unauthorized
from ..auth import PUBLIC, READ, ReaderDep, WriterDep, is_ui_path
from ..errors import status_for
from ..params import ModelId
from . import actions, session, views
from .figures import Figures
from .render import STATIC_PATH, render

STREAMING_ROUTES = frozenset({"ui_upload"})
STATIC_DIR = Path(__file__).parent / "static"


def build_router(figures: Figures) -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)
    _add_pages(router, figures)
    _add_actions(router)
    _add_session(router)
    return router


def _add_pages(router: APIRouter, figures: Figures) -> None:
    """The pages that read: dashboard, models list, a model, its download, the comparison."""

    @router.get("", name="ui_dashboard", dependencies=[READ])
    async def dashboard(request: Request) -> Response:
        return await views.dashboard(request, figures)

    @router.get("/models", name="ui_models", dependencies=[READ])
    async def models(request: Request) -> Response:
        return await views.models_list(request, figures)

    @router.get("/models/{model_id:model_id}", name="ui_model", dependencies=[READ])
    async def model(model_id: ModelId, request: Request) -> Response:
        return await views.model_page(request, model_id)

    @router.get("/models/{model_id:model_id}/download", name="ui_download")
    async def download(model_id: ModelId, request: Request, caller: ReaderDep) -> Response:
        return await views.download(request, model_id, caller.actor)

    @router.get("/compare", name="ui_compare", dependencies=[READ])
    async def compare(request: Request) -> Response:
        return await views.compare_page(request)


def _add_actions(router: APIRouter) -> None:
    """The forms that change a model: edit, status, alias, upload."""

    @router.post("/models/{model_id:model_id}/edit", name="ui_edit")
    async def edit(model_id: ModelId, request: Request, caller: WriterDep) -> Response:
        return await actions.edit(request, model_id, caller)

    @router.post("/models/{model_id:model_id}/status", name="ui_status")
    async def status(model_id: ModelId, request: Request, caller: WriterDep) -> Response:
        return await actions.change_status(request, model_id, caller)

    @router.post("/models/{model_id:model_id}/alias", name="ui_alias")
    async def alias(model_id: ModelId, request: Request, caller: WriterDep) -> Response:
        return await actions.alias(request, model_id, caller)

    @router.post("/models/{model_id:model_id}/upload", name="ui_upload")
    async def upload(model_id: ModelId, request: Request, caller: WriterDep) -> Response:
        return await actions.upload(request, model_id, caller)


def _add_session(router: APIRouter) -> None:
    """Signing in and out (public: they are how a browser gets its key)."""

    @router.get("/login", name="ui_login_page", dependencies=[PUBLIC])
    async def login_page(request: Request) -> Response:
        return await actions.sign_in_page(request)

    @router.post("/login", name="ui_login", dependencies=[PUBLIC])
    async def login(request: Request) -> Response:
        return await actions.sign_in(request)

    @router.post("/logout", name="ui_logout", dependencies=[PUBLIC])
    async def logout(request: Request) -> Response:
        return await actions.sign_out(request)


class StaticAssets(StaticFiles):
    """The UI's CSS and script. Their URLs carry the service's version, so browsers may keep them."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def install(app: FastAPI) -> None:
    """Serve the static files and answer errors on UI paths with pages instead of JSON."""
    app.mount(STATIC_PATH, StaticAssets(directory=STATIC_DIR), name="ui_static")
    for error_class in (RegistryError, RequestValidationError, HTTPException):
        app.add_exception_handler(error_class, _page_or(app.exception_handlers[error_class]))


def _page_or(json_handler):
    async def handler(request: Request, exc: Exception) -> Response:
        if not is_ui_path(request.url.path) or request.url.path.startswith(STATIC_PATH + "/"):
            return await json_handler(request, exc)
        return await error_page(request, exc)

    return handler


async def error_page(request: Request, exc: Exception) -> Response:
    """A page saying what went wrong; a missing or no longer valid key sends the browser to sign in."""
    if isinstance(exc, Unauthorized):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        reason = "" if exc.code == "unauthenticated" else "&reason=expired"
        response = RedirectResponse(f"/ui/login?next={quote(target, safe='')}{reason}", status_code=303)
        if reason:
            session.sign_out(response, request)
        return response
    if isinstance(exc, RegistryError):
        status_code, message = status_for(exc), exc.message
    elif isinstance(exc, RequestValidationError):
        status_code, message = 422, "The request is not valid: " + "; ".join(
            str(error.get("msg", "")) for error in exc.errors()[:3])
    elif isinstance(exc, HTTPException):
        status_code = exc.status_code
        message = ("There is no such page." if status_code == 404
                   else exc.detail if isinstance(exc.detail, str) else "The request could not be served.")
    else:  # pragma: no cover - only the classes above are routed here
        raise exc
    return render(request, "error.html", status_code=status_code, nav="", status=status_code, message=message)
