"""What every flavour shares: the :class:`Flavor` contract, :class:`SavedModel`, the errors, and the
helpers that read objects without importing their libraries and make hyperparameters JSON-safe.

Nothing here imports an ML library. A flavour recognises its objects by the names of their classes
(:func:`has_class`): an object of a library that is not imported cannot exist, so looking at names
answers the question without paying for (or requiring) the import. The library is imported only
when a flavour saves or loads, through :func:`require`, which turns a missing one into
:class:`MissingExtra`.
"""

from __future__ import annotations

import importlib
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

DISTRIBUTION = "tensorfleet-model-service"


class MissingExtra(ImportError):
    """A flavour's library is not installed. ``extra`` names the optional dependency group that
    brings it: ``pip install 'tensorfleet-model-service[<extra>]'``."""

    def __init__(self, extra: str, module: str, purpose: str | None = None, hint: str | None = None):
        self.extra = extra
        self.install = f"pip install '{DISTRIBUTION}[{extra}]'"
        message = (f"{purpose or 'This'} needs the '{extra}' extra: {self.install} "
                   f"(the module '{module}' could not be imported)")
        if hint:
            message += f"; {hint}"
        super().__init__(message, name=module)


class UntrustedTypes(ValueError):
    """A skops file holds types that skops does not trust by default (``types``). Loading it could
    run their code, so it is refused until the caller names them in ``trusted=``."""

    def __init__(self, path: Path, types: list[str]):
        self.path = path
        self.types = types
        super().__init__(f"{path.name} holds types that are not trusted by default: {', '.join(types)}. "
                         f"Check where the file comes from, then pass trusted=[...] naming them to load it")


@dataclass(frozen=True)
class SavedModel:
    """A model serialised to one file, and what the registry should record about it."""

    path: Path
    format: str  # the server's format name (model_service.domain.formats)
    algorithm: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    flavor: str = ""


class Flavor(ABC):
    """Saves the objects of one library to one file, and loads them back.

    A flavour is built with the format its :meth:`load` must read (``flavor_for_format`` does
    that, from the version's recorded format) or none: then it reads what the file holds. Pinning
    matters where formats differ in safety (scikit-learn: a file recorded as skops is never
    unpickled).
    """

    name: str  # "sklearn"
    extra: str  # the optional-dependency group that installs the library
    formats: tuple[str, ...]  # the formats it reads; the first is the one it writes

    def __init__(self, format: str | None = None):
        if format is not None and format not in self.formats:
            raise ValueError(f"The {self.name} flavour reads {', '.join(self.formats)}, not {format!r}")
        self.format = format

    def for_format(self, format: str) -> Flavor:
        """This flavour, reading files of ``format`` only."""
        return type(self)(format)

    @abstractmethod
    def matches(self, obj: Any) -> bool:
        """Whether ``obj`` is one of this flavour's objects (decided without importing anything)."""

    @abstractmethod
    def save(self, obj: Any, directory: Path) -> SavedModel:
        """Write ``obj`` to one file in ``directory`` (which exists)."""

    @abstractmethod
    def load(self, path: Path) -> Any:
        """The object in the file at ``path``.

        A flavour may take options of its own after ``path``, keyword-only and with defaults
        (scikit-learn's ``trusted=``, PyTorch's ``model=``): ``load(path)`` works with every
        flavour, and an option a flavour does not have is a ``TypeError``, as for any call."""

    def _check(self, obj: Any) -> None:
        if not self.matches(obj):
            raise TypeError(f"The {self.name} flavour cannot save a {qualified_name(type(obj))}")

    def _require(self, module: str, purpose: str, hint: str | None = None) -> ModuleType:
        return require(module, self.extra, purpose, hint)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{f' ({self.format})' if self.format else ''}>"


def require(module: str, extra: str, purpose: str | None = None, hint: str | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(extra, module, purpose, hint) from error


def has_class(obj: Any, library: str, *names: str) -> bool:
    """Whether one of the classes of ``obj`` (its type and their bases) is named one of ``names``
    and defined in the package ``library``. Only names are compared: nothing is imported, and a
    library reorganising its private modules (``onnx.onnx_ml_pb2``) does not break detection."""
    return any(cls.__name__ in names and cls.__module__.partition(".")[0] == library for cls in type(obj).__mro__)


def qualified_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", None) or repr(cls)
    return name if module in (None, "builtins") else f"{module}.{name}"


# ---- JSON-safe hyperparameters -------------------------------------------------------------------------

# What the server takes in hyperparameters (model_service.domain.models): finite numbers, no NUL, keys of
# 1-128 characters without quotes, backslashes or control characters, paths of at most 256 characters,
# at most 1024 keys and 32 levels. The values read from a model object are kept well inside that.
MAX_DEPTH = 4
MAX_KEY = 60
MAX_KEYS = 512
MAX_TEXT = 1000
MAX_LIST = 100
_INT64 = 2**63
_UNSAFE_KEY = re.compile(r'["\\\x00-\x1f\x7f]')
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def json_safe(params: Mapping[str, Any], *, drop_none: bool = False) -> dict[str, Any]:
    """``params`` as the server stores them: JSON types only, every other value turned into text.

    NaN and infinities become ``"nan"``, ``"inf"``, ``"-inf"``; integers beyond 64 bits, text;
    numpy scalars, their Python value; short arrays, lists (longer ones a summary); estimators and
    other objects, their ``repr`` (without memory addresses); functions and classes, their dotted
    name; NUL characters are dropped, long text is cut. Keys lose the characters the server
    refuses; nesting deeper than a few levels is kept as text. ``drop_none`` leaves out ``None``
    values (for libraries where None only means "the default").
    """
    budget = [MAX_KEYS]
    return _mapping(params, 0, budget, drop_none)


def _mapping(value: Mapping[Any, Any], depth: int, budget: list[int], drop_none: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if budget[0] <= 0:
            break
        if drop_none and item is None:
            continue
        name = _UNSAFE_KEY.sub("_", str(key))[:MAX_KEY] or "_"
        budget[0] -= 1
        out[name] = _value(item, depth + 1, budget, drop_none)
    return out


def _value(value: Any, depth: int, budget: list[int], drop_none: bool) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # "nan", "inf", "-inf"
    if isinstance(value, str):
        return _text(value)
    if type(value).__module__.partition(".")[0] == "numpy" and hasattr(value, "dtype") and hasattr(value, "tolist"):
        if getattr(value, "size", MAX_LIST + 1) <= MAX_LIST:  # scalars (size 1) and short arrays
            return _value(value.tolist(), depth, budget, drop_none)
        return _text(f"{type(value).__name__}(shape={getattr(value, 'shape', '?')}, dtype={value.dtype})")
    if depth < MAX_DEPTH:
        if isinstance(value, Mapping):
            return _mapping(value, depth, budget, drop_none)
        if isinstance(value, (list, tuple)) and len(value) <= MAX_LIST:
            return [_value(item, depth + 1, budget, drop_none) for item in value]
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if (isinstance(value, type) or callable(value)) and isinstance(name, str):  # functions, classes, ufuncs
        return _text(f"{getattr(value, '__module__', None) or ''}.{name}".lstrip("."))
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not stop the model from being logged
        text = qualified_name(type(value))
    return _text(_ADDRESS.sub("", text))


def _text(value: str) -> str:
    value = value.replace("\x00", "")
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"

