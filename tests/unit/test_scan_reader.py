"""The static pickle reader (``scanner/pickles.py``) and the scanner process's file handling
(``scanner/child.py``), in process: they only read bytes, so no file here is ever loaded."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle
import pickletools
import zipfile
import zlib

import joblib
import numpy as np
import pytest

from model_service.scanner import child
from model_service.scanner import pickles as pickles_module
from model_service.scanner.pickles import BIG, UNKNOWN_GLOBAL, read_stream
from tests import scanfiles

SYSTEM_MODULE = os.system.__module__  # posix

def found(data: bytes, **options) -> list[tuple[str, str]]:
    reading = read_stream(io.BytesIO(data), **options)
    assert reading.error is None, reading.error
    return list(reading.found)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_reduce_to_os_system_is_found_in_every_protocol(protocol):
    assert found(scanfiles.malicious_pickle(protocol)) == [(SYSTEM_MODULE, "system")]


def test_the_global_opcode_of_protocol_0_is_read():
    assert found(scanfiles.os_system_protocol0()) == [("os", "system")]


def test_the_inst_opcode_of_protocol_0_is_read_to_its_end():
    # MARK, a string argument, INST os system, then a tuple of the instance and STOP: the object
    # INST makes goes on the stack the mark had set aside (where TUPLE1 finds it)
    data = b"(S'echo'\nios\nsystem\n\x85."
    reading = read_stream(io.BytesIO(data))
    assert (reading.error, reading.pickles) == (None, 1)
    assert list(reading.found) == [("os", "system")]


def test_every_opcode_of_pickletools_has_a_handler_of_its_kind():
    handled = {"STOP"} | set(pickles_module._WITHOUT_ARGUMENT) | set(pickles_module._WITH_ARGUMENT)
    assert handled == {op.name for op in pickletools.opcodes}
    takes_argument = {op.name for op in pickletools.opcodes if op.arg is not None}
    assert set(pickles_module._WITH_ARGUMENT) == takes_argument


def test_stack_global_is_resolved_through_the_memo():
    assert found(scanfiles.eval_by_stack_global()) == [("builtins", "eval")]


def test_a_stack_global_whose_name_is_computed_is_an_unknown_import():
    # module = str(b'os') computed by a call, then STACK_GLOBAL on it: the name is no plain string
    computed = (b"\x80\x04" + scanfiles.global_op("builtins", "str") + scanfiles.unicode("os") + b"\x85R"
                + scanfiles.unicode("system") + b"\x93)R.")
    assert found(computed) == [("builtins", "str"), UNKNOWN_GLOBAL]


def test_a_plain_pickle_of_data_imports_nothing():
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert found(scanfiles.benign_pickle(protocol)) == []


def test_a_truncated_pickle_is_unreadable_and_keeps_what_it_found():
    data = scanfiles.malicious_pickle()
    reading = read_stream(io.BytesIO(data[:-3]))
    assert reading.error and "ends early" in reading.error
    assert list(reading.found) == [(SYSTEM_MODULE, "system")]


@pytest.mark.parametrize("data", [b"", b"not a pickle at all", b"\x80\x04\x95", bytes(range(256))])
def test_what_is_not_a_pickle_is_unreadable(data):
    assert read_stream(io.BytesIO(data)).error


def test_a_pickle_followed_by_garbage_is_unreadable():
    assert read_stream(io.BytesIO(scanfiles.benign_pickle() + b"\x00garbage")).error


def test_several_pickles_in_a_row_are_all_read():
    data = scanfiles.benign_pickle() + scanfiles.malicious_pickle()
    reading = read_stream(io.BytesIO(data))
    assert reading.error is None and reading.pickles == 2
    assert list(reading.found) == [(SYSTEM_MODULE, "system")]


def test_large_payloads_are_stepped_over_not_read():
    payload = b"\x01" * (BIG * 8)
    data = pickle.dumps({"array": payload, "text": "x" * (BIG * 2), "then": scanfiles.RunsCommand()}, protocol=5)
    assert found(data) == [(SYSTEM_MODULE, "system")]
    truncated = read_stream(io.BytesIO(data[: len(data) // 2]))
    assert truncated.error


# ---- joblib -------------------------------------------------------------------------------------------

def joblib_bytes(value, tmp_path, **options) -> bytes:
    path = tmp_path / "model.joblib"
    joblib.dump(value, path, **options)
    return path.read_bytes()


def test_joblib_arrays_are_stepped_over_and_what_follows_them_is_read(tmp_path):
    value = {"coef": np.arange(1000, dtype="float64"), "labels": np.array(["ab", "c"]),
             "matrix": np.ones((3, 4), dtype="int32"), "objects": np.array([1, "x", None], dtype=object),
             "after": scanfiles.Evaluates()}
    imports = found(joblib_bytes(value, tmp_path))
    assert ("builtins", "eval") in imports
    assert ("joblib.numpy_pickle", "NumpyArrayWrapper") in imports


def test_a_benign_joblib_file_reads_to_its_end(tmp_path):
    data = joblib_bytes({"coef": np.linspace(0, 1, 5000), "bias": np.float64(0.5), "name": "m"}, tmp_path)
    assert set(found(data)) <= {("joblib.numpy_pickle", "NumpyArrayWrapper"), ("numpy", "ndarray"),
                                ("numpy", "dtype"), ("numpy._core.multiarray", "scalar"),
                                ("numpy.core.multiarray", "scalar")}


def joblib_array_file(array_bytes: bytes) -> bytes:
    """A joblib file as joblib before 1.2 wrote it (no alignment padding): a NumpyArrayWrapper
    for a uint8 array of ``array_bytes``, which follow its BUILD raw."""
    text = lambda value: b"X" + len(value).to_bytes(4, "little") + value.encode()  # noqa: E731
    dtype = (scanfiles.global_op("numpy", "dtype") + text("u1") + b"\x89\x88\x87R"
             + b"(K\x03" + text("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    state = (b"}(" + text("subclass") + scanfiles.global_op("numpy", "ndarray") + text("shape")
             + b"K" + bytes([len(array_bytes)]) + b"\x85" + text("order") + text("C") + text("dtype") + dtype
             + text("allow_mmap") + b"\x88u")
    wrapper = scanfiles.global_op("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"
    return b"\x80\x02" + wrapper + array_bytes + b"."


def test_bytes_that_pickle_load_would_read_as_opcodes_are_read_that_way_too():
    """The array bytes after a joblib wrapper are data to joblib.load, opcodes to pickle.load."""
    honest = joblib_array_file(bytes(range(1, 22)))
    assert found(honest) == [("joblib.numpy_pickle", "NumpyArrayWrapper"), ("numpy", "ndarray"),
                             ("numpy", "dtype")]
    two_faced = joblib_array_file(b"0" + scanfiles.global_op("os", "system") + b"(S'x'\ntR")
    assert ("os", "system") in found(two_faced)


@pytest.mark.parametrize("compress", [zlib.compress, gzip.compress, bz2.compress, lzma.compress])
def test_a_compressed_file_is_read_both_ways_too(tmp_path, compress):
    path = tmp_path / "model.joblib"
    path.write_bytes(compress(joblib_array_file(b"0" + scanfiles.global_op("os", "system") + b"(S'x'\ntR")))
    reading = child.read_file(str(path), "pickle")
    assert reading.error is None
    assert ("os", "system") in reading.found


def test_a_compressed_joblib_file_is_decompressed_as_it_is_read(tmp_path):
    for compress in ("zlib", "gzip", "bz2", "lzma", "xz"):
        path = tmp_path / f"model.{compress}"
        joblib.dump({"coef": np.arange(100), "after": scanfiles.RunsCommand()}, path, compress=(compress, 3))
        reading = child.read_file(str(path), "pickle")
        assert reading.error is None, (compress, reading.error)
        assert (SYSTEM_MODULE, "system") in reading.found, compress


def test_a_truncated_compressed_file_is_unreadable_and_keeps_what_it_found(tmp_path):
    path = tmp_path / "model.pkl.gz"
    path.write_bytes(gzip.compress(scanfiles.benign_pickle())[:-10])
    assert child.read_file(str(path), "pickle").error
    path.write_bytes(gzip.compress(scanfiles.malicious_pickle())[:-10])
    reading = child.read_file(str(path), "pickle")
    assert reading.error and (SYSTEM_MODULE, "system") in reading.found


# ---- PyTorch and other archives ----------------------------------------------------------------------------

def test_a_pytorch_archive_has_its_data_pkl_read(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(scanfiles.torch_zip(scanfiles.torch_data_pkl()))
    reading = child.read_file(str(path), "pytorch")
    assert reading.error is None and reading.pickles == 1
    assert set(reading.found) == {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                                  ("torch", "FloatStorage")}


def test_a_malicious_pytorch_archive_is_caught(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(scanfiles.torch_zip(scanfiles.torch_data_pkl(extra=scanfiles.os_system_protocol0()[:-1])))
    reading = child.read_file(str(path), "pytorch")
    assert reading.error is None
    assert ("os", "system") in reading.found


def test_the_legacy_pytorch_format_reads_its_five_pickles_and_not_the_tensor_bytes(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(scanfiles.legacy_torch())
    reading = child.read_file(str(path), "pytorch")
    assert reading.error is None and reading.pickles == 5
    assert ("torch._utils", "_rebuild_tensor_v2") in reading.found


def test_a_truncated_archive_is_unreadable(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(scanfiles.torch_zip(scanfiles.torch_data_pkl())[:-40])
    assert child.read_file(str(path), "pytorch").error


def test_a_pickle_member_that_does_not_read_makes_the_archive_unreadable(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(scanfiles.torch_zip(scanfiles.malicious_pickle()[:-4]))
    reading = child.read_file(str(path), "pytorch")
    assert reading.error and "data.pkl" in reading.error
    assert (SYSTEM_MODULE, "system") in reading.found


def test_an_archive_without_pickles_has_none(tmp_path):
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("weights/0", b"\x80\x02 looks like a pickle, is tensor data")
    reading = child.read_file(str(path), "zip")
    assert reading.error is None and reading.pickles == 0


# ---- judging imports with picklescan ---------------------------------------------------------------------------

def test_picklescan_judges_each_import():
    judged = child.judge([("posix", "system"), ("builtins", "eval"), ("sklearn.tree", "DecisionTreeClassifier"),
                          ("collections", "OrderedDict"), UNKNOWN_GLOBAL])
    assert judged == [("posix", "system", "dangerous"), ("builtins", "eval", "dangerous"),
                      ("sklearn.tree", "DecisionTreeClassifier", "suspicious"),
                      ("collections", "OrderedDict", "innocuous"), ("unknown", "unknown", "dangerous")]


def test_odd_names_are_judged_too():
    judged = child.judge([("os path", "join\nme"), ("\udcff", "é")])
    assert [level for _, _, level in judged] == ["suspicious", "suspicious"]
