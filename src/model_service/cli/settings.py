"""What the commands that work on this machine's stores share: the settings, read from the
environment, and database URLs in the form they may be shown in.

The configuration module and SQLAlchemy are imported when first needed, so that ``--help`` and
the commands that only talk HTTP do not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..config import Settings


def settings_from_env(**overrides: object) -> Settings:
    """The settings from the environment, with the options given on the command line (``None``:
    not given) over them. A setting that does not hold is a :class:`click.ClickException`: one
    line on stderr, exit status 1."""
    from ..config import SettingsError, load_settings

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def redact_url(url: str) -> str:
    """``url`` without its password, for logs and messages; as it is if it does not parse."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # whatever it is, the caller only wants something to print
        return url
