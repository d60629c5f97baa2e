"""The metadata store's aliases: ``name@alias`` → one version of the name."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..audit import AuditHook
from ..models import Alias, AliasMove
from ..plans.aliases import Expected


class AliasStore(Protocol):
    def aliases(self, name: str) -> list[Alias]:
        """Every alias of ``name``, by alias."""

    def get_alias(self, name: str, alias: str) -> Alias:
        """One alias; :class:`NotFound` if it is not set."""

    def move_alias(self, name: str, alias: str, model_id: str | None, expected: Expected, actor: str,
                   at: datetime, audit: AuditHook | None = None) -> AliasMove:
        """Point ``name@alias`` at ``model_id`` (a version of ``name``), or remove it (``None``),
        atomically, appending an ``alias`` event ``{"alias", "from_version", "to_version",
        "from_model_id", "to_model_id"}`` (:func:`~..plans.aliases.plan_alias_move`, whose
        refusals it raises).

        ``expected`` makes it a compare-and-swap: :data:`~..plans.aliases.ANY` skips the check;
        ``None`` requires that the alias is not set; a :class:`Version` that it points at that
        version. A mismatch is :class:`Conflict` (code ``alias_conflict``) and changes nothing.
        """
