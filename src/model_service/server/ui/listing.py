"""The models list page's query: the API's list parameters read from the page's URL, and the
links the page builds from them (sort headers, facets, pages), each keeping the rest of the query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...domain.errors import Invalid
from ...domain.models import Status
from ...domain.naming import ACCURACY_METRICS
from ...domain.query import SimpleFilters, as_utc
from ..params import Instant

PAGE_SIZES = (20, 50, 100)
LIST_PATH = "/ui/models"
# The list's columns that sort (the API's sort keys); metric columns are added per page.
COLUMNS = (("name", "Name"), ("version", "Version"), ("algorithm", "Algorithm"), ("status", "Status"),
           ("accuracy", "Accuracy"), ("download_count", "Downloads"), ("created_at", "Created"))
SORT_EXAMPLES = ("-created_at", "-metrics.f1_score,name", "name,-version", "-download_count")
FILTER_EXAMPLE = "metrics.f1_score >= 0.9 AND (algorithm = 'xgboost' OR tags = 'production')"


class ListParams(BaseModel):
    """The API's list and search parameters (``GET /api/v1/models``), as the page's form sends
    them: empty fields are absent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    page: int = Field(1, ge=1, le=1_000_000)
    limit: int = Field(PAGE_SIZES[0], ge=1)
    q: str | None = Field(None, max_length=256)
    filter: str | None = Field(None, max_length=4096)
    sort: str | None = Field(None, max_length=512)
    algorithm: str | None = Field(None, max_length=128)
    status: Status | None = None
    tags: str | None = Field(None, max_length=4096)
    tags_all: str | None = Field(None, max_length=4096)
    name: str | None = Field(None, max_length=128)
    created_by: str | None = Field(None, max_length=256)
    min_accuracy: float | None = None
    created_after: Instant | None = None
    created_before: Instant | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def parse(cls, query: dict[str, str], max_page_size: int) -> ListParams:
        """The parameters of ``query``; :class:`Invalid` naming the first bad one."""
        try:
            params = cls.model_validate(query)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(part) for part in problem.get("loc", ())) or "query"
            raise Invalid(f"{field}: {problem.get('msg', 'invalid value')}", code="invalid_query",
                          details={"parameter": field}) from None
        return params.model_copy(update={"limit": min(params.limit, max_page_size)})

    def filters(self) -> SimpleFilters:
        def utc(value: datetime | None, parameter: str) -> datetime | None:
            return None if value is None else as_utc(value, parameter)

        return SimpleFilters(
            algorithm=self.algorithm, status=None if self.status is None else self.status.value, name=self.name,
            created_by=self.created_by, tags=_comma_list(self.tags), tags_all=_comma_list(self.tags_all), q=self.q,
            min_accuracy=self.min_accuracy, created_after=utc(self.created_after, "created_after"),
            created_before=utc(self.created_before, "created_before"))

    def query(self) -> dict[str, str]:
        """The parameters as they go in a URL: those set, and no default page or size."""
        out: dict[str, str] = {}
        for key, value in self.model_dump(exclude_none=True).items():
            if (key == "page" and value == 1) or (key == "limit" and value == PAGE_SIZES[0]):
                continue
            if isinstance(value, datetime):
                out[key] = value.isoformat()
            else:
                out[key] = value.value if isinstance(value, Status) else str(value)
        return out

    def url(self, **changes: Any) -> str:
        """This list's URL with ``changes`` (None removes a parameter); any change but a page
        change goes back to the first page."""
        values = self.query()
        if "page" not in changes:
            values.pop("page", None)
        for key, value in changes.items():
            if value is None or (key == "page" and value == 1):
                values.pop(key, None)
            else:
                values[key] = str(value)
        return LIST_PATH + ("?" + urlencode(values) if values else "")

    @property
    def sort_keys(self) -> list[str]:
        return [key.strip() for key in (self.sort or "-created_at").split(",") if key.strip()]

    def sort_link(self, key: str) -> tuple[str, str | None]:
        """The URL that sorts by ``key`` (descending first, then toggling) and how the list is
        sorted by it now: ``ascending``, ``descending`` or None."""
        first = self.sort_keys[0] if self.sort_keys else ""
        if first == key:
            return self.url(sort="-" + key), "ascending"
        if first == "-" + key:
            return self.url(sort=key), "descending"
        return self.url(sort="-" + key), None

    def toggled(self, parameter: str, value: str) -> tuple[str, bool]:
        """The URL with the facet ``parameter=value`` on, or off if it is on now, and whether it is on."""
        current = getattr(self, parameter)
        current = current.value if isinstance(current, Status) else current
        if parameter == "tags":
            chosen = list(_comma_list(current))
            active = value in chosen
            chosen = [tag for tag in chosen if tag != value] if active else [*chosen, value]
            return self.url(tags=",".join(chosen) or None), active
        active = current == value
        return self.url(**{parameter: None if active else value}), active


@dataclass(frozen=True, slots=True)
class Paging:
    page: int
    pages: int
    total: int
    first_row: int
    last_row: int
    window: tuple[int | None, ...]  # page numbers to link, None for a gap


def paging(page: int, limit: int, total: int, shown: int) -> Paging:
    pages = max(1, -(-total // limit))
    first = (page - 1) * limit + 1 if shown else 0
    numbers = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    window: list[int | None] = []
    for number in numbers:
        if window and number - (window[-1] or 0) > 1:
            window.append(None)
        window.append(number)
    return Paging(page=page, pages=pages, total=total, first_row=first, last_row=first + shown - 1 if shown else 0,
                  window=tuple(window))


def metric_columns(models: list, sort_keys: list[str], at_most: int = 4) -> list[str]:
    """The metrics to show as columns: the one sorted by, then those most of the page's rows have
    (but the accuracy-like ones, which the Accuracy column shows)."""
    counts: dict[str, int] = {}
    for model in models:
        for key in model.metrics:
            if key not in ACCURACY_METRICS:
                counts[key] = counts.get(key, 0) + 1
    chosen = [key.lstrip("-").removeprefix("metrics.") for key in sort_keys if key.lstrip("-").startswith("metrics.")]
    for key, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if len(chosen) >= at_most:
            break
        if key not in chosen:
            chosen.append(key)
    return chosen[:max(at_most, len(chosen))]


def _comma_list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())
