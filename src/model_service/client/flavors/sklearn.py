"""scikit-learn estimators (and pipelines), saved with skops when it is installed, else joblib.

skops (format ``skops``, a zip archive of JSON and arrays) is preferred because loading it runs no
pickle: skops rebuilds only types it trusts (scikit-learn's estimators, numpy, builtins) and
reports every other type. Those are refused unless the caller names them:
``load(path, trusted=["mypackage.MyTransformer"])`` (see :class:`UntrustedTypes`). Beyond skops'
own list, scikit-learn's own names (``sklearn.*``, such as the compiled ``sklearn.tree._tree.Tree``
of every tree ensemble) are trusted: the file is being loaded *as* a scikit-learn model, and those
classes rebuild data, not code. Anything else (numpy functions, third-party classes) must be named.

joblib (format ``joblib``) is the fallback when skops is missing; it is a pickle, so loading one
runs whatever code its author put in it, exactly as ``joblib.load`` does. Load joblib files only
from a registry you trust; the server scans them for dangerous imports on upload and reports the
verdict with the file. Files are written uncompressed so that the server's scanner can read them.

A file recorded as ``skops`` is always read with skops: it is never unpickled, whatever its bytes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .base import Flavor, SavedModel, UntrustedTypes, has_class, json_safe

SKLEARN_OWN = "sklearn."


class SklearnFlavor(Flavor):
    name = "sklearn"
    extra = "sklearn"
    formats = ("skops", "joblib")

    def matches(self, obj: Any) -> bool:
        return has_class(obj, "sklearn", "BaseEstimator")

    def save(self, obj: Any, directory: Path) -> SavedModel:
        self._check(obj)
        try:
            import skops.io as sio
        except ImportError:
            sio = None
        if sio is not None:
            path, fmt = directory / "model.skops", "skops"
            sio.dump(obj, path)
        else:
            joblib = self._require("joblib", "Saving a scikit-learn model")
            path, fmt = directory / "model.joblib", "joblib"
            joblib.dump(obj, path)
        return SavedModel(path=path, format=fmt, algorithm=algorithm(obj), hyperparameters=hyperparameters(obj),
                          flavor=self.name)

    def load(self, path: Path, *, trusted: Iterable[str] = ()) -> Any:
        """The estimator in ``path``. For a skops file, ``trusted`` names the types (as skops
        reports them, ``module.Class``) the caller accepts beyond skops' defaults; any other
        untrusted type raises :class:`UntrustedTypes`. Without a pinned format, a zip archive is
        read as skops and anything else as joblib."""
        path = Path(path)
        fmt = self.format or ("skops" if zipfile.is_zipfile(path) else "joblib")
        if fmt == "joblib":
            self._require("sklearn", "Loading a scikit-learn model")
            return self._require("joblib", "Loading a scikit-learn model").load(path)
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path.name} is recorded as a skops file but is not one (a zip archive); "
                             "it is not read, since reading it otherwise could mean unpickling it")
        if isinstance(trusted, str):  # one name, not its characters
            trusted = [trusted]
        self._require("sklearn", "Loading a scikit-learn model")
        sio = self._require("skops.io", "Loading a skops model")
        accepted = set(trusted)
        untrusted = list(sio.get_untrusted_types(file=path))
        refused = [name for name in untrusted if name not in accepted and not name.startswith(SKLEARN_OWN)]
        if refused:
            raise UntrustedTypes(path, refused)
        return sio.load(path, trusted=untrusted or None)


def final_estimator(obj: Any) -> Any:
    """The estimator that makes a pipeline's predictions: its last step (nested pipelines
    followed); any other estimator is its own."""
    while has_class(obj, "sklearn", "Pipeline"):
        steps = getattr(obj, "steps", None) or []
        if not steps or isinstance(steps[-1][1], str) or steps[-1][1] is None:  # "passthrough"
            break
        obj = steps[-1][1]
    return obj


def algorithm(obj: Any) -> str:
    """The class name of the estimator (a pipeline's final step): ``LogisticRegression``."""
    return type(final_estimator(obj)).__name__


def hyperparameters(obj: Any) -> dict[str, Any]:
    """The estimator's own parameters (``get_params(deep=False)``), JSON-safe. For a pipeline,
    those of its final step (the one ``algorithm`` names), and ``pipeline_steps``: each step's
    ``name:Class``."""
    estimator = final_estimator(obj)
    try:
        params = dict(estimator.get_params(deep=False))
    except Exception:  # an estimator whose __init__ stores something get_params cannot read back
        params = {}
    if estimator is not obj:
        params["pipeline_steps"] = [f"{name}:{step if isinstance(step, str) or step is None else type(step).__name__}"
                                    for name, step in _steps(obj)]
    return json_safe(params)


def _steps(pipeline: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, step in getattr(pipeline, "steps", []):
        if has_class(step, "sklearn", "Pipeline"):
            out.extend((f"{name}.{inner}", item) for inner, item in _steps(step))
        else:
            out.append((name, step))
    return out
