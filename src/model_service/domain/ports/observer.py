"""What the registry reports as it happens (metrics, in the server)."""

from __future__ import annotations

from typing import Protocol

from ..models import ModelVersion


class RegistryObserver(Protocol):
    """Called after the change is committed; an observer must be cheap and must not raise."""

    def registered(self, model: ModelVersion) -> None: ...

    def uploaded(self, model: ModelVersion, size_bytes: int) -> None: ...

    def downloaded(self, model: ModelVersion, size_bytes: int) -> None: ...

    def deleted(self, model: ModelVersion) -> None: ...


class NoObserver:
    def registered(self, model: ModelVersion) -> None:
        pass

    def uploaded(self, model: ModelVersion, size_bytes: int) -> None:
        pass

    def downloaded(self, model: ModelVersion, size_bytes: int) -> None:
        pass

    def deleted(self, model: ModelVersion) -> None:
        pass
