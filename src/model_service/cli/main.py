"""``model-service``: run the server and manage its database.

The server and stores are imported lazily, inside the commands that need them.
"""

from __future__ import annotations

import logging
import sys

import click

from .. import __version__


def _settings(**overrides):
    from ..config import SettingsError, load_settings

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(__version__, prog_name="model-service")
def main() -> None:
    """TensorFleet Model Service: a registry for trained ML models."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [env HOST; default 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port [env PORT; default 8084]")
@click.option("--workers", type=int, default=None, help="Server processes sharing the port [env WORKERS; default 1]")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Start the HTTP service (SQLite + a local folder under DATA_DIR unless configured otherwise)."""
    settings = _settings(host=host, port=port, workers=workers)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log = logging.getLogger("model_service")

    from ..domain.errors import RegistryError
    from ..server.app import build_registry

    try:  # check stores and schema once, in this process, before any worker starts
        build_registry(settings).metadata.close()
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    log.info("Metadata: %s", _redact(settings.resolved_database_url))
    log.info("Files: %s", settings.resolved_blob_store_url)

    import uvicorn

    uvicorn.run(
        "model_service.server.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=30,
        env_file=None,
    )


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to DATABASE_URL."""
    settings = _settings()
    from ..domain.errors import RegistryError
    from ..stores import build_metadata_store

    store = build_metadata_store(settings.resolved_database_url)
    try:
        store.prepare(migrate=True)
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    click.echo(f"Schema of {_redact(settings.resolved_database_url)} is up to date")


@db.command("check")
def db_check() -> None:
    """Exit non-zero if DATABASE_URL's schema is not current."""
    settings = _settings()
    from ..domain.errors import RegistryError
    from ..stores import build_metadata_store

    store = build_metadata_store(settings.resolved_database_url)
    try:
        store.prepare(migrate=False)
    except RegistryError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    finally:
        store.close()
    click.echo("Schema is current")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
