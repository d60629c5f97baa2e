"""Model files for the scanning tests, built here byte by byte or with pickle's own writer.

Nothing in the tests ever loads one of them: a malicious pickle is only written (``pickle.dumps``
of an object whose ``__reduce__`` names ``os.system`` calls nothing) and then scanned.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile


class RunsCommand:
    """Pickles as ``os.system("echo pwned")``: what a malicious model file does."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Evaluates:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def unicode(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def global_op(module: str, name: str) -> bytes:
    """GLOBAL (protocols 0-3)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def malicious_pickle(protocol: int = 4) -> bytes:
    """A state dict with a payload in it: loading it would run ``os.system``."""
    return pickle.dumps({"weights": [0.5, 1.5], "payload": RunsCommand()}, protocol=protocol)


def os_system_protocol0() -> bytes:
    """The classic: ``cos\\nsystem\\n(S'…'\\ntR.``."""
    return b"cos\nsystem\n(S'echo pwned'\ntR."


def eval_by_stack_global() -> bytes:
    """``builtins.eval`` named through memoized strings (STACK_GLOBAL reads them back with BINGET)."""
    return (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00" + unicode("builtins") + b"\x940" + unicode("eval")
            + b"\x940" + b"h\x00h\x01\x93" + unicode("1+1") + b"\x85R.")


def benign_pickle(protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
    """Data only (no bytes below protocol 3, which pickles them as a call to ``_codecs.encode``)."""
    value = {"weights": [0.25, -1.0, 3.5], "classes": ("cat", "dog"), "meta": {"epochs": 3, "ok": True}}
    if protocol >= 3:
        value["blob"] = b"\x00\x01" * 10
    return pickle.dumps(value, protocol=protocol)


# ---- PyTorch ------------------------------------------------------------------------------------------

def torch_data_pkl(extra: bytes = b"") -> bytes:
    """What ``torch.save({"weight": tensor})`` writes to ``data.pkl`` (protocol 2): an OrderedDict
    of tensors rebuilt by ``torch._utils._rebuild_tensor_v2`` from persistent storages; ``extra``
    is spliced in as one more value (under the key ``"extra"``)."""
    storage = (b"((" + b"X\x07\x00\x00\x00storage" + global_op("torch", "FloatStorage") + b"X\x01\x00\x00\x000"
               + b"X\x03\x00\x00\x00cpu" + b"K\x04tQ")
    tensor = (global_op("torch._utils", "_rebuild_tensor_v2") + storage + b"K\x00K\x04\x85K\x01\x85\x89"
              + global_op("collections", "OrderedDict") + b")Rtq\x01R")
    items = b"X\x06\x00\x00\x00weight" + tensor
    if extra:
        items += b"X\x05\x00\x00\x00extra" + extra
    return b"\x80\x02" + global_op("collections", "OrderedDict") + b")Rq\x00(" + items + b"u."


def torch_zip(data_pkl: bytes, *, prefix: str = "archive") -> bytes:
    """A PyTorch zip archive (torch.save since 1.6) around ``data_pkl``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", data_pkl)
        archive.writestr(f"{prefix}/byteorder", "little")
        archive.writestr(f"{prefix}/data/0", struct.pack("<4f", 1, 2, 3, 4))
        archive.writestr(f"{prefix}/version", "3\n")
        archive.writestr(f"{prefix}/.data/serialization_id", "1234567890")
    return buffer.getvalue()


def legacy_torch(data_pkl: bytes | None = None) -> bytes:
    """torch.save's format before 1.6: magic number, protocol, system info, the data and the
    storage keys, five pickles, then the storages' raw bytes."""
    pickles = [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                               "type_sizes": {"short": 2, "int": 4, "long": 4}}]
    head = b"".join(pickle.dumps(value, protocol=2) for value in pickles)
    keys = pickle.dumps(["0"], protocol=2)
    storage = struct.pack("<q", 4) + struct.pack("<4f", 1, 2, 3, 4)
    return head + (data_pkl or torch_data_pkl()) + keys + storage


# ---- formats that run no code -----------------------------------------------------------------------------

def safetensors_file() -> bytes:
    header = json.dumps({"weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + struct.pack("<2f", 1.0, 2.0)


def onnx_file() -> bytes:
    """The start of an ONNX ModelProto: ir_version 8, producer "pytorch", then a graph field."""
    return b"\x08\x08\x12\x07pytorch\x1a\x032.1:\x10\n\x0e\n\x01x\x12\x01y\"\x04Relu"
