"""PyTorch modules, as their state dict in safetensors (format ``safetensors``, ``model.safetensors``).

Only the weights are stored, never the module's code: a safetensors file holds tensors and
loading it runs nothing. So :meth:`load` returns the state dict (``{name: tensor}``), or, given
the module to fill (``load(path, model=MyNet())``), loads the weights into it, strictly by
default (a missing or unexpected key raises), and returns that module. Tied weights (one tensor
under two names) are stored once, as ``safetensors.torch.save_model`` does.

A plain state dict (a mapping of names to tensors) is accepted too; its algorithm is ``state_dict``.
The hyperparameters read from a module are the cheap, certain ones: parameter counts and dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Flavor, SavedModel, has_class


class PyTorchFlavor(Flavor):
    name = "pytorch"
    extra = "torch"
    formats = ("safetensors",)

    def matches(self, obj: Any) -> bool:
        return has_class(obj, "torch", "Module") or _is_state_dict(obj)

    def save(self, obj: Any, directory: Path) -> SavedModel:
        self._check(obj)
        self._require("torch", "Saving a PyTorch model")
        st = self._require("safetensors.torch", "Saving a PyTorch model")
        path = directory / "model.safetensors"
        if has_class(obj, "torch", "Module"):
            st.save_model(obj, str(path), metadata={"format": "pt"})
            tensors = list(obj.parameters())
            params: dict[str, Any] = {
                "num_parameters": sum(p.numel() for p in tensors),
                "trainable_parameters": sum(p.numel() for p in tensors if p.requires_grad),
            }
            algorithm = type(obj).__name__
        else:
            tensors = list(obj.values())
            st.save_file({name: tensor.contiguous() for name, tensor in obj.items()}, str(path),
                         metadata={"format": "pt"})
            params = {"num_tensors": len(tensors), "num_parameters": sum(t.numel() for t in tensors)}
            algorithm = "state_dict"
        dtypes = {str(t.dtype).removeprefix("torch.") for t in tensors}
        if len(dtypes) == 1:
            params["dtype"] = dtypes.pop()
        return SavedModel(path=path, format="safetensors", algorithm=algorithm, hyperparameters=params,
                          flavor=self.name)

    def load(self, path: Path, *, model: Any = None, strict: bool = True, device: str = "cpu") -> Any:
        """The state dict in ``path`` on ``device``; or, with ``model``, that module with the
        weights loaded (``strict``: every key must match)."""
        self._require("torch", "Loading a PyTorch model")
        st = self._require("safetensors.torch", "Loading a PyTorch model")
        if model is None:
            return st.load_file(str(path), device=device)
        if not has_class(model, "torch", "Module"):
            raise TypeError(f"model= must be a torch.nn.Module to load the weights into, not {type(model).__name__}")
        st.load_model(model, str(path), strict=strict, device=device)
        return model


def _is_state_dict(obj: Any) -> bool:
    return (isinstance(obj, Mapping) and bool(obj)
            and all(isinstance(k, str) and has_class(v, "torch", "Tensor") for k, v in obj.items()))
