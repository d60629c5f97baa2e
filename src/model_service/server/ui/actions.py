"""The UI's forms (writes) and its sign-in.

Each write goes through the same registry call, checks and audit record as its API endpoint
(``routers/models.py``, ``names.py``, ``files.py``), as the signed-in key's owner. A form answers
with a redirect to the version's page (post/redirect/get) or, when the registry refuses, that
page again with the reason and the status the API would give. Moving or removing an alias asks
for confirmation first, and the confirmation carries the version the alias pointed at when it
was shown: if someone moves it meanwhile, the move is refused (compare-and-swap) rather than
overwriting theirs.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...domain.audit import Action, describe_alias_move, describe_with_file
from ...domain.callers import Caller
from ...domain.errors import Invalid, RegistryError, Unauthorized, UnsupportedMediaType
from ...domain.models import ModelVersion, Status
from ...domain.registry import Registry
from ..auth import recording_refusals
from ..errors import status_for
from ..intake import receive_form
from . import session
from .render import render
from .views import model_page

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NO_ALIAS = "none"  # the confirmation's "expected" when the alias was not set


async def read_form(request: Request) -> FormData:
    """A small form (no files), its token checked."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in FORM_TYPES:
        raise UnsupportedMediaType(f"Send the form as {FORM_TYPES[0]}", code="unsupported_media_type")
    form = await request.form(max_files=0, max_fields=32)
    session.check_form(request, _text(form, session.CSRF_FIELD))
    return form


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _done(model_id: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/models/{model_id}?done={what}", status_code=303)


async def _refused(request: Request, model_id: str, exc: RegistryError, form: dict[str, str] | None = None) -> Response:
    """The version's page again, saying why the registry refused, with the API's status."""
    if isinstance(exc, Unauthorized):
        raise exc
    page = await model_page(request, model_id, status_code=status_for(exc), error=exc.message, form=form)
    if page.status_code == 408:  # an upload gone quiet: the rest of its body may still come
        page.headers["Connection"] = "close"
    return page


async def _writable(registry: Registry, model_id: str, caller: Caller) -> ModelVersion:
    model = await run_in_threadpool(registry.get, model_id)
    caller.check_name(model.name)  # 403 for a name outside the key's prefix
    return model


# ---- description, tags, status -------------------------------------------------------------------

def tag_list(text: str) -> list[str]:
    """Tags as typed in the form: separated by commas (or new lines), blanks dropped."""
    return [tag.strip() for tag in text.replace("\n", ",").split(",") if tag.strip()]


async def edit(request: Request, model_id: str, caller: Caller) -> Response:
    registry: Registry = request.app.state.registry
    form = await read_form(request)
    sent = {"description": _text(form, "description") or "", "tags": _text(form, "tags") or ""}
    try:
        await _writable(registry, model_id, caller)
        values: dict[str, Any] = {"description": sent["description"].replace("\r\n", "\n"),
                                  "tags": tag_list(sent["tags"])}
        await run_in_threadpool(lambda: registry.update(
            model_id, values, caller.actor,
            audit=registry.auditor.hook(caller, Action.UPDATE,
                                        lambda model: {"model": model, "details": {"fields": sorted(values)}})))
    except RegistryError as exc:
        return await _refused(request, model_id, exc, sent)
    return _done(model_id, "updated")


async def change_status(request: Request, model_id: str, caller: Caller) -> Response:
    registry: Registry = request.app.state.registry
    form = await read_form(request)
    status = _text(form, "status") or ""
    try:
        if status not in {s.value for s in Status}:
            raise Invalid(f"Unknown status '{status[:40]}': use one of {', '.join(s.value for s in Status)}",
                          code="invalid_status")
        await _writable(registry, model_id, caller)
        await run_in_threadpool(lambda: registry.update(
            model_id, {"status": status}, caller.actor,
            audit=registry.auditor.hook(caller, Action.UPDATE, lambda model: {
                "model": model, "details": {"fields": ["status"], "status": model.status.value}})))
    except RegistryError as exc:
        return await _refused(request, model_id, exc)
    return _done(model_id, "status")


# ---- aliases -------------------------------------------------------------------------------------

async def alias(request: Request, model_id: str, caller: Caller) -> Response:
    """Point an alias of the version's name at this version, or remove one: first a page that
    asks for confirmation, then (``confirm=yes``) the change, if the alias has not moved since."""
    registry: Registry = request.app.state.registry
    form = await read_form(request)
    name_of_alias = (_text(form, "alias") or "").strip()
    remove = _text(form, "action") == "remove"
    try:
        model = await _writable(registry, model_id, caller)
        if not name_of_alias:
            raise Invalid("Give the alias a name (for example production)", code="invalid_alias")
        if _text(form, "confirm") != "yes":
            current = await run_in_threadpool(_alias_now, registry, model.name, name_of_alias)
            if remove and current is None:
                raise Invalid(f"{model.name} has no alias '{name_of_alias}'", code="alias_not_found")
            return render(request, "confirm_alias.html", nav="models", model=model, alias=name_of_alias,
                          current=current, remove=remove, expected=NO_ALIAS if current is None else
                          str(current.version))
        expected_text = _text(form, "expected") or NO_ALIAS
        expected = None if expected_text == NO_ALIAS else expected_text
        if remove:
            await run_in_threadpool(lambda: registry.remove_alias(
                model.name, name_of_alias, caller.actor, expected=expected,
                audit=registry.auditor.hook(caller, Action.ALIAS_REMOVE, describe_alias_move)))
            return _done(model_id, "alias_removed")
        await run_in_threadpool(lambda: registry.set_alias(
            model.name, name_of_alias, caller.actor, model_id=model.id, expected=expected,
            audit=registry.auditor.hook(caller, Action.ALIAS_SET, describe_alias_move)))
    except RegistryError as exc:
        return await _refused(request, model_id, exc, {"alias": name_of_alias})
    return _done(model_id, "alias")


def _alias_now(registry: Registry, name: str, alias_name: str) -> ModelVersion | None:
    """The version ``name@alias_name`` points at now, or None."""
    for found in registry.aliases(name):
        if found.alias == alias_name:
            return registry.get(found.model_id)
    return None


# ---- the file ------------------------------------------------------------------------------------

async def upload(request: Request, model_id: str, caller: Caller) -> Response:
    """The version's file, streamed to the blob store as it arrives (never held in memory)."""
    registry: Registry = request.app.state.registry
    settings = request.app.state.settings
    checked: list[bool] = []

    def on_token(value: bytes) -> None:
        session.check_form(request, value.decode("utf-8", "replace"))
        checked.append(True)

    try:
        session.check_origin(request)  # before a byte is read; the token comes with the form
        model = await run_in_threadpool(registry.ensure_can_upload, model_id)  # 404/409 before reading
        caller.check_name(model.name)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "multipart/form-data":
            raise UnsupportedMediaType("Send the file as a multipart form", code="unsupported_media_type")
        received = await receive_form(request, registry, settings, fields={session.CSRF_FIELD: on_token})
        if not checked:
            if received is not None:
                received.abort()
            session.check_form(request, None)  # no token: refused
        if received is None:
            raise Invalid("Choose a file to upload", code="missing_file")
        async with recording_refusals(registry.auditor, caller, model=model):
            audit = registry.auditor.hook(caller, Action.UPLOAD, describe_with_file)
            await run_in_threadpool(lambda: registry.attach(model.id, received, caller.actor, audit=audit))
    except RegistryError as exc:
        return await _refused(request, model_id, exc)
    return _done(model_id, "uploaded")


# ---- signing in and out --------------------------------------------------------------------------

async def sign_in_page(request: Request, *, status_code: int = 200, error: str | None = None) -> Response:
    if not request.app.state.auth.enabled:
        return RedirectResponse("/ui", status_code=303)
    target = session.local_target(request.query_params.get("next"))
    reason = REASONS.get(request.query_params.get("reason", ""))
    return render(request, "login.html", status_code=status_code, nav="login", target=target,
                  error=error or reason)


REASONS = {"expired": "Your key is no longer valid (expired or revoked): sign in with another one.",
           "signed_out": "You are signed out."}


async def sign_in(request: Request) -> Response:
    authentication = request.app.state.auth
    form = await read_form(request)
    target = session.local_target(_text(form, "next"))
    if not authentication.enabled:
        return RedirectResponse(target, status_code=303)
    key = (_text(form, "key") or "").strip()
    try:
        if not key:
            raise Unauthorized("Paste an API key to sign in", code="unauthenticated")
        await run_in_threadpool(authentication.keys.authenticate, key)
    except Unauthorized as exc:
        return render(request, "login.html", status_code=401, nav="login", target=target, error=exc.message)
    response = RedirectResponse(target, status_code=303)
    session.sign_in(response, request, key)
    return response


async def sign_out(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/ui/login?reason=signed_out", status_code=303)
    session.sign_out(response, request)
    return response
