"""``Annotated`` dependency aliases the routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from ..config import Settings
from ..domain.models import clean_text
from ..domain.registry import Registry


def _registry(request: Request) -> Registry:
    return request.app.state.registry


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _actor(x_actor: Annotated[str | None, Header(description="Who is acting (recorded in history)")] = None) -> str:
    """Who the request acts for. Without authentication this is the ``X-Actor`` header as given."""
    if x_actor is None or not x_actor.strip():
        return "anonymous"
    return clean_text(x_actor, "actor", max_length=256)


RegistryDep = Annotated[Registry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ActorDep = Annotated[str, Depends(_actor)]
