"""The Python SDK of TensorFleet Model Service.

    from model_service.client import ModelServiceClient

    with ModelServiceClient("http://127.0.0.1:8084") as client:
        model = client.push("model.skops", name="fraud_model", algorithm="random_forest",
                            metrics={"accuracy": 0.95})
        client.set_alias("fraud_model", "production", model["version"])
        client.download("fraud_model@production", "models/")

It speaks HTTP only (httpx): nothing of the server or its stores is imported. Errors are the
:class:`ModelServiceError` tree (:mod:`model_service.client.errors`); lists are :class:`Pager`
objects that fetch pages as they are walked. ``model_service.client.testing`` runs the client
against an application in-process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import ModelServiceClient
from .errors import (
    BadRequest,
    ChecksumMismatch,
    Conflict,
    Forbidden,
    ModelServiceError,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    Unprocessable,
)
from .pager import Pager
from .refs import ModelRef
from .uploads import Progress as TransferProgress

if TYPE_CHECKING:
    from .flavors import MissingExtra

__all__ = [
    "BadRequest",
    "ChecksumMismatch",
    "Conflict",
    "Forbidden",
    "MissingExtra",
    "ModelRef",
    "ModelServiceClient",
    "ModelServiceError",
    "NotFound",
    "Pager",
    "PayloadTooLarge",
    "RangeNotSatisfiable",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "TransferProgress",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
]


def __getattr__(name: str) -> Any:
    # MissingExtra lives with the flavours, imported only when asked for: importing the client
    # must not import the flavours' machinery.
    if name == "MissingExtra":
        from .flavors import MissingExtra

        return MissingExtra
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
