"""Which flavour handles an object, a format or a name.

The order of :data:`FLAVORS` matters for objects: the XGBoost and LightGBM scikit-learn wrappers
are scikit-learn estimators too, and must reach their own flavour (which saves them in their
library's format) before the scikit-learn one.
"""

from __future__ import annotations

from typing import Any

from .base import Flavor, qualified_name
from .lightgbm import LightGBMFlavor
from .onnx import ONNXFlavor
from .pytorch import PyTorchFlavor
from .sklearn import SklearnFlavor
from .xgboost import XGBoostFlavor

FLAVORS: tuple[Flavor, ...] = (XGBoostFlavor(), LightGBMFlavor(), PyTorchFlavor(), ONNXFlavor(), SklearnFlavor())

# Other names a caller may use for a flavour: its extra's name, the library's.
_ALIASES = {"torch": "pytorch", "scikit-learn": "sklearn", "skops": "sklearn"}


def flavor_for_object(obj: Any) -> Flavor:
    """The flavour that saves ``obj``; ``TypeError`` when none does."""
    for flavor in FLAVORS:
        if flavor.matches(obj):
            return flavor
    raise TypeError(f"No flavour saves a {qualified_name(type(obj))}: log_model takes scikit-learn estimators, "
                    "XGBoost and LightGBM boosters (or their scikit-learn wrappers), PyTorch modules or state dicts "
                    "and ONNX models. Save other objects to a file yourself and push() it.")


def flavor_for_format(fmt: str) -> Flavor:
    """The flavour that reads files of the server's format ``fmt``, pinned to that format;
    ``ValueError`` for a format no flavour reads."""
    key = str(fmt).strip().lower()
    for flavor in FLAVORS:
        if key in flavor.formats:
            return flavor.for_format(key)
    raise ValueError(f"No flavour loads the format {fmt!r} (they load {', '.join(known_formats())}): "
                     "download the file and load it yourself")


def flavor_named(name: str) -> Flavor:
    """The flavour called ``name`` (``sklearn``, ``xgboost``, ``lightgbm``, ``pytorch``, ``onnx``;
    also ``torch``, ``scikit-learn``); ``ValueError`` for another name."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    for flavor in FLAVORS:
        if flavor.name == key:
            return flavor
    raise ValueError(f"No flavour is called {name!r}: choose one of {', '.join(f.name for f in FLAVORS)}")


def known_formats() -> list[str]:
    return [fmt for flavor in FLAVORS for fmt in flavor.formats]
