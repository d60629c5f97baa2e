"""``model-service keys``: create, list and revoke API keys, directly in the configured database.

This is how the first admin key is made (or set ``BOOTSTRAP_ADMIN_KEY``); admins can then use
``/api/v1/keys``. Each creation and revocation is in the audit log, by ``cli:<user>``.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import click

from .settings import settings_from_env

_DURATION = re.compile(r"(\d+)\s*([dhm])", re.IGNORECASE)
_UNIT = {"d": "days", "h": "hours", "m": "minutes"}


def _cli_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a bare container)
        user = ""
    return f"cli:{user}" if user else "cli"


@contextmanager
def _keys() -> Iterator:
    """The key service on DATABASE_URL (its schema brought up to date where the service would)."""
    settings = settings_from_env()
    from ..domain.audit import Auditor
    from ..domain.errors import RegistryError
    from ..domain.keys import Keys
    from ..stores import BackendOptions, build_metadata_store

    def now() -> datetime:
        return datetime.now(UTC)

    try:
        store = build_metadata_store(settings.resolved_database_url, BackendOptions.from_settings(settings))
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    try:
        store.prepare(migrate=settings.should_migrate)
        yield Keys(store, Auditor(store, clock=now), clock=now, cache_seconds=0)
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


def _expiry(expires_in: str | None, expires_at: str | None) -> datetime | None:
    if expires_in and expires_at:
        raise click.BadParameter("give --expires-in or --expires-at, not both")
    if expires_in:
        match = _DURATION.fullmatch(expires_in.strip())
        if not match:
            raise click.BadParameter(f"'{expires_in}': use a number of days, hours or minutes: 90d, 12h, 30m",
                                     param_hint="--expires-in")
        return datetime.now(UTC) + timedelta(**{_UNIT[match.group(2).lower()]: int(match.group(1))})
    if expires_at:
        from ..domain.query import parse_datetime

        parsed = parse_datetime(expires_at)
        if parsed is None:
            raise click.BadParameter(f"'{expires_at}' is not an ISO 8601 time", param_hint="--expires-at")
        return parsed
    return None


@click.group("keys")
def keys() -> None:
    """Create, list and revoke API keys (in DATABASE_URL, without the server)."""


@keys.command("create")
@click.option("--name", required=True, help="Owner of the key: recorded as the actor of everything done with it")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["read", "write", "admin"]),
              help="read, write (implies read) or admin (implies both); repeat for several")
@click.option("--prefix", "name_prefix", default=None,
              help="Limit the key's writes to model names starting with this (a team's namespace)")
@click.option("--expires-in", default=None, metavar="DURATION", help="Expire after 90d, 12h, 30m, …")
@click.option("--expires-at", default=None, metavar="TIME", help="Expire at an ISO 8601 time (UTC if no zone)")
@click.option("--json", "as_json", is_flag=True, help="Print the key and its record as JSON")
def create(name: str, scopes: tuple[str, ...], name_prefix: str | None, expires_in: str | None,
           expires_at: str | None, as_json: bool) -> None:
    """Create a key and print it: it is shown this once, only its SHA-256 is stored.

    \b
    Examples:
      model-service keys create --name admin --scope admin
      model-service keys create --name fraud-ci --scope write --prefix fraud_ --expires-in 90d
    """
    from ..domain.callers import Caller

    expires = _expiry(expires_in, expires_at)
    with _keys() as service:
        issued = service.create(Caller(actor=_cli_actor()), name=name, scopes=scopes, name_prefix=name_prefix,
                                expires_at=expires)
    key = issued.key
    if as_json:
        click.echo(json.dumps({"key": issued.secret, **_record(key)}))
        return
    click.echo(issued.secret)
    click.echo(f"Created key {key.key_id} for '{key.name}' (scopes: {' '.join(s.value for s in key.scopes)}"
               f"{', names starting with ' + repr(key.name_prefix) if key.name_prefix else ''}"
               f"{', expires ' + key.expires_at.isoformat() if key.expires_at else ''}). "
               "Store it now: it cannot be shown again.", err=True)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array")
def list_keys(as_json: bool) -> None:
    """Every key (never the keys themselves): id, owner, scopes, prefix, state, dates."""
    with _keys() as service:
        found = service.list()
    now = datetime.now(UTC)
    if as_json:
        click.echo(json.dumps([_record(key, now) for key in found]))
        return
    if not found:
        click.echo("No API keys. Create one: model-service keys create --name admin --scope admin", err=True)
        return
    rows = [("KEY ID", "NAME", "SCOPES", "PREFIX", "STATE", "CREATED", "EXPIRES")]
    rows += [(key.key_id, key.name, ",".join(s.value for s in key.scopes), key.name_prefix or "-",
              key.state(now).value, _day(key.created_at), _day(key.expires_at)) for key in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key by its id (the 12 hex digits after 'tfk_'); it stops working at once here,
    and within AUTH_CACHE_SECONDS on running servers."""
    from ..domain.callers import Caller

    key_id = key_id.removeprefix("tfk_")[:12] if key_id.startswith("tfk_") else key_id
    with _keys() as service:
        key = service.revoke(Caller(actor=_cli_actor()), key_id)
    click.echo(f"Revoked key {key.key_id} ('{key.name}') at {key.revoked_at.isoformat()}")


def _day(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _record(key, now: datetime | None = None) -> dict:
    return {"key_id": key.key_id, "name": key.name, "scopes": [s.value for s in key.scopes],
            "name_prefix": key.name_prefix, "created_at": key.created_at.isoformat(), "created_by": key.created_by,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            "state": key.state(now or datetime.now(UTC)).value}
