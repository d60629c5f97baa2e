"""``ModelServiceClient``: every operation of the HTTP API as a method."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from . import artifacts
from .downloads import download_file
from .errors import error_from_response, unexpected_answer
from .pager import Pager
from .refs import API, ModelRef, model_path, name_path
from .retry import RetryPolicy
from .session import Session, read_json
from .uploads import Progress, Source, checksum_for, file_source, multipart_body, raw_body

DEFAULT_URL = "http://127.0.0.1:8084"
DEFAULT_CACHE = "~/.cache/tensorfleet/models"
PAGE_SIZE = 100  # the server caps it at its MAX_PAGE_SIZE (and says so in pagination.limit)

Ref = str | ModelRef


class ModelServiceClient:
    """A client of one TensorFleet Model Service.

    ``base_url`` defaults to ``$MODEL_SERVICE_URL``, else ``http://127.0.0.1:8084``; ``api_key``
    to ``$MODEL_SERVICE_API_KEY`` (sent as ``X-API-Key``). ``timeout`` is in seconds, per
    network operation (a download may take longer as long as bytes keep coming). ``retries`` and
    ``backoff`` set the retry policy (:mod:`model_service.client.retry`); ``sleep`` replaces
    ``time.sleep`` in it. ``transport`` replaces the network (an ``httpx.BaseTransport``; see
    :mod:`model_service.client.testing`). ``cache_dir`` is where :meth:`load_model` keeps files
    (``$MODEL_SERVICE_CACHE``, else ``~/.cache/tensorfleet/models``). ``headers`` are sent with
    every request (``{"X-Actor": "jane"}`` names who acts when the server has no API keys).

    Models are referred to as a version's id, ``name`` (its latest version), ``name@alias``,
    ``name/v1.2`` or ``name/latest`` (:class:`ModelRef`). Errors raise
    :class:`ModelServiceError` subclasses.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None,
                 timeout: float | httpx.Timeout | None = 30.0, *, retries: int = 4, backoff: float = 0.5,
                 transport: httpx.BaseTransport | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 headers: Mapping[str, str] | None = None, sleep: Callable[[float], None] | None = None):
        base_url = base_url or os.environ.get("MODEL_SERVICE_URL") or DEFAULT_URL
        if api_key is None:
            api_key = os.environ.get("MODEL_SERVICE_API_KEY") or None
        policy = RetryPolicy(retries=retries, backoff=backoff, sleep=sleep or time.sleep)
        self._session = Session(base_url, api_key=api_key, timeout=timeout, policy=policy, transport=transport,
                                headers=headers)
        self.cache_dir = Path(cache_dir or os.environ.get("MODEL_SERVICE_CACHE") or DEFAULT_CACHE).expanduser()

    @property
    def base_url(self) -> str:
        return self._session.base_url

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ModelServiceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ModelServiceClient({self.base_url!r})"

    # ---- the seed's three ------------------------------------------------------------------

    def register_model(self, model_data: dict[str, Any]) -> str:
        """Register a model (an existing name gets its next version); its new version's id."""
        return self._session.member("POST", f"{API}/models", "model_id", str, json=model_data)

    def download_model(self, model_id: str, output_path: str | os.PathLike[str]) -> Path:
        """Download a version's file to ``output_path``: streamed, resumed, verified."""
        return self.download(model_id, output_path)

    def search_models(self, **filters: Any) -> list[dict[str, Any]]:
        """Every version matching the filters (all pages); see :meth:`search`."""
        return list(self.search(**filters))

    # ---- records ---------------------------------------------------------------------------

    def get_model(self, ref: Ref) -> dict[str, Any]:
        """One version's record."""
        return self._session.json("GET", ModelRef.parse(ref).path)

    def list_models(self, **filters: Any) -> Pager[dict[str, Any]]:
        """Versions, newest first unless ``sort`` says otherwise, walked lazily over every page.

        Filters are the server's: ``name``, ``algorithm``, ``status``, ``tags`` / ``tags_all`` (a
        list, or a comma list), ``q``, ``min_accuracy``, ``created_by``, ``created_after`` /
        ``created_before`` (dates, datetimes or ISO text), ``filter`` (an expression such as
        ``"metrics.f1_score >= 0.9"``) and ``sort`` (``"-metrics.f1_score,name"``). ``limit`` stops
        after that many versions, ``page_size`` sets how many come per request, ``page`` where to
        start."""
        return self._pager(f"{API}/models", filters)

    def search(self, **filters: Any) -> Pager[dict[str, Any]]:
        """``GET /api/v1/models/search``: the same filters as :meth:`list_models`."""
        return self._pager(f"{API}/models/search", filters)

    def versions(self, name: str) -> dict[str, Any]:
        """Every version of a name (newest first) and its aliases: ``{"name", "versions", "aliases"}``."""
        aliases: dict[str, Any] = {}

        def remember(page: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            body = self._session.json("GET", name_path(name), params={"page": page, "limit": PAGE_SIZE})
            aliases.update(body.get("aliases") or {})
            return body["versions"], body["pagination"]

        found = list(Pager(remember))
        return {"name": name, "versions": found, "aliases": aliases}

    def update_model(self, ref: Ref, **fields: Any) -> dict[str, Any]:
        """Change mutable fields (``description``, ``tags``, ``status``, ``metrics``); the new record."""
        return self._session.member("PUT", model_path(self._id(ref)), "model", dict, json=fields)

    def set_status(self, ref: Ref, status: str) -> dict[str, Any]:
        """``active``, ``deprecated`` or ``archived``; the new record."""
        return self.update_model(ref, status=status)

    def delete_model(self, ref: Ref) -> dict[str, Any]:
        """Delete a version (its file goes with its last reference): ``{"success", "message", "deleted_id"}``."""
        return self._session.json("DELETE", model_path(self._id(ref)))

    def create_version(self, ref: Ref, **changes: Any) -> dict[str, Any]:
        """A new version of the same name, derived from ``ref``: fields not given are copied (not the
        file). ``breaking_changes=True`` starts a new major version. The new record."""
        return self._session.member("POST", model_path(self._id(ref), "/versions"), "model", dict, json=changes)

    def history(self, ref: Ref) -> list[dict[str, Any]]:
        """Events: of one version (an id, ``name@alias``, ``name/v1.2``), or of every
        version of a name and its aliases (a bare name)."""
        if isinstance(ref, str) and "@" not in ref and "/" not in ref and ModelRef.parse(ref).id is None:
            return self._session.member("GET", f"{name_path(ref.strip())}/history", "events", list)
        return self._session.member("GET", model_path(self._id(ref), "/history"), "events", list)

    # ---- files -----------------------------------------------------------------------------

    def upload(self, ref: Ref, source: Source, *, filename: str | None = None, format: str | None = None,
               checksum: bool | str = True, progress: Progress | None = None) -> dict[str, Any]:
        """Upload a version's file (once: files are immutable) from a path or a binary file object,
        streamed. With ``checksum=True`` the file is hashed first when it can be read twice, and
        the server refuses bytes that arrive altered; a ``"sha256:…"`` string is sent as given.
        ``progress(done, total)`` follows the bytes. Returns the server's answer (``file_metadata``
        has the checksum, size and scan verdict)."""
        model_id = self._id(ref)
        file = file_source(source, filename)
        body = raw_body(file, checksum=checksum_for(file, checksum), progress=progress)
        return self._session.json("POST", model_path(model_id, "/upload"), body=body,
                                  params={"filename": file.filename, "format": format})

    def push(self, source: Source, *, filename: str | None = None, checksum: bool | str = True,
             progress: Progress | None = None, **metadata: Any) -> dict[str, Any]:
        """Register a model and upload its file in one request (nothing is kept if either fails):
        ``metadata`` are the registration's fields (``algorithm`` is required; ``name``, ``metrics``,
        ``hyperparameters``, ``tags``, ``format``, …). The new record."""
        file = file_source(source, filename)
        body = multipart_body(metadata, file, checksum=checksum_for(file, checksum), progress=progress)
        return self._session.member("POST", f"{API}/models", "model", dict, body=body)

    def download(self, ref: Ref, output_path: str | os.PathLike[str] | None = None, *,
                 progress: Progress | None = None, overwrite: bool = True) -> Path:
        """Download a version's file: into ``output_path`` (a file path, or a folder where the
        server's filename ``<name><extension>`` is used; default the current folder). Streamed
        into a temporary file, resumed if the connection breaks, verified against the server's
        sha256, and only then moved into place. Returns the file's path."""
        return download_file(self._session, ModelRef.parse(ref).download_path, output_path, progress=progress,
                             overwrite=overwrite)

    def info(self, ref: Ref) -> dict[str, Any]:
        """A version's file metadata, without downloading it."""
        return self._session.json("GET", model_path(self._id(ref), "/info"))

    # ---- names and aliases -----------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: str, *, expected_version: str | None = None,
                  only_if_unset: bool = False) -> dict[str, Any]:
        """Point ``name@alias`` at ``version`` (``v1.2``, or a version's id). With
        ``expected_version`` the move happens only if the alias is still there, with
        ``only_if_unset`` only if it is not set yet (a compare-and-swap: else :class:`Conflict`)."""
        if expected_version is not None and only_if_unset:
            raise ValueError("Give expected_version or only_if_unset, not both")
        target = ModelRef.parse(version) if _is_id(version) else None
        body: dict[str, Any] = {"model_id": target.id} if target else {"version": version}
        if expected_version is not None:
            body["expected_version"] = expected_version
        elif only_if_unset:
            body["expected_version"] = None
        return self._session.json("PUT", _alias_path(name, alias), json=body)

    def delete_alias(self, name: str, alias: str, *, expected_version: str | None = None) -> dict[str, Any]:
        """Remove ``name@alias`` (only if it points at ``expected_version``, when given)."""
        return self._session.json("DELETE", _alias_path(name, alias), params={"expected_version": expected_version})

    def aliases(self, name: str) -> dict[str, Any]:
        """``{"name", "aliases": [{"alias", "version", "model_id", …}]}``."""
        return self._session.json("GET", f"{name_path(name)}/aliases")

    # ---- discovery -------------------------------------------------------------------------

    def compare(self, refs: Iterable[Ref]) -> dict[str, Any]:
        """2 to 10 versions side by side: metrics, hyperparameters, differences, the best per metric."""
        ids = [self._id(ref) for ref in refs]
        return self._session.json("GET", f"{API}/models/compare", params={"ids": ",".join(ids)})

    def statistics(self) -> dict[str, Any]:
        """``GET /api/v1/models/statistics``: totals, algorithms, statuses, storage, recent activity."""
        return self._session.json("GET", f"{API}/models/statistics")

    def platform_statistics(self) -> dict[str, Any]:
        """``GET /api/v1/statistics``: the seed's second statistics shape."""
        return self._session.json("GET", f"{API}/statistics")

    def popular(self, limit: int | None = None, days: int | None = None) -> list[dict[str, Any]]:
        """The most downloaded versions (each with ``downloads``), all time or over the last ``days``."""
        return self._session.member("GET", f"{API}/models/popular", "models", list,
                                    params={"limit": limit, "days": days})

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The most recently registered versions."""
        return self._session.member("GET", f"{API}/models/recent", "models", list, params={"limit": limit})

    # ---- service ---------------------------------------------------------------------------

    def health(self, detailed: bool = False) -> dict[str, Any]:
        """Liveness, or (``detailed``) every backend's check. An unhealthy service's report is
        returned, not raised (``status`` says ``unhealthy`` and ``issues`` names the checks)."""
        if not detailed:
            return self._session.json("GET", "/health")
        response = self._session.send("GET", "/health/detailed", accept=frozenset({503}))
        body = read_json(response) if response.status_code == 200 or _is_json(response) else None
        if not isinstance(body, dict) or "checks" not in body:
            raise error_from_response(response)
        return body

    def whoami(self) -> dict[str, Any]:
        """Who the requests act as, with which scopes (and whether the server checks keys)."""
        return self._session.json("GET", f"{API}/whoami")

    # ---- model objects ---------------------------------------------------------------------

    def log_model(self, obj: Any, name: str | None = None, *, metrics: dict[str, float] | None = None,
                  hyperparameters: dict[str, Any] | None = None, tags: list[str] | None = None,
                  description: str | None = None, flavor: str | None = None, **metadata: Any) -> dict[str, Any]:
        """Serialise a trained model with its flavour (scikit-learn, XGBoost, LightGBM, PyTorch,
        ONNX) and register it with its file in one request. The flavour's own hyperparameters
        are merged under the caller's. Returns the new record."""
        return artifacts.log_model(self, obj, name, metrics=metrics, hyperparameters=hyperparameters, tags=tags,
                                   description=description, flavor=flavor, **metadata)

    def load_model(self, ref: Ref, *, flavor: str | None = None, **options: Any) -> Any:
        """The model object of a version: its file is downloaded into ``cache_dir`` once per
        content (by sha256) and loaded with the flavour of its format (or the one named);
        ``options`` go to the flavour's loader (``trusted=[...]`` for a skops file)."""
        return artifacts.load_model(self, ref, flavor=flavor, **options)

    # ---- helpers ---------------------------------------------------------------------------

    def _id(self, ref: Ref) -> str:
        """The version id a reference stands for (one request for a name)."""
        parsed = ModelRef.parse(ref)
        if parsed.id is not None:
            return parsed.id
        return self._session.member("GET", parsed.path, "id", str)

    def _page(self, path: str, key: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        response = self._session.send("GET", path, params=params)
        body = read_json(response)
        if not isinstance(body, dict) or key not in body or "pagination" not in body:
            raise unexpected_answer(response, f"no '{key}' and 'pagination'")
        return body[key], body["pagination"]

    def _pager(self, path: str, filters: dict[str, Any]) -> Pager[dict[str, Any]]:
        filters = dict(filters)
        start = int(filters.pop("page", None) or 1)
        limit = filters.pop("limit", None)
        page_size = int(filters.pop("page_size", None) or PAGE_SIZE)
        if limit is not None:
            page_size = max(1, min(page_size, int(limit)))
        params = {key: _query_value(value) for key, value in filters.items()}
        return Pager(lambda page: self._page(path, "models", {**params, "page": page, "limit": page_size}),
                     start=start, limit=None if limit is None else int(limit))


def _query_value(value: Any) -> Any:
    """A filter as the query string takes it: lists comma-joined, times in ISO 8601, booleans lowercase."""
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _alias_path(name: str, alias: str) -> str:
    return f"{name_path(name)}/aliases/{quote(alias, safe='')}"


def _is_id(text: str) -> bool:
    try:
        return ModelRef.parse(text).id is not None
    except ValueError:
        return False


def _is_json(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip() == "application/json"
