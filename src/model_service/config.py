"""The one settings object, read from environment variables (the seed's names and defaults first).

Built once at start-up and passed in; nothing reads the environment at import time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value: str | int) -> int:
    """``500MB``, ``1GB``, ``64KiB``, ``1048576`` → bytes. Units are powers of 1024."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.fullmatch(str(value))
        if not match:
            raise ValueError(f"'{value}' is not a size: use a number of bytes or a number with KB, MB, GB or TB")
        unit = (match.group(2) or "").upper()[:1]
        size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    port: int = Field(8084, ge=1, le=65535, description="HTTP port")
    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 exposes the service to the network")
    data_dir: Path = Field(Path("./data"), description="Where the embedded defaults keep their data")
    database_url: str | None = Field(None, description="Metadata database; default sqlite:///$DATA_DIR/registry.db")
    blob_store_url: str | None = Field(None, description="Where files go: a folder, s3://bucket/prefix or gridfs://; "
                                                        "default the folder $DATA_DIR/blobs")
    mongodb_url: str | None = Field(None, description="MongoDB for metadata (when DATABASE_URL is not set) and GridFS")
    mongodb_db: str = Field("tensorfleet", min_length=1, description="MongoDB database name")
    gridfs_bucket: str = Field("models", min_length=1, description="GridFS bucket of BLOB_STORE_URL=gridfs://")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, …); default AWS")
    max_file_size: int = Field(parse_size("500MB"), description="Largest model file accepted (KB, MB, GB)")
    max_request_size: int = Field(parse_size("1MB"), description="Largest JSON or form body outside of files")
    max_page_size: int = Field(100, ge=1, le=10_000, description="Upper bound of `limit` in listings")
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    log_format: Literal["text", "json"] = Field("text", description="Log lines as plain text or as JSON objects")
    access_log: bool = Field(True, description="Log one line per request")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                                         description="Comma-separated origins allowed by CORS")
    auto_migrate: bool | None = Field(None, description="Upgrade the schema at start-up; default on for SQLite only")
    database_pool_size: int = Field(10, ge=1, le=500, description="PostgreSQL connections each server process keeps "
                                                                   "open (as many again under load)")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite durability: FULL syncs every commit, NORMAL only at checkpoints")
    workers: int = Field(1, ge=1, le=64, description="Server processes sharing the port")
    download_chunk_size: int = Field(4 << 20, ge=4096, le=64 << 20,
                                     description="Bytes per read when streaming a file (memory per download ~2x)")

    @field_validator("max_file_size", "max_request_size", "download_chunk_size", mode="before")
    @classmethod
    def _size(cls, value: str | int) -> int:
        return parse_size(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _sync_upper(cls, value: str) -> str:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: str | list[str]) -> list[str]:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """DATABASE_URL, else MONGODB_URL (the seed's architecture), else SQLite under DATA_DIR."""
        return self.database_url or self.mongodb_url or f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    @property
    def resolved_blob_store_url(self) -> str:
        return self.blob_store_url or str((self.data_dir / "blobs").resolve())

    def backend_options(self):
        """What the stores need beyond their URLs (``stores.BackendOptions``)."""
        from .stores import BackendOptions

        return BackendOptions(mongodb_url=self.mongodb_url, mongodb_db=self.mongodb_db,
                              gridfs_bucket=self.gridfs_bucket, s3_endpoint_url=self.s3_endpoint_url,
                              sqlite_synchronous=self.sqlite_synchronous, sql_pool_size=self.database_pool_size)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def should_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate


class SettingsError(Exception):
    """A setting is invalid; the message names the environment variable."""


def load_settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"Invalid configuration: {problems}") from None
