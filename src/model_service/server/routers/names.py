"""Models by name: versions, ``name@alias`` and ``name/version`` resolution, aliases, history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ...domain.audit import Action, describe_alias_move
from ...domain.errors import Invalid, NotFound
from ...domain.plans.aliases import ANY
from ...domain.query import as_utc
from ..auth import READ, ReaderDep, WriterDep
from ..bodies import read_json, require_media_type, validate_as
from ..deps import RegistryDep, SettingsDep
from ..discovery_schemas import (
    AliasAtOut,
    AliasesOut,
    AliasMoveIn,
    AliasMoveOut,
    NameHistoryOut,
    NameOut,
    alias_move_out,
    alias_out,
    name_event_out,
)
from ..params import AliasName, Instant, Name, Ref
from ..schemas import ErrorOut, ModelOut, model_out
from .files import DOWNLOAD_RESPONSES, download_response

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}
HISTORY_KINDS = ("created", "status", "updated", "uploaded", "scanned", "deleted", "alias")


def _utc(value: datetime | None, parameter: str) -> datetime | None:
    return None if value is None else as_utc(value, parameter)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/models/by-name/{name}", tags=["names"], responses=ERRORS)

    @router.get("", response_model=NameOut, dependencies=[READ],
                summary="Every version of a name, newest first, and its aliases")
    async def versions(name: Name, registry: RegistryDep, settings: SettingsDep,
                       page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                       limit: Annotated[int, Query(ge=1, description="Capped at MAX_PAGE_SIZE")] = 100) -> NameOut:
        limit = min(limit, settings.max_page_size)
        found = await run_in_threadpool(registry.versions, name, page, limit)
        aliases = await run_in_threadpool(registry.aliases, name)
        return NameOut(name=name, versions=[model_out(m) for m in found.items],
                       aliases={a.alias: str(a.version) for a in aliases},
                       pagination={"page": page, "limit": limit, "total": found.total,
                                   "pages": -(-found.total // limit)})

    @router.get("/versions/{ref}", response_model=ModelOut, dependencies=[READ],
                summary="One version: by number, alias or 'latest'")
    async def version(name: Name, ref: Ref, registry: RegistryDep) -> ModelOut:
        return model_out(await run_in_threadpool(registry.resolve, name, ref))

    async def download(name: Name, ref: Ref, request: Request, registry: RegistryDep, settings: SettingsDep,
                       caller: ReaderDep) -> Response:
        model = await run_in_threadpool(registry.resolve, name, ref)
        return await download_response(model.id, request, registry, settings, caller.actor)

    for method in ("GET", "HEAD"):
        router.add_api_route("/versions/{ref}/download", download, methods=[method], response_class=Response,
                             responses=DOWNLOAD_RESPONSES, name=f"download_by_name_{method.lower()}",
                             operation_id=f"download_by_name_{method.lower()}",
                             summary="Download a version's file by name and version, alias or 'latest'")

    @router.get("/aliases", response_model=AliasesOut, dependencies=[READ], summary="The name's aliases")
    async def aliases(name: Name, registry: RegistryDep) -> AliasesOut:
        return AliasesOut(name=name, aliases=[alias_out(a) for a in await run_in_threadpool(registry.aliases, name)])

    @router.get("/aliases/{alias}", response_model=AliasAtOut, dependencies=[READ],
                summary="Where an alias points, now or at a past time (?at=)")
    async def alias_at(name: Name, alias: AliasName, registry: RegistryDep,
                       at: Annotated[Instant | None, Query(description="ISO 8601 time; default now")] = None
                       ) -> AliasAtOut:
        when = _utc(at, "at") or registry.clock()
        move = await run_in_threadpool(registry.alias_at, name, alias, when)
        if move is None:
            raise NotFound(f"{name}@{alias} was not set at {when.isoformat()}", code="alias_not_found",
                           details={"name": name, "alias": alias, "at": when.isoformat()})
        return AliasAtOut(name=name, alias=alias, at=when, version=move.data["to_version"],
                          model_id=move.data["to_model_id"], since=move.at, moved_by=move.actor)

    @router.put("/aliases/{alias}", response_model=AliasMoveOut,
                openapi_extra={"requestBody": {"required": True, "content": {
                    "application/json": {"schema": AliasMoveIn.model_json_schema()}}}},
                summary="Set or move an alias (compare-and-swap with expected_version)")
    async def move_alias(name: Name, alias: AliasName, request: Request, registry: RegistryDep, caller: WriterDep,
                         settings: SettingsDep) -> AliasMoveOut:
        caller.check_name(name)
        require_media_type(request, ("application/json",))
        body = validate_as(AliasMoveIn, await read_json(request, settings.max_request_size))
        expected = body.expected_version if "expected_version" in body.model_fields_set else ANY
        move = await run_in_threadpool(lambda: registry.set_alias(
            name, alias, caller.actor, version=body.version, model_id=body.model_id, expected=expected,
            audit=registry.auditor.hook(caller, Action.ALIAS_SET, describe_alias_move)))
        return alias_move_out(move)

    @router.delete("/aliases/{alias}", response_model=AliasMoveOut, summary="Remove an alias")
    async def remove_alias(
        name: Name, alias: AliasName, registry: RegistryDep, caller: WriterDep,
        expected_version: Annotated[str | None, Query(description="Remove only if it points at this version")] = None,
    ) -> AliasMoveOut:
        caller.check_name(name)
        expected = ANY if expected_version is None else expected_version
        audit = registry.auditor.hook(caller, Action.ALIAS_REMOVE, describe_alias_move)
        move = await run_in_threadpool(lambda: registry.remove_alias(name, alias, caller.actor, expected=expected,
                                                                     audit=audit))
        return alias_move_out(move)

    @router.get("/history", response_model=NameHistoryOut, dependencies=[READ],
                summary="Alias moves, status changes and other events of every version of the name")
    async def history(
        name: Name, registry: RegistryDep,
        kind: Annotated[str | None, Query(description=f"Comma list of: {', '.join(HISTORY_KINDS)}")] = None,
        alias: Annotated[str | None, Query(description="Only this alias's moves")] = None,
        since: Annotated[Instant | None, Query(description="ISO 8601")] = None,
        until: Annotated[Instant | None, Query(description="ISO 8601; inclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> NameHistoryOut:
        kinds = tuple(k.strip() for k in kind.split(",") if k.strip()) if kind else HISTORY_KINDS
        unknown = sorted(set(kinds) - set(HISTORY_KINDS))
        if unknown:
            raise Invalid(f"Unknown event kinds: {', '.join(unknown)}", code="invalid_kind",
                          details={"kinds": unknown, "allowed": list(HISTORY_KINDS)})
        events = await run_in_threadpool(lambda: registry.name_history(
            name, kinds=kinds, alias=alias, since=_utc(since, "since"), until=_utc(until, "until"), limit=limit))
        return NameHistoryOut(name=name, events=[name_event_out(e) for e in events])

    return router
