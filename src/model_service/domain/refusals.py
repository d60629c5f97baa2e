"""The registry's refusals, each built in one place with its message, code and details.

The planners raise them, and so does every store where the port says it must (a version looked
up that is not there, a key id taken): whichever backend answers, a client reads the same words
and the same machine code.
"""

from __future__ import annotations

from .errors import Conflict, Invalid, NotFound
from .models import ModelVersion
from .versions import Version

# ---- not there ----------------------------------------------------------------------------------


def model_not_found(model_id: str) -> NotFound:
    return NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})


def name_not_found(name: str) -> NotFound:
    return NotFound(f"No model named '{name}'", code="name_not_found", details={"name": name})


def version_not_found(name: str, version: Version) -> NotFound:
    return NotFound(f"'{name}' has no version {version}", code="version_not_found",
                    details={"name": name, "version": str(version)})


def alias_not_found(name: str, alias: str) -> NotFound:
    return NotFound(f"{name}@{alias} is not set", code="alias_not_found", details={"name": name, "alias": alias})


def file_not_found(model_id: str) -> NotFound:
    return NotFound(f"Model {model_id} has no file", code="file_not_found", details={"model_id": model_id})


def key_not_found(key_id: str) -> NotFound:
    return NotFound(f"No API key {key_id}", code="key_not_found", details={"key_id": key_id})


# ---- the state forbids it -------------------------------------------------------------------------


def file_exists(model: ModelVersion) -> Conflict:
    return Conflict(
        f"Model {model.id} already has a file; files are immutable, register a new version instead",
        code="file_exists",
        details={"model_id": model.id, "checksum": model.file.checksum if model.file else None},
    )


def scan_changed(model_id: str) -> Conflict:
    """A re-scan's compare-and-swap that lost: the stored verdict is no longer the one it read."""
    return Conflict(f"The scan result of model {model_id}'s file changed since it was read (re-scanned meanwhile)",
                    code="scan_conflict", details={"model_id": model_id})


def model_exists(model_id: str) -> Conflict:
    return Conflict(f"Model {model_id} exists already", code="model_exists", details={"model_id": model_id})


def key_exists(key_id: str) -> Conflict:
    return Conflict(f"An API key with id {key_id} exists", code="key_exists", details={"key_id": key_id})


def version_exists(model: ModelVersion, existing_id: str) -> Conflict:
    """A record copied in (``migrate``, ``import``) whose name and number another version
    (``existing_id``) holds here."""
    return Conflict(f"'{model.name}' {model.version} is already another version here ({existing_id})",
                    code="version_exists",
                    details={"model_id": model.id, "name": model.name, "version": str(model.version),
                             "existing_model_id": existing_id})


def written_meanwhile(model_id: str) -> Conflict:
    """A record copied in that clashes with a version written while it was being copied."""
    return Conflict(f"Model {model_id} clashes with a version written meanwhile", code="version_exists",
                    details={"model_id": model_id})


def alias_target_missing(name: str, alias: str, model_id: str) -> NotFound:
    """An alias copied in whose version is not in this store."""
    return NotFound(f"{name}@{alias} points at {model_id}, which is not here", code="model_not_found",
                    details={"model_id": model_id})


def invalid_alias_target(model_id: str, name: str, target_name: str) -> Invalid:
    return Invalid(f"Model {model_id} is a version of '{target_name}', not of '{name}'",
                   code="invalid_alias_target", details={"model_id": model_id, "name": target_name})


# ---- contention that outlasted its retries -------------------------------------------------------------


def version_conflict(name: str, attempts: int) -> Conflict:
    return Conflict(f"Could not allocate a version of '{name}' after {attempts} attempts", code="version_conflict",
                    details={"name": name})


def update_conflict(model_id: str) -> Conflict:
    return Conflict(f"Model {model_id} is being changed concurrently; try again", code="update_conflict",
                    details={"model_id": model_id})


def alias_contended(name: str, alias: str) -> Conflict:
    return Conflict(f"{name}@{alias} is being moved concurrently; try again", code="alias_conflict",
                    details={"name": name, "alias": alias})
