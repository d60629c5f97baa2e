"""Model files: upload, info, download."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ...config import Settings
from ...domain.audit import Action, describe_with_file
from ...domain.errors import Invalid
from ...domain.registry import Registry
from ..auth import READ, ReaderDep, WriterDep, recording_refusals
from ..bodies import media_type
from ..deps import RegistryDep, SettingsDep, point_read
from ..downloads import BlobResponse
from ..intake import receive_form, receive_raw
from ..params import ModelId
from ..schemas import ErrorOut, FileInfoOut, UploadedOut, download_url, file_out, human_size, uploaded_out

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 416, 422, 429, 503)
}

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file: the raw body, or a multipart form with a 'file' part",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "format": {"type": "string"},
                        "checksum": {"type": "string", "description": "sha256:<hex>"},
                    },
                    "additionalProperties": False,
                }
            },
        },
    }
}


STREAMING_ROUTES = frozenset({"upload_file"})
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file"},
    206: {"content": {"application/octet-stream": {}}, "description": "The requested range"},
    304: {"description": "Not modified (If-None-Match)"},
    416: {"model": ErrorOut, "description": "The range lies outside the file"},
}


async def download_response(model_id: str, request: Request, registry: Registry, settings: Settings,
                            actor: str) -> Response:
    """The file of ``model_id`` as the request asks for it (range, conditional, HEAD), counted
    as a download once its last byte is sent."""
    model, open_reader = await point_read(registry.open_file, model_id)

    async def on_complete(size: int, byte_range: str | None) -> None:
        await run_in_threadpool(registry.record_download, model, actor, size, byte_range)

    return BlobResponse(model, open_reader, request.headers, chunk_size=settings.download_chunk_size,
                        on_complete=on_complete)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/models", tags=["files"], responses=ERRORS)

    @router.post(
        "/{model_id:model_id}/upload",
        name="upload_file",
        status_code=201,
        response_model=UploadedOut,
        openapi_extra=_UPLOAD_BODY,
        responses={408: {"model": ErrorOut, "description": "The body stopped arriving (UPLOAD_IDLE_TIMEOUT)"}},
        summary="Upload the version's file (once; files are immutable)",
    )
    async def upload(
        model_id: ModelId,
        request: Request,
        registry: RegistryDep,
        settings: SettingsDep,
        caller: WriterDep,
        filename: Annotated[str | None, Query(description="File name, for raw bodies")] = None,
        format: Annotated[str | None, Query(description="pickle, joblib, onnx, …; default from the name")] = None,
        x_file_checksum: Annotated[str | None, Header(description="sha256:<hex>, verified before commit")] = None,
        x_file_name: Annotated[str | None, Header()] = None,
    ) -> UploadedOut:
        model = await point_read(registry.ensure_can_upload, model_id)  # 404/409 before reading
        caller.check_name(model.name)  # 403 too
        if media_type(request) == "multipart/form-data":
            received = await receive_form(request, registry, settings, fields={})
            if received is None:
                raise Invalid("The multipart form has no part named 'file'", code="missing_file")
        else:
            received = await receive_raw(request, registry, settings, filename=x_file_name or filename, fmt=format,
                                         checksum=x_file_checksum)
        audit = registry.auditor.hook(caller, Action.UPLOAD, describe_with_file)
        async with recording_refusals(registry.auditor, caller, model=model):
            model = await run_in_threadpool(lambda: registry.attach(model.id, received, caller.actor, audit=audit))
        return uploaded_out(model)

    @router.get("/{model_id:model_id}/info", response_model=FileInfoOut, dependencies=[READ],
                summary="The version's file, without downloading it")
    async def info(model_id: ModelId, registry: RegistryDep) -> FileInfoOut:
        model = await point_read(registry.get, model_id)
        return FileInfoOut(model_id=model.id, name=model.name, version=str(model.version), algorithm=model.algorithm,
                           has_file=model.file is not None, file_metadata=file_out(model),
                           model_size=human_size(model.file.size_bytes) if model.file else None,
                           download_url=download_url(model.id), download_count=model.download_count)

    async def download(model_id: ModelId, request: Request, registry: RegistryDep, settings: SettingsDep,
                       caller: ReaderDep) -> Response:
        return await download_response(model_id, request, registry, settings, caller.actor)

    for method, summary in (("GET", "Download the file (Range, If-Range and If-None-Match supported)"),
                            ("HEAD", "The download's headers, without the file (not counted)")):
        router.add_api_route("/{model_id:model_id}/download", download, methods=[method], response_class=Response,
                             responses=DOWNLOAD_RESPONSES, summary=summary, name=f"download_{method.lower()}",
                             operation_id=f"download_model_file_{method.lower()}")
    return router
