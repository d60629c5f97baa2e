"""ONNX models (``onnx.ModelProto``), as one ``.onnx`` file (format ``onnx``).

:meth:`load` returns the ``ModelProto``; run it with onnxruntime
(``onnxruntime.InferenceSession(model.SerializeToString())``). A version is one file, so a model
whose tensors live in external data files is refused on save: load it with its external data
first (``onnx.load(path, load_external_data=True)``); protobuf caps one file at 2 GB.

The algorithm recorded is the graph's name (exporters often name it after the model), else
``onnx``; the hyperparameters are what the file says about itself: IR version, opset, producer,
node and parameter counts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .base import Flavor, SavedModel, has_class, json_safe


class ONNXFlavor(Flavor):
    name = "onnx"
    extra = "onnx"
    formats = ("onnx",)

    def matches(self, obj: Any) -> bool:
        return has_class(obj, "onnx", "ModelProto")

    def save(self, obj: Any, directory: Path) -> SavedModel:
        self._check(obj)
        onnx = self._require("onnx", "Saving an ONNX model")
        external = self._require("onnx.external_data_helper", "Saving an ONNX model")
        if any(external.uses_external_data(t) for t in obj.graph.initializer):
            raise ValueError("The ONNX model keeps tensors in external data files, and a version is one file: "
                             "load it with load_external_data=True before logging it")
        path = directory / "model.onnx"
        onnx.save_model(obj, str(path))
        return SavedModel(path=path, format="onnx", algorithm=obj.graph.name or "onnx",
                          hyperparameters=describe(obj), flavor=self.name)

    def load(self, path: Path) -> Any:
        onnx = self._require("onnx", "Loading an ONNX model")
        return onnx.load_model(str(path))


def describe(model: Any) -> dict[str, Any]:
    """What an ONNX file says about itself."""
    params: dict[str, Any] = {"ir_version": model.ir_version,
                              "nodes": len(model.graph.node),
                              "parameters": sum(math.prod(t.dims) for t in model.graph.initializer)}
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            params["opset"] = opset.version
    others = [f"{o.domain}={o.version}" for o in model.opset_import if o.domain not in ("", "ai.onnx")]
    if others:
        params["opsets"] = others
    if model.producer_name:
        params["producer"] = f"{model.producer_name} {model.producer_version}".strip()
    return json_safe(params)
