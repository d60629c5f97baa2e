"""``/api/v1/keys``: API keys for admins (create, list, show, revoke), and ``/api/v1/whoami``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from ...domain.errors import Invalid
from ...domain.keys import Keys
from ...domain.query import as_utc
from ..auth import ADMIN, AdminDep, ReaderDep
from ..auth_schemas import KeyCreatedOut, KeyCreateIn, KeyOut, KeyRevokedOut, KeysOut, WhoAmIOut, key_out, whoami_out
from ..bodies import read_json, require_media_type, validate_as
from ..deps import SettingsDep
from ..schemas import ErrorOut

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}
KeyId = Annotated[str, Path(description="The key id: the 12 hex digits after 'tfk_'", max_length=64)]


def _keys(request: Request) -> Keys:
    return request.app.state.auth.keys


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["keys"], responses=ERRORS)

    @router.post("/keys", status_code=201, response_model=KeyCreatedOut,
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {"schema": KeyCreateIn.model_json_schema()}}}},
                 summary="Create an API key (admin); the key is in the answer, and nowhere else")
    async def create_key(request: Request, caller: AdminDep, settings: SettingsDep) -> KeyCreatedOut:
        require_media_type(request, ("application/json",))
        body = validate_as(KeyCreateIn, await read_json(request, settings.max_request_size))
        keys = _keys(request)
        expires_at = None if body.expires_at is None else as_utc(body.expires_at, "expires_at")
        if body.expires_in_days is not None:
            if expires_at is not None:
                raise Invalid("Give expires_at or expires_in_days, not both", code="invalid_expiry")
            expires_at = keys.clock() + timedelta(days=body.expires_in_days)
        issued = await run_in_threadpool(lambda: keys.create(caller, name=body.name, scopes=body.scopes,
                                                             name_prefix=body.name_prefix, expires_at=expires_at))
        return KeyCreatedOut(key=issued.secret, key_info=key_out(issued.key, keys.clock()))

    @router.get("/keys", response_model=KeysOut, dependencies=[ADMIN],
                summary="Every API key, revoked and expired ones too (admin)")
    async def list_keys(request: Request) -> KeysOut:
        keys = _keys(request)
        now = keys.clock()
        return KeysOut(keys=[key_out(key, now) for key in await run_in_threadpool(keys.list)])

    @router.get("/keys/{key_id}", response_model=KeyOut, dependencies=[ADMIN], summary="One API key (admin)")
    async def get_key(key_id: KeyId, request: Request) -> KeyOut:
        keys = _keys(request)
        return key_out(await run_in_threadpool(keys.get, key_id), keys.clock())

    @router.delete("/keys/{key_id}", response_model=KeyRevokedOut,
                   summary="Revoke an API key (admin); it stops working at once")
    async def revoke_key(key_id: KeyId, request: Request, caller: AdminDep) -> KeyRevokedOut:
        keys = _keys(request)
        key = await run_in_threadpool(keys.revoke, caller, key_id)
        return KeyRevokedOut(key_info=key_out(key, keys.clock()))

    @router.get("/whoami", response_model=WhoAmIOut, summary="Who the request acts as, with which scopes")
    async def whoami(request: Request, caller: ReaderDep) -> WhoAmIOut:
        return whoami_out(caller, request.app.state.auth.enabled)

    return router
