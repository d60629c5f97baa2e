"""``Annotated`` dependency aliases the routers share.

The dependency functions are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency
on a worker thread, which for these one-line lookups would cost more than the request itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ..config import Settings
from ..domain.registry import Registry
from .auth import CallerDep


async def _registry(request: Request) -> Registry:
    return request.app.state.registry


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _actor(caller: CallerDep) -> str:
    """Who the request acts for: the key's owner, or without authentication the ``X-Actor``
    header as given. It declares no scope: a route using it still needs one (``auth.py``)."""
    return caller.actor


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
    registry = getattr(method, "__self__", None)  # the Registry the method is bound to
    if getattr(getattr(registry, "metadata", None), "local_point_reads", False):
        return method(*args)
    return await run_in_threadpool(method, *args)
