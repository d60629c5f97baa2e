"""The driver's exceptions as the domain's, at the MongoDB store's edge: no pymongo exception
reaches the registry. The server unreachable or failing is :class:`Unavailable`; a value MongoDB
cannot store (a document over 16 MB, …) is :class:`Invalid`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from bson.errors import InvalidDocument
from pymongo.errors import ConnectionFailure, DocumentTooLarge, OperationFailure, PyMongoError

from ...domain.errors import Invalid, Unavailable

P = ParamSpec("P")
T = TypeVar("T")
OUT_OF_DISK_SPACE = 14031


def translated(method: Callable[P, T]) -> Callable[P, T]:
    """Turn the driver's exceptions into the domain's, at the store's edge (``method``'s
    signature unchanged)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except (InvalidDocument, DocumentTooLarge, OverflowError) as exc:
            raise Invalid(f"The record cannot be stored in MongoDB: {str(exc)[:200]}",
                          code="invalid_document") from exc
        except ConnectionFailure as exc:
            reason = str(exc).split(", Timeout:")[0][:200]  # a selection error lists the whole topology
            raise Unavailable(f"The metadata database (MongoDB) is unreachable: {reason}",
                              code="database_error") from exc
        except OperationFailure as exc:
            if exc.code == OUT_OF_DISK_SPACE or "No space left" in str(exc):
                raise Unavailable("The metadata database (MongoDB) is out of space", code="storage_full") from exc
            raise Unavailable(f"The metadata database (MongoDB) failed: {str(exc)[:200]}",
                              code="database_error") from exc
        except PyMongoError as exc:
            raise Unavailable(f"The metadata database (MongoDB) failed: {str(exc)[:200]}",
                              code="database_error") from exc

    return wrapper
