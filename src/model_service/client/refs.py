"""References to a model version, as users write them.

``6b0a51760c3e4f2a9d1e8b7c`` (a version's 24-hex id), ``fraud_model`` (its latest version),
``fraud_model@production`` (where an alias points), ``fraud_model/v1.2`` (a version number) and
``fraud_model/latest``. Names never contain ``@`` or ``/`` (the server's naming rule), so the forms
cannot be confused; a name that is itself 24 hex digits is read as an id unless written
``name/latest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

_ID = re.compile(r"[0-9a-fA-F]{24}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.%+-]*")
_VERSION = re.compile(r"v?\d{1,9}\.\d{1,9}|latest")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")

API = "/api/v1"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One model version: by ``id``, or by ``name`` with a ``version`` (``v1.2`` or ``latest``)
    or an ``alias``. Build one with :meth:`parse`, or directly."""

    id: str | None = None
    name: str | None = None
    version: str | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        if (self.id is None) == (self.name is None):
            raise ValueError("A ModelRef has an id or a name, not both and not neither")
        if self.id is not None and (self.version or self.alias):
            raise ValueError("A ModelRef by id has no version or alias")
        if self.version is not None and self.alias is not None:
            raise ValueError("A ModelRef has a version or an alias, not both")

    @classmethod
    def parse(cls, text: str | ModelRef) -> ModelRef:
        """``id`` | ``name`` | ``name@alias`` | ``name/v1.2`` | ``name/latest`` → a ModelRef.

        Raises ValueError for anything else (an empty name, ``a/b/c``, ``name@`` …)."""
        if isinstance(text, ModelRef):
            return text
        if not isinstance(text, str):
            raise TypeError(f"A model reference is a string or a ModelRef, not {type(text).__name__}")
        text = text.strip()
        if _ID.fullmatch(text):
            return cls(id=text.lower())
        name, at, alias = text.partition("@")
        if at:
            if not _ALIAS.fullmatch(alias):
                raise ValueError(f"'{text}': an alias is lowercase letters, digits, _ and -, starting with a letter")
            return cls(name=_checked_name(name, text), alias=alias)
        name, slash, version = text.partition("/")
        if slash:
            if not _VERSION.fullmatch(version):
                raise ValueError(f"'{text}': after the '/' comes a version such as v1.2, or 'latest'")
            return cls(name=_checked_name(name, text), version=version)
        return cls(name=_checked_name(name, text), version="latest")

    @property
    def selector(self) -> str:
        """What picks the version of the name: ``v1.2``, an alias, or ``latest``."""
        return self.alias or self.version or "latest"

    @property
    def path(self) -> str:
        """The API path of the version's record."""
        if self.name is None:  # then it has an id (__post_init__: one or the other)
            return f"{API}/models/{self.id}"
        return f"{name_path(self.name)}/versions/{quote(self.selector, safe='')}"

    @property
    def download_path(self) -> str:
        return f"{API}/models/{self.id}/download" if self.id is not None else f"{self.path}/download"

    def __str__(self) -> str:
        if self.id is not None:
            return self.id
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version or 'latest'}"


def _checked_name(name: str, text: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"'{text}' is not a model reference: expected an id, name, name@alias or name/v1.2")
    return name


def name_path(name: str) -> str:
    """``/api/v1/models/by-name/<name>``, the name percent-encoded (``%`` and ``+`` are legal in names)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a model name")
    return f"{API}/models/by-name/{quote(name, safe='')}"


def model_path(model_id: str, suffix: str = "") -> str:
    return f"{API}/models/{quote(model_id, safe='')}{suffix}"
