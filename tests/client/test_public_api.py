"""The SDK's public surface, pinned, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import model_service.client as sdk

PUBLIC = [
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


def test_all_is_pinned():
    assert sdk.__all__ == PUBLIC


def test_every_public_name_is_importable():
    for name in PUBLIC:
        assert getattr(sdk, name) is not None, name


def test_every_error_is_a_model_service_error():
    for name in PUBLIC:
        value = getattr(sdk, name)
        if isinstance(value, type) and name not in ("MissingExtra", "ModelServiceError") and issubclass(
                value, Exception):
            assert issubclass(value, sdk.ModelServiceError), name


def test_importing_the_sdk_imports_neither_the_server_nor_the_flavours():
    code = ("import sys, model_service.client; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'sqlalchemy', "
            "'pydantic', 'boto3', 'pymongo', 'sklearn', 'torch', 'numpy') or m.startswith(("
            "'model_service.server', 'model_service.stores', 'model_service.domain', 'model_service.config', "
            "'model_service.client.flavors'))); print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_client_sends_a_user_agent_naming_the_sdk(sdk, wire):
    from model_service import __version__

    sdk.health()

    assert wire.requests[0].headers["User-Agent"].startswith(f"tensorfleet-model-service-sdk/{__version__} ")
