"""Query and path parameter types the routers share."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator, WithJsonSchema
from starlette.convertors import Convertor, register_url_convertor

from ..domain.naming import MAX_NAME_LENGTH, NAME_PATTERN

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_8601(value: Any) -> Any:
    """Times are ISO 8601 text: pydantic would also read a bare number as Unix seconds, which
    the API does not document (and ``2024`` would silently mean 1970)."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("expected an ISO 8601 date or time, such as 2024-05-01 or 2024-05-01T12:00:00Z")
    return value


Instant = Annotated[
    datetime,
    BeforeValidator(_iso_8601),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}),
]
"""An ISO 8601 time or a plain date (its midnight, UTC unless it names a zone)."""


# Fixed paths that share the /api/v1/models/ prefix with a version's id (routers/discovery.py,
# names.py). A route written ``/{model_id:model_id}`` never takes them for an id, so that
# ``PUT /api/v1/models/search`` is a 405 (the resource is the search, which takes GET), not an
# update of a model whose id is "search".
RESERVED_UNDER_MODELS = ("search", "statistics", "popular", "recent", "compare", "by-name")


class ModelIdSegment(Convertor[str]):
    """A path segment that is not one of :data:`RESERVED_UNDER_MODELS` (the registry checks the id itself)."""

    regex = "(?!(?:" + "|".join(re.escape(word) for word in RESERVED_UNDER_MODELS) + ")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("model_id", ModelIdSegment())


# Path parameters. The patterns document the registry's rules (domain/ids.py, naming.py,
# models.py) for clients and fuzzers; the registry checks them, with its own error codes.
ModelId = Annotated[str, Path(description="24-hex ObjectId of a model version",
                              json_schema_extra={"pattern": "^[0-9a-fA-F]{24}$"})]
Name = Annotated[str, Path(description="The model name (percent-encoded in the URL)",
                           json_schema_extra={"pattern": f"^{NAME_PATTERN}$", "maxLength": MAX_NAME_LENGTH})]
Ref = Annotated[str, Path(description="A version (v1.2), an alias (production) or 'latest'",
                          json_schema_extra={"pattern": r"^(latest|v?\d{1,9}\.\d{1,9}|[a-z][a-z0-9_-]{0,63})$"})]
AliasName = Annotated[str, Path(description="Lowercase letters, digits, _ and -, starting with a letter",
                                json_schema_extra={"pattern": "^[a-z][a-z0-9_-]{0,63}$"})]
