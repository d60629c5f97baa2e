"""Version numbers: ``v<major>.<minor>``.

A name's versions are totally ordered by (major, minor). A new version of a name always follows
the name's *latest* version, whichever version it was derived from: ``breaking_changes`` starts
the next major (``v1.3`` → ``v2.0``), anything else the next minor (``v1.3`` → ``v1.4``). So the
sequence of a name is gap-free and never reuses a number, even after deletions of older versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import Invalid

_VERSION = re.compile(r"v?(\d{1,9})\.(\d{1,9})")


@dataclass(frozen=True, order=True, slots=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.fullmatch(text.strip()) if isinstance(text, str) else None
        if not match:
            raise Invalid(f"'{text}' is not a version: expected the form v1.0", details={"version": str(text)[:50]},
                          code="invalid_version")
        return cls(int(match.group(1)), int(match.group(2)))

    def next(self, *, breaking: bool = False) -> Version:
        return Version(self.major + 1, 0) if breaking else Version(self.major, self.minor + 1)

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}"


FIRST = Version(1, 0)


def following(latest: Version | None, *, breaking: bool) -> Version:
    """The version a new registration of a name gets, given the name's latest version (or none)."""
    return FIRST if latest is None else latest.next(breaking=breaking)
