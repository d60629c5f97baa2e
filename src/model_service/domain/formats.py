"""Model file formats: the file extension each one downloads with, and the format an upload's
filename implies when the client names none."""

from __future__ import annotations

import re

EXTENSIONS: dict[str, str] = {
    "pickle": ".pkl",
    "joblib": ".joblib",
    "cloudpickle": ".pkl",
    "skops": ".skops",
    "pytorch": ".pt",
    "torchscript": ".pt",
    "safetensors": ".safetensors",
    "onnx": ".onnx",
    "keras": ".keras",
    "h5": ".h5",
    "hdf5": ".h5",
    "tensorflow": ".zip",
    "savedmodel": ".zip",
    "xgboost": ".json",
    "ubj": ".ubj",
    "lightgbm": ".txt",
    "catboost": ".cbm",
    "pmml": ".pmml",
    "gguf": ".gguf",
    "json": ".json",
    "zip": ".zip",
    "tar": ".tar",
    "tar.gz": ".tar.gz",
    "binary": ".bin",
}

# Extension → format, for uploads that name no format. Ambiguous extensions take the most
# common reading (``.json`` is plain JSON, ``.bin`` a PyTorch file as the Hub ships them).
_BY_EXTENSION: dict[str, str] = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".skops": "skops",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".bin": "pytorch",
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    ".keras": "keras",
    ".h5": "h5",
    ".hdf5": "h5",
    ".ubj": "ubj",
    ".cbm": "catboost",
    ".pmml": "pmml",
    ".gguf": "gguf",
    ".json": "json",
    ".zip": "zip",
    ".tar": "tar",
    ".tar.gz": "tar.gz",
    ".tgz": "tar.gz",
}

_FORMAT = re.compile(r"[a-z0-9][a-z0-9_.+-]{0,31}")


def normalize_format(value: str) -> str:
    """Formats are lowercase words (``pickle``, ``onnx``); anything else is not a format name."""
    from .errors import Invalid

    text = value.strip().lower() if isinstance(value, str) else ""
    if not _FORMAT.fullmatch(text):
        raise Invalid(f"'{value}' is not a valid format name", code="invalid_format",
                      details={"format": str(value)[:50]})
    return text


def extension_for(fmt: str | None) -> str:
    if not fmt:
        return ".bin"
    return EXTENSIONS.get(fmt, "." + fmt if re.fullmatch(r"[a-z0-9]{1,10}", fmt) else ".bin")


def format_from_filename(filename: str | None) -> str | None:
    if not filename:
        return None
    lower = filename.lower()
    for ext in sorted(_BY_EXTENSION, key=len, reverse=True):
        if lower.endswith(ext):
            return _BY_EXTENSION[ext]
    return None
