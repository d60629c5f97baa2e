"""``/api/v1/audit``: the audit log, newest first (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ...domain.audit import Action, AuditQuery, cursor_of, parse_cursor
from ...domain.errors import Invalid
from ...domain.query import as_utc
from ..auth import ADMIN
from ..auth_schemas import AuditOut, audit_record_out
from ..deps import RegistryDep, SettingsDep
from ..params import Instant
from ..schemas import ErrorOut

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 403, 422, 429, 503)}
ACTIONS = [action.value for action in Action]


def _actions(value: str | None) -> tuple[str, ...]:
    actions = tuple(dict.fromkeys(item.strip() for item in (value or "").split(",") if item.strip()))
    unknown = sorted(set(actions) - set(ACTIONS))
    if unknown:
        raise Invalid(f"Unknown actions: {', '.join(unknown)[:200]}", code="invalid_action",
                      details={"actions": [a[:64] for a in unknown[:10]], "allowed": ACTIONS})
    return actions


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERRORS)

    @router.get("/audit", response_model=AuditOut, dependencies=[ADMIN],
                summary="Who changed what, when and from where (admin)")
    async def audit(
        registry: RegistryDep,
        settings: SettingsDep,
        model: Annotated[str | None, Query(max_length=128, description="A model id or a name")] = None,
        actor: Annotated[str | None, Query(max_length=256, description="The actor (a key's owner, or X-Actor)")]
        = None,
        action: Annotated[str | None, Query(max_length=512, description=f"Comma list of: {', '.join(ACTIONS)}")]
        = None,
        key_id: Annotated[str | None, Query(max_length=64, description="The key used")] = None,
        since: Annotated[Instant | None, Query(description="ISO 8601; inclusive")] = None,
        until: Annotated[Instant | None, Query(description="ISO 8601; exclusive")] = None,
        cursor: Annotated[str | None, Query(max_length=256, description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, description="Capped at MAX_PAGE_SIZE")] = 50,
    ) -> AuditOut:
        limit = min(limit, settings.max_page_size)
        query = AuditQuery(actor=actor, actions=_actions(action), model=model, key_id=key_id,
                           since=None if since is None else as_utc(since, "since"),
                           until=None if until is None else as_utc(until, "until"),
                           before=None if cursor is None else parse_cursor(cursor), limit=limit + 1)
        records = await run_in_threadpool(registry.auditor.query, query)
        page = records[:limit]
        return AuditOut(records=[audit_record_out(record) for record in page],
                        next_cursor=cursor_of(page[-1]) if len(records) > limit else None)

    return router
