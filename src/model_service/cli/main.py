"""``model-service``: run the server and manage its database.

The server and stores are imported lazily, inside the commands that need them.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile

import click

from .. import __version__
from .archive import export_archive, import_archive
from .keys import keys
from .maintenance import cleanup, fsck, gc
from .migrate import migrate
from .overview import COMMANDS as OVERVIEW_COMMANDS
from .registry import COMMANDS as REGISTRY_COMMANDS
from .rescan import scan
from .settings import redact_url, settings_from_env


@click.group()
@click.version_option(__version__, prog_name="model-service")
def main() -> None:
    """TensorFleet Model Service: a registry for trained ML models."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [env HOST; default 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port [env PORT; default 8084]")
@click.option("--workers", type=int, default=None, help="Server processes sharing the port [env WORKERS; default 1]")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Start the HTTP service (SQLite + a local folder under DATA_DIR unless configured otherwise).

    The settings, the stores, the schema and the port are checked before any worker starts; a
    failure is one line on stderr and exit status 1. SIGTERM stops it gracefully: no new
    connections, requests in flight finish within SHUTDOWN_GRACE_SECONDS, the stores are
    closed, exit status 0."""
    settings = settings_from_env(host=host, port=port, workers=workers)
    from ..server.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    log = logging.getLogger("model_service")
    from ..server.lifecycle import StartupError, check_stores, run

    multiprocess_dir = _share_metrics_between_workers(settings.workers)
    try:
        check_stores(settings)  # once, in this process, before any worker starts
        log.info("Metadata: %s", redact_url(settings.resolved_database_url))
        log.info("Files: %s", settings.resolved_blob_store_url)
        run(settings)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if multiprocess_dir is not None:
            shutil.rmtree(multiprocess_dir, ignore_errors=True)


def _share_metrics_between_workers(workers: int) -> str | None:
    """With several workers, a fresh ``PROMETHEUS_MULTIPROC_DIR`` for them to share counters
    through (any worker then answers /metrics with the totals); None if not needed or already set.
    Set before any worker starts: prometheus-client reads it when it is first imported."""
    if workers < 2 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    path = tempfile.mkdtemp(prefix="model-service-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to DATABASE_URL."""
    settings = settings_from_env()
    from ..domain.errors import RegistryError
    from ..stores import BackendOptions, build_metadata_store

    store = build_metadata_store(settings.resolved_database_url, BackendOptions.from_settings(settings))
    try:
        store.prepare(migrate=True)
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    click.echo(f"Schema of {redact_url(settings.resolved_database_url)} is up to date")


@db.command("check")
def db_check() -> None:
    """Exit non-zero if DATABASE_URL's schema is not current."""
    settings = settings_from_env()
    from ..domain.errors import RegistryError
    from ..stores import BackendOptions, build_metadata_store

    store = build_metadata_store(settings.resolved_database_url, BackendOptions.from_settings(settings))
    try:
        store.prepare(migrate=False)
    except RegistryError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    finally:
        store.close()
    click.echo("Schema is current")


main.add_command(migrate)
main.add_command(keys)
main.add_command(gc)
main.add_command(fsck)
main.add_command(cleanup)
main.add_command(scan)
main.add_command(export_archive)
main.add_command(import_archive)
for _command in (*REGISTRY_COMMANDS, *OVERVIEW_COMMANDS):  # the registry over HTTP, through the SDK
    main.add_command(_command)
