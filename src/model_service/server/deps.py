"""``Annotated`` dependency aliases the routers share.

The dependency functions are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency
on a worker thread, which for these one-line lookups would cost more than the request itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from ..config import Settings
from ..domain.models import clean_text
from ..domain.registry import Registry


async def _registry(request: Request) -> Registry:
    return request.app.state.registry


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _actor(
    x_actor: Annotated[str | None, Header(description="Who is acting (recorded in history)")] = None,
) -> str:
    """Who the request acts for. Without authentication this is the ``X-Actor`` header as given."""
    if x_actor is None or not x_actor.strip():
        return "anonymous"
    return clean_text(x_actor, "actor", max_length=256)


RegistryDep = Annotated[Registry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ActorDep = Annotated[str, Depends(_actor)]


T = TypeVar("T")

async def point_read(method: Callable[..., T], *args: Any) -> T:
    """Call a registry method that reads one version by id.

    When the metadata store says its point reads are local (embedded SQLite: a B-tree lookup
    in the page cache, tens of microseconds), the call runs on the event loop: handing it to a
    worker thread would cost more than the read and halve get-by-id throughput. Otherwise
    (a network round trip) it runs in a worker thread like every other store call.
    """
    if getattr(method.__self__.metadata, "local_point_reads", False):
        return method(*args)
    return await run_in_threadpool(method, *args)
