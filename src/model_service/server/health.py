"""Service health: a cheap liveness answer and the detailed check of every backend."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..config import Settings
from ..domain.ports import Health
from ..domain.registry import Registry
from ..operations.fsck import sample

SERVICE = "model-service"
STARTED = time.monotonic()


def liveness() -> dict[str, Any]:
    return {
        "status": "healthy",
        "service": SERVICE,
        "version": __version__,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "uptime_seconds": round(time.monotonic() - STARTED, 1),
    }


def _guarded(check) -> Health:
    try:
        return check()
    except Exception as exc:  # a check that blows up is a failed check, not a failed endpoint
        return Health(False, f"unhealthy: {type(exc).__name__}: {str(exc)[:200]}")


def disk_space(settings: Settings) -> Health:
    """Enough room under DATA_DIR for one more upload of the largest allowed size."""
    path = settings.data_dir if settings.data_dir.exists() else settings.data_dir.parent
    usage = shutil.disk_usage(path)
    info = {"path": str(path.resolve()), "free_bytes": usage.free, "total_bytes": usage.total,
            "required_free_bytes": settings.max_file_size}
    if usage.free < settings.max_file_size:
        return Health(False, f"unhealthy: {usage.free} bytes free, less than MAX_FILE_SIZE", info)
    return Health(True, info=info)


def integrity(registry: Registry, size: int = 20) -> Health:
    """A cheap sample of ``model-service fsck`` (``fsck.sample``): the newest ``size // 2``
    files and as many at a random place exist in the blob store with their recorded sizes."""
    return sample(registry.metadata, registry.blobs, newest=size - size // 2, randomly=size // 2)


def _unhealthy(detail: str) -> str:
    return detail if detail.startswith("unhealthy") else f"unhealthy: {detail}"


def detailed(registry: Registry, settings: Settings) -> tuple[dict[str, Any], bool]:
    """The seed's detailed shape: ``checks`` name → "healthy" | "unhealthy: …", plus figures."""
    checks = {
        "database": _guarded(registry.metadata.check),
        "blob_store": _guarded(registry.blobs.check),
        "disk_space": _guarded(lambda: disk_space(settings)),
        "model_registry": _guarded(lambda: integrity(registry)),
    }
    healthy = all(check.ok for check in checks.values())
    body: dict[str, Any] = {
        "service": SERVICE,
        "status": "healthy" if healthy else "unhealthy",
        "version": __version__,
        "timestamp": liveness()["timestamp"],
        "checks": {name: "healthy" if c.ok else _unhealthy(c.detail) for name, c in checks.items()},
        "check_details": {name: c.info for name, c in checks.items()},
    }
    try:
        summary = registry.metadata.summary()
        body["metrics"] = {
            "total_models": summary["total_models"],
            "active_models": summary["active_models"],
            "storage_usage_gb": round(summary["stored_bytes"] / 1024**3, 6),
        }
    except Exception:
        body["metrics"] = None
    if not healthy:
        body["issues"] = [name for name, c in checks.items() if not c.ok]
    return body, healthy
