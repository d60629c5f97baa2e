"""The one settings object, read from environment variables (the seed's names and defaults first).

Built once at start-up and passed in; nothing reads the environment at import time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .rates import normalise_rate

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MIN_BOOTSTRAP_KEY_LENGTH = 32
MIN_UI_SECRET_LENGTH = 32


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
    shutdown_grace_seconds: float = Field(30.0, ge=0, le=3600,
                                          description="On SIGTERM, how long requests in flight (downloads included) "
                                                      "may take to finish; past that they are cut")
    # ---- authentication, keys and audit ----
    enable_auth: bool = Field(False, description="Require an API key (X-API-Key or Authorization: Bearer) on every "
                                                 "request but /health and /metrics")
    allow_anonymous_read: bool = Field(False, description="With ENABLE_AUTH, let requests without a key read (GET, "
                                                          "HEAD); writes still need a key")
    bootstrap_admin_key: SecretStr | None = Field(None, description="An admin key of your choosing (at least 32 "
                                                                    "characters), to create the first keys with")
    auth_cache_seconds: float = Field(5.0, ge=0, le=300, description="How long a process trusts a key it has looked "
                                                                     "up: a key revoked elsewhere stops working "
                                                                     "within this")

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_BOOTSTRAP_KEY_LENGTH:
            raise ValueError(f"use at least {MIN_BOOTSTRAP_KEY_LENGTH} random characters, e.g. the output of "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        return value

    # ---- rate limits ----
    rate_limit_default: str | None = Field(
        None, description="Requests per client per window on every route class without a limit of its own, "
                          "e.g. '100 per hour' (the seed's); unset: none")
    rate_limit_read: str | None = Field(None, description="Limit of other GET and HEAD requests; 'off' exempts them")
    rate_limit_write: str | None = Field(None, description="Limit of POST, PUT, PATCH and DELETE requests")
    rate_limit_search: str | None = Field(None, description="Limit of listing and search (GET /models, /models/search)")
    rate_limit_download: str | None = Field(None, description="Limit of file downloads, e.g. '10 per minute' "
                                                              "(the seed's)")
    redis_url: str | None = Field(None, description="Redis that replicas share rate limit counters in "
                                                    "(redis://, rediss://, unix://); unset: counted in each process")

    @field_validator("rate_limit_default", "rate_limit_read", "rate_limit_write", "rate_limit_search",
                     "rate_limit_download", mode="before")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        return normalise_rate(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
        return value

    # ---- model file scanning ----
    scan_models: bool = Field(True, description="Scan every upload of the pickle family (pickle, joblib, PyTorch) "
                                                "for code it would run when loaded; the file is never loaded")
    reject_unsafe_models: bool = Field(False, description="Refuse an upload whose scan finds a dangerous import "
                                                          "(422 unsafe_model, nothing kept)")
    scan_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds one scan may take; past that it is "
                                                                 "stopped and the file is 'unscanned'")
    scan_memory_limit: int = Field(parse_size("512MB"), description="Address space of each scanner process (MB, "
                                                                    "GB); a scan needing more is 'unscanned'")
    scan_concurrency: int = Field(2, ge=1, le=64, description="Scanner processes running at once per server "
                                                              "process (others wait)")
    scan_allowed_globals: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Imports that do not make a file suspicious, beyond picklescan's own "
                                          "list: 'module', 'module.*' or 'module:name', comma-separated "
                                          "(e.g. 'sklearn.*'); a dangerous import stays dangerous")
    scan_temp_dir: Path | None = Field(None, description="Where uploads to S3 or GridFS are also written for the "
                                                         "scan while they stream; default the system's temp folder")

    @field_validator("scan_memory_limit", mode="before")
    @classmethod
    def _scan_memory(cls, value: str | int) -> int:
        size = parse_size(value)
        if size < 64 << 20:
            raise ValueError("the scanner needs at least 64MB")
        return size

    @field_validator("scan_allowed_globals", mode="before")
    @classmethod
    def _scan_allowed(cls, value: str | list[str]) -> list[str]:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    # ---- re-scanning on a new scanner version ----
    rescan_interval: float = Field(3600.0, ge=0, le=7 * 86400,
                                   description="Seconds between the server's background passes that re-scan the "
                                               "files whose verdict is stale (judged by another scanner version, "
                                               "or never scanned); 0: no background pass")
    rescan_batch: int = Field(100, ge=1, le=100_000, description="Files (distinct blobs) one background re-scan "
                                                                 "pass scans at most")

    # ---- uploads in flight ----
    upload_idle_timeout: float = Field(60.0, gt=0, le=3600,
                                       description="Seconds an upload's body may go without a byte arriving; then "
                                                   "the upload is aborted (408 upload_idle) and its bytes removed")

    # ---- web UI ----
    ui_session_secret: SecretStr | None = Field(None, description="The secret of the web UI's form tokens (at "
                                                                  "least 32 characters); replicas behind one address "
                                                                  "must share it. Default: one kept in "
                                                                  "$DATA_DIR/ui-session.secret")

    @field_validator("ui_session_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_UI_SECRET_LENGTH:
            raise ValueError(f"use at least {MIN_UI_SECRET_LENGTH} random characters, e.g. the output of "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        return value

    # ---- hostile input and response headers ----
    security_headers: bool = Field(True, description="Send X-Content-Type-Options, X-Frame-Options, Referrer-Policy, "
                                                     "Cross-Origin-Resource-Policy and Content-Security-Policy on "
                                                     "every response (off: a proxy in front sets them)")
    content_security_policy: str = Field("default-src 'none'; frame-ancestors 'none'",
                                         description="Content-Security-Policy of every response but the /docs and "
                                                     "/redoc pages (which get one that lets them load Swagger UI)")
    cross_origin_resource_policy: Literal["same-origin", "same-site", "cross-origin"] = Field(
        "same-origin", description="Cross-Origin-Resource-Policy; CORS requests (fetch from CORS_ORIGINS) are "
                                   "not affected by it, only pages embedding responses (<img>, <script>)")
    hsts_max_age: int = Field(0, ge=0, le=2 * 365 * 86400,
                              description="Strict-Transport-Security max-age in seconds; 0 sends none. Set it only "
                                          "when every client reaches the service over HTTPS")
    hsts_include_subdomains: bool = Field(False, description="Add includeSubDomains to Strict-Transport-Security")

    @field_validator("content_security_policy")
    @classmethod
    def _header_text(cls, value: str) -> str:
        if not value.strip() or any(not 32 <= ord(c) < 127 for c in value):
            raise ValueError("a header value is one line of printable ASCII")
        return value.strip()

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
