"""Model flavours: how ``log_model`` turns a model object into one file, and ``load_model`` a file
back into an object.

    from model_service.client.flavors import flavor_for_object, flavor_for_format

    saved = flavor_for_object(model).save(model, directory)   # SavedModel(path, format, algorithm, …)
    model = flavor_for_format(saved.format).load(saved.path)

Flavours (objects → format → the extra that installs the library):

- ``sklearn``: scikit-learn estimators and pipelines → ``skops`` (``joblib`` without skops) → ``sklearn``
- ``xgboost``: ``Booster``, ``XGBClassifier``/``XGBRegressor``/``XGBRanker`` → ``xgboost`` (JSON; ``ubj``
  is read too) → ``xgboost``
- ``lightgbm``: ``Booster``, ``LGBMClassifier``/``LGBMRegressor``/``LGBMRanker`` → ``lightgbm`` (text) → ``lightgbm``
- ``pytorch``: ``torch.nn.Module`` and state dicts → ``safetensors`` → ``torch``
- ``onnx``: ``onnx.ModelProto`` → ``onnx`` → ``onnx``

Importing this package imports no ML library: objects are recognised by their classes' names,
and a flavour imports its library only to save or load; a missing one raises
:class:`MissingExtra`, which names the extra to install.
"""

from __future__ import annotations

from .base import Flavor, MissingExtra, SavedModel, UntrustedTypes, json_safe
from .registry import FLAVORS, flavor_for_format, flavor_for_object, flavor_named, known_formats

__all__ = [
    "FLAVORS",
    "Flavor",
    "MissingExtra",
    "SavedModel",
    "UntrustedTypes",
    "flavor_for_format",
    "flavor_for_object",
    "flavor_named",
    "json_safe",
    "known_formats",
]
