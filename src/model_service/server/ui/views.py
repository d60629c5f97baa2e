"""The UI's pages (reads): dashboard, models list, one version, comparison, and a version's file.

Each page gathers what it shows in one call on a worker thread (the store calls are blocking),
and every list on a page is bounded: the models list is one page of the store's search, a
name's versions one page of its own, its history the newest events only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...domain.errors import Invalid, NotFound
from ...domain.models import Alias, Event, EventKind, ModelVersion, Status
from ...domain.registry import Registry
from ..routers.files import download_response
from . import charts
from .figures import Figures
from .listing import COLUMNS, FILTER_EXAMPLE, PAGE_SIZES, SORT_EXAMPLES, ListParams, metric_columns, paging
from .render import render

RECENT = 8
TIMELINE_PAGE = 25
HISTORY_SHOWN = 50
CHILDREN_SHOWN = 20
MIN_COMPARED, MAX_COMPARED = 2, 6
PARTIAL_HEADER = "x-ui-partial"


# ---- dashboard ----------------------------------------------------------------------------------

async def dashboard(request: Request, figures: Figures) -> Response:
    registry: Registry = request.app.state.registry

    def gather() -> dict[str, Any]:
        return {**figures.dashboard.get(), "recent": registry.recent(RECENT)}

    return render(request, "dashboard.html", nav="dashboard", **await run_in_threadpool(gather))


# ---- models list --------------------------------------------------------------------------------

async def models_list(request: Request, figures: Figures) -> Response:
    registry: Registry = request.app.state.registry
    settings = request.app.state.settings
    partial = request.headers.get(PARTIAL_HEADER) == "results"
    template = "_results.html" if partial else "models.html"
    try:
        params = ListParams.parse(dict(request.query_params), settings.max_page_size)
    except Invalid as exc:
        return render(request, template, status_code=400, nav="models", params=ListParams(), error=exc.message,
                      **await _empty_list(figures))

    def gather() -> dict[str, Any]:
        found = registry.search(params.filters(), filter_text=params.filter, sort_text=params.sort,
                                page=params.page, limit=params.limit)
        return {"models": found.items, "paging": paging(params.page, params.limit, found.total, len(found.items)),
                "facets": figures.facets.get()}

    try:
        context = await run_in_threadpool(gather)
    except Invalid as exc:  # a filter or sort expression that does not parse: say where
        return render(request, template, status_code=400, nav="models", params=params, error=exc.message,
                      **await _empty_list(figures))
    return render(request, template, nav="models", params=params, error=None,
                  metric_keys=metric_columns(context["models"], params.sort_keys), **_list_constants(), **context)


def _list_constants() -> dict[str, Any]:
    return {"columns": COLUMNS, "page_sizes": PAGE_SIZES, "filter_example": FILTER_EXAMPLE,
            "sort_examples": SORT_EXAMPLES, "statuses": [status.value for status in Status]}


async def _empty_list(figures: Figures) -> dict[str, Any]:
    return {"models": [], "paging": paging(1, PAGE_SIZES[0], 0, 0),
            "facets": await run_in_threadpool(figures.facets.get),
            "metric_keys": [],
            **_list_constants()}


# ---- one version --------------------------------------------------------------------------------

@dataclass
class TimelineEntry:
    model: ModelVersion
    aliases: list[str]
    parent: ModelVersion | None  # the version it was derived from, if it still exists
    parent_id: str | None
    current: bool


@dataclass
class ModelPage:
    model: ModelVersion
    aliases: list[Alias]  # every alias of the name
    here: list[str]  # those pointing at this version
    parent: ModelVersion | None
    children: list[ModelVersion]
    timeline: list[TimelineEntry]
    timeline_paging: Any
    history: list[Event]
    version_labels: dict[str, str]  # model id → "v1.2", for the history's status changes
    hyperparameters: list[tuple[str, Any]] = field(default_factory=list)
    dataset: list[tuple[str, Any]] = field(default_factory=list)


def _flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested hyperparameters and dataset fields as dotted keys (``optimizer.lr``)."""
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _get_or_none(registry: Registry, model_id: str | None) -> ModelVersion | None:
    if model_id is None:
        return None
    try:
        return registry.get(model_id)
    except NotFound:
        return None


def model_page_context(registry: Registry, model_id: str, versions_page: int) -> ModelPage:
    model = registry.get(model_id)
    aliases = registry.aliases(model.name)
    by_model: dict[str, list[str]] = {}
    for alias in aliases:
        by_model.setdefault(alias.model_id, []).append(alias.alias)
    found = registry.versions(model.name, versions_page, TIMELINE_PAGE)
    known = {version.id: version for version in found.items}
    known[model.id] = model
    timeline = []
    for version in found.items:
        parent_id = version.parent_model_id
        if parent_id is not None and parent_id not in known:
            parent = _get_or_none(registry, parent_id)
            if parent is not None:
                known[parent_id] = parent
        timeline.append(TimelineEntry(version, sorted(by_model.get(version.id, [])),
                                      known.get(parent_id) if parent_id else None, parent_id,
                                      version.id == model.id))
    children = registry.children(model.id, CHILDREN_SHOWN)
    try:
        history = registry.name_history(model.name, kinds=(EventKind.ALIAS.value, EventKind.STATUS.value),
                                        limit=HISTORY_SHOWN, newest_first=True)
    except NotFound:  # a name whose versions carry no events (written by a bulk load, not the registry)
        history = []
    labels = {version.id: str(version.version) for version in known.values() if version.name == model.name}
    for event in history:
        if event.kind is EventKind.STATUS and event.model_id not in labels:
            found_version = _get_or_none(registry, event.model_id)
            labels[event.model_id] = "a deleted version" if found_version is None else str(found_version.version)
    return ModelPage(
        model=model, version_labels=labels, aliases=aliases, here=sorted(by_model.get(model.id, [])),
        parent=known.get(model.parent_model_id) if model.parent_model_id else None, children=children,
        timeline=timeline, timeline_paging=paging(versions_page, TIMELINE_PAGE, found.total, len(found.items)),
        history=history, hyperparameters=_flatten(model.hyperparameters), dataset=_flatten(model.dataset_info))


async def model_page(request: Request, model_id: str, *, status_code: int = 200, error: str | None = None,
                     notice: str | None = None, form: dict[str, str] | None = None) -> Response:
    """The version's page; the actions re-render it with ``error`` (and the form as sent)."""
    registry: Registry = request.app.state.registry
    try:
        versions_page = int(request.query_params.get("versions_page", "1"))
        if not 1 <= versions_page <= 1_000_000:
            raise ValueError
    except ValueError:
        raise Invalid("versions_page must be a page number from 1", code="invalid_query",
                      details={"parameter": "versions_page"}) from None
    page = await run_in_threadpool(model_page_context, registry, model_id, versions_page)
    return render(request, "model.html", status_code=status_code, nav="models", page=page, error=error,
                  notice=notice or NOTICES.get(request.query_params.get("done", "")), form=form or {},
                  statuses=[status.value for status in Status], versions_page=versions_page)


NOTICES = {
    "updated": "Description and tags saved.",
    "status": "Status changed.",
    "alias": "Alias moved.",
    "alias_removed": "Alias removed.",
    "uploaded": "File uploaded.",
}


# ---- comparison ---------------------------------------------------------------------------------

def compared_ids(request: Request) -> list[str]:
    """``ids=a,b,c`` (the API's form) or ``ids=a&ids=b`` (the list's checkboxes), in order, once each."""
    ids: list[str] = []
    for value in request.query_params.getlist("ids"):
        ids.extend(item.strip().lower() for item in value.split(",") if item.strip())
    return list(dict.fromkeys(ids))


async def compare_page(request: Request) -> Response:
    registry: Registry = request.app.state.registry
    ids = compared_ids(request)
    if len(ids) < MIN_COMPARED or len(ids) > MAX_COMPARED:
        status_code = 200 if not ids else 400
        message = None if not ids else f"Pick {MIN_COMPARED} to {MAX_COMPARED} versions to compare (got {len(ids)})."
        recent = await run_in_threadpool(registry.recent, 20)
        return render(request, "compare.html", status_code=status_code, nav="compare", comparison=None,
                      error=message, recent=recent, chosen=ids, min_compared=MIN_COMPARED, max_compared=MAX_COMPARED)
    comparison = await run_in_threadpool(registry.compare, ids)
    metric_rows = [(metric, row, charts.metric_bars(row, comparison.best[metric].model_ids
                                                    if metric in comparison.best else ()))
                   for metric, row in comparison.metrics.items()]
    return render(request, "compare.html", nav="compare", comparison=comparison, metric_rows=metric_rows, error=None,
                  recent=[], chosen=ids, min_compared=MIN_COMPARED, max_compared=MAX_COMPARED)


# ---- the file -----------------------------------------------------------------------------------

async def download(request: Request, model_id: str, actor: str) -> Response:
    """The version's file for a signed-in browser (the API's download wants a key header)."""
    return await download_response(model_id, request, request.app.state.registry, request.app.state.settings, actor)
