"""``/api/v1/models``: register, list, read, update, delete, new versions, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ...config import Settings
from ...domain.audit import Action, describe_new_version, describe_with_file
from ...domain.callers import Caller
from ...domain.errors import Invalid
from ...domain.models import ModelVersion
from ...domain.registry import Registration, Registry
from ...domain.uploads import Upload
from ..auth import READ, WriterDep, recording_refusals
from ..bodies import ModelT, parse_json, read_json, require_media_type, validate_as
from ..deps import RegistryDep, SettingsDep, point_read
from ..intake import receive_form
from ..params import ModelId
from ..schemas import (
    DeletedOut,
    ErrorOut,
    HistoryOut,
    ModelOut,
    NewVersionRequest,
    RegisteredOut,
    RegisterRequest,
    UpdatedOut,
    UpdateRequest,
    event_out,
    model_out,
    registered_out,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}
IDLE_UPLOAD: dict[int | str, dict[str, Any]] = {  # routes that may take a file
    408: {"model": ErrorOut, "description": "The body stopped arriving (UPLOAD_IDLE_TIMEOUT)"},
}


STREAMING_ROUTES = frozenset({"register_model", "create_version"})


def _body_doc(schema: type[BaseModel], description: str) -> dict[str, Any]:
    """OpenAPI for endpoints that take JSON or a multipart form with a ``metadata`` part and a ``file``."""
    return {
        "requestBody": {
            "description": description,
            "required": True,
            "content": {
                "application/json": {"schema": schema.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["metadata"],
                        "properties": {
                            "metadata": {**schema.model_json_schema(), "description": f"{schema.__name__} as JSON"},
                            "file": {"type": "string", "format": "binary"},
                            "format": {"type": "string"},
                            "checksum": {"type": "string", "description": "sha256:<hex>"},
                        },
                        "additionalProperties": False,
                    },
                    "encoding": {"metadata": {"contentType": "application/json"}},
                },
            },
        }
    }


def to_registration(request: RegisterRequest) -> Registration:
    data = request.model_dump()
    data["tags"] = tuple(data["tags"])
    return Registration(**data)


async def _metadata_and_file(request: Request, registry: Registry, settings: Settings, schema: type[ModelT],
                             check: Callable[[ModelT], None] | None = None) -> tuple[ModelT, Upload | None]:
    """JSON body, or multipart ``metadata`` plus ``file``: then ``check`` runs the registry's rules
    on the metadata as soon as it arrives, so a bad request fails before the file is stored."""
    kind = require_media_type(request, ("application/json", "multipart/form-data"))
    if kind != "multipart/form-data":  # the registry checks every rule when it is called
        return validate_as(schema, await read_json(request, settings.max_request_size)), None
    parsed: dict[str, ModelT] = {}

    def on_metadata(value: bytes) -> None:
        parsed["metadata"] = validate_as(schema, parse_json(value, "metadata part"), "metadata")
        if check is not None:
            check(parsed["metadata"])

    file = await receive_form(request, registry, settings, fields={"metadata": on_metadata})
    if "metadata" not in parsed:
        if file is not None:
            file.abort()
        raise Invalid("The multipart form needs a 'metadata' part (the JSON document)", code="missing_metadata")
    return parsed["metadata"], file


async def writable(registry: Registry, model_id: str, caller: Caller) -> None:
    """403 before anything changes if the caller's key may not write this version's name (its
    prefix). A key without a prefix costs no read."""
    if caller.name_prefix is not None:
        caller.check_name((await point_read(registry.get, model_id)).name)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=ERRORS)
    # One helper per route, called in the routes' order (a request is matched against them in order).
    _add_register_model(router)
    _add_get_model(router)
    _add_update_model(router)
    _add_delete_model(router)
    _add_create_version(router)
    _add_history(router)
    return router


def _add_register_model(router: APIRouter) -> None:
    @router.post(
        "",
        name="register_model",
        status_code=201,
        response_model=RegisteredOut,
        openapi_extra=_body_doc(RegisterRequest, "The model; as multipart, with its file in the same request"),
        responses=IDLE_UPLOAD,
        summary="Register a model (an existing name gets its next version)",
    )
    async def register_model(request: Request, response: Response, registry: RegistryDep, caller: WriterDep,
                             settings: SettingsDep) -> RegisteredOut:
        def check(document: RegisterRequest) -> None:
            caller.claim_created_by(document.created_by)
            caller.check_name(document.name)
            to_registration(document).validated()  # every rule, before any file byte is stored

        document, file = await _metadata_and_file(request, registry, settings, RegisterRequest, check)
        try:
            check(document)  # a JSON body was not checked on arrival
        except BaseException:
            if file is not None:
                file.abort()
            raise
        audit = registry.auditor.hook(caller, Action.REGISTER, describe_new_version)
        async with recording_refusals(registry.auditor, caller, name=document.name):
            model = await run_in_threadpool(
                lambda: registry.register(to_registration(document), caller.actor, file, audit=audit))
        response.headers["Location"] = f"/api/v1/models/{model.id}"
        return registered_out(model, "Model registered successfully")


def _add_get_model(router: APIRouter) -> None:
    @router.get("/{model_id:model_id}", response_model=ModelOut, summary="One model version", dependencies=[READ])
    async def get_model(model_id: ModelId, registry: RegistryDep) -> ModelOut:
        return model_out(await point_read(registry.get, model_id))


def _add_update_model(router: APIRouter) -> None:
    @router.put("/{model_id:model_id}", response_model=UpdatedOut,
                openapi_extra={"requestBody": {"required": True, "content": {
                    "application/json": {"schema": UpdateRequest.model_json_schema()}}}},
                summary="Update mutable fields (description, tags, status, metrics)")
    async def update_model(model_id: ModelId, request: Request, registry: RegistryDep, caller: WriterDep,
                           settings: SettingsDep) -> UpdatedOut:
        await writable(registry, model_id, caller)
        require_media_type(request, ("application/json",))
        changes = validate_as(UpdateRequest, await read_json(request, settings.max_request_size))
        values = changes.model_dump(exclude_unset=True)
        if not values:
            raise Invalid("Nothing to update: send at least one of description, tags, status, metrics",
                          code="empty_update")
        def updated(model: ModelVersion) -> dict[str, Any]:
            details: dict[str, Any] = {"fields": sorted(values)}
            if "status" in values:
                details["status"] = model.status.value
            return {"model": model, "details": details}

        audit = registry.auditor.hook(caller, Action.UPDATE, updated)
        model = await run_in_threadpool(lambda: registry.update(model_id, values, caller.actor, audit=audit))
        return UpdatedOut(model_id=model.id, model=model_out(model))


def _add_delete_model(router: APIRouter) -> None:
    @router.delete("/{model_id:model_id}", response_model=DeletedOut,
                   summary="Delete a version (its file goes with its last reference)")
    async def delete_model(model_id: ModelId, registry: RegistryDep, caller: WriterDep) -> DeletedOut:
        await writable(registry, model_id, caller)
        audit = registry.auditor.hook(caller, Action.DELETE, describe_with_file)
        model = await run_in_threadpool(lambda: registry.delete(model_id, caller.actor, audit=audit))
        return DeletedOut(deleted_id=model.id)


def _add_create_version(router: APIRouter) -> None:
    @router.post(
        "/{model_id:model_id}/versions",
        name="create_version",
        status_code=201,
        response_model=RegisteredOut,
        openapi_extra=_body_doc(NewVersionRequest, "Fields that differ from the base version"),
        responses=IDLE_UPLOAD,
        summary="New version derived from this one (the seed's create_model_version)",
    )
    async def create_version(model_id: ModelId, request: Request, response: Response, registry: RegistryDep,
                             caller: WriterDep, settings: SettingsDep) -> RegisteredOut:
        base = await point_read(registry.get, model_id)  # 400/404 before any byte is read
        caller.check_name(base.name)  # 403 too

        def check(document: NewVersionRequest) -> None:
            caller.claim_created_by(document.created_by)
            registry.derive(base, document.model_dump(exclude_unset=True))  # every rule, before the file

        document, file = await _metadata_and_file(request, registry, settings, NewVersionRequest, check)
        try:
            caller.claim_created_by(document.created_by)  # a JSON body was not checked on arrival
        except BaseException:
            if file is not None:
                file.abort()
            raise
        overrides = document.model_dump(exclude_unset=True)
        audit = registry.auditor.hook(caller, Action.CREATE_VERSION, describe_new_version)
        async with recording_refusals(registry.auditor, caller, name=base.name):
            model = await run_in_threadpool(
                lambda: registry.new_version(model_id, overrides, caller.actor, file, audit=audit))
        response.headers["Location"] = f"/api/v1/models/{model.id}"
        return registered_out(model, "Model version created successfully")


def _add_history(router: APIRouter) -> None:
    @router.get("/{model_id:model_id}/history", response_model=HistoryOut, dependencies=[READ],
                summary="What happened to this version: creation, status changes, updates, upload")
    async def history(model_id: ModelId, registry: RegistryDep) -> HistoryOut:
        events = await run_in_threadpool(registry.history, model_id)
        return HistoryOut(model_id=model_id.lower(), events=[event_out(e) for e in events])
