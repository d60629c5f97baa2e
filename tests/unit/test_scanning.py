"""Unsafe-model scanning: the rules (``domain/scanning.py``) and the scanner the server runs,
each scan in a capped child process (``scanner/service.py``)."""

from __future__ import annotations

import os
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model_service.domain import scanning
from model_service.domain.scanning import FoundGlobal, Plan, ScanResult, Verdict, assess, plan
from model_service.scanner.service import Allowed, PickleScanner, SpooledTempBlob, run_child
from tests import scanfiles

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SYSTEM = os.system.__module__  # posix


@pytest.fixture(scope="module")
def scanner() -> PickleScanner:
    return PickleScanner(timeout=30, clock=lambda: NOW)


def write(tmp_path: Path, data: bytes, name: str = "model.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---- which files are scanned --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, kind", [("pickle", "pickle"), ("joblib", "pickle"), ("cloudpickle", "pickle"),
                                       ("pytorch", "pytorch"), ("torchscript", "zip")])
def test_the_pickle_family_is_scanned(fmt, kind):
    assert plan(fmt, b"anything", 100) == scanning.ScanPlan(Plan.SCAN, kind)


def test_safetensors_and_onnx_are_non_executable():
    assert plan("safetensors", scanfiles.safetensors_file()[:16], 100).plan is Plan.NON_EXECUTABLE
    assert plan("onnx", scanfiles.onnx_file()[:16], 100).plan is Plan.NON_EXECUTABLE


@pytest.mark.parametrize("fmt", ["safetensors", "onnx", None, "binary", "keras"])
def test_a_pickle_or_archive_under_another_name_is_scanned(fmt):
    assert plan(fmt, scanfiles.malicious_pickle()[:16], 100) == scanning.ScanPlan(
        Plan.SCAN, "pickle", note=f"declared {fmt or 'no format'}, but the file is a pickle")
    assert plan(fmt, b"PK\x03\x04rest", 100).kind == "zip"


def test_other_formats_are_not_scanned():
    assert plan("keras", b"\x89HDF\r\n\x1a\n", 100).plan is Plan.NOT_SCANNED
    assert plan(None, b"GGUF\x03\x00\x00\x00", 100).plan is Plan.NOT_SCANNED
    assert plan("safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00[", 100).plan is Plan.NOT_SCANNED
    assert plan("onnx", scanfiles.os_system_protocol0()[:16], 100).plan is Plan.NOT_SCANNED  # protocol 0: no header


def test_a_scan_result_round_trips_through_json():
    result = ScanResult(Verdict.UNSAFE, True, NOW, "picklescan", "1.0.5",
                        (FoundGlobal("posix", "system", "dangerous"), FoundGlobal("sk", "M", "suspicious")),
                        None, "why")
    assert ScanResult.from_json(result.to_json()) == result
    assert ScanResult.from_json(scanning.NOT_RECORDED_RESULT.to_json()) == scanning.NOT_RECORDED_RESULT


# ---- the decision, end to end -----------------------------------------------------------------------------

def test_a_malicious_pickle_is_unsafe(scanner, tmp_path):
    result = assess(scanner, write(tmp_path, scanfiles.malicious_pickle()), "pickle", 0, NOW)
    assert result.verdict is Verdict.UNSAFE and result.executable is True
    assert result.globals == (FoundGlobal(SYSTEM, "system", "dangerous"),)
    assert (result.scanner, result.scanned_at) == ("picklescan", NOW)
    assert result.scanner_version


@pytest.mark.parametrize("data, module, name", [(scanfiles.os_system_protocol0(), "os", "system"),
                                                (scanfiles.eval_by_stack_global(), "builtins", "eval")])
def test_crafted_pickles_are_unsafe(scanner, tmp_path, data, module, name):
    result = assess(scanner, write(tmp_path, data), "pickle", len(data), NOW)
    assert result.verdict is Verdict.UNSAFE
    assert FoundGlobal(module, name, "dangerous") in result.globals


def test_a_pickle_of_data_is_safe(scanner, tmp_path):
    result = assess(scanner, write(tmp_path, scanfiles.benign_pickle()), "pickle", 0, NOW)
    assert (result.verdict, result.globals, result.reason) == (Verdict.SAFE, (), None)


def test_a_scikit_learn_like_joblib_file_is_suspicious_unless_allowed(tmp_path):
    import joblib
    import numpy as np

    path = tmp_path / "model.joblib"
    joblib.dump({"coef": np.arange(10.0), "model": Allowed}, path)  # a class from elsewhere: suspicious
    module = Allowed.__module__
    result = assess(PickleScanner(), path, "joblib", 0, NOW)
    assert result.verdict is Verdict.SUSPICIOUS
    assert [g.module for g in result.globals] == [module]  # the array wrapper is not suspicious
    allowed = assess(PickleScanner(allowed=[module.split(".")[0] + ".*"]), path, "joblib", 0, NOW)
    assert (allowed.verdict, allowed.globals) == (Verdict.SAFE, ())


def test_a_file_importing_hundreds_of_names_is_reported_in_brief(scanner, tmp_path):
    imports = b"".join(scanfiles.global_op(f"lib{i}", "Thing") + b"0" for i in range(300))
    data = b"\x80\x02" + imports + scanfiles.global_op("os", "system") + b"0N."
    result = assess(scanner, write(tmp_path, data), "pickle", len(data), NOW)
    assert result.verdict is Verdict.UNSAFE
    assert len(result.globals) == 50 and result.globals[0] == FoundGlobal("os", "system", "dangerous")
    assert "301 imports, the first 50 listed" in result.detail


def test_allowing_an_import_never_hides_a_dangerous_one(tmp_path):
    result = assess(PickleScanner(allowed=["posix", "os.*", "builtins:eval"]),
                    write(tmp_path, scanfiles.malicious_pickle()), "pickle", 0, NOW)
    assert result.verdict is Verdict.UNSAFE


def test_a_pytorch_archive_of_tensors_is_safe_and_one_with_a_payload_unsafe(scanner, tmp_path):
    safe = assess(scanner, write(tmp_path, scanfiles.torch_zip(scanfiles.torch_data_pkl()), "model.pt"),
                  "pytorch", 0, NOW)
    assert safe.verdict is Verdict.SAFE
    evil = scanfiles.torch_zip(scanfiles.torch_data_pkl(extra=scanfiles.os_system_protocol0()[:-1]))
    assert assess(scanner, write(tmp_path, evil, "evil.pt"), "pytorch", 0, NOW).verdict is Verdict.UNSAFE
    legacy = assess(scanner, write(tmp_path, scanfiles.legacy_torch(), "legacy.bin"), "pytorch", 0, NOW)
    assert legacy.verdict is Verdict.SAFE


def test_a_truncated_file_is_unscanned_never_safe(scanner, tmp_path):
    data = scanfiles.benign_pickle()
    result = assess(scanner, write(tmp_path, data[:-2]), "pickle", 0, NOW)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNED, scanning.UNREADABLE)
    assert "ends early" in result.detail


def test_a_truncated_file_with_a_dangerous_import_before_the_cut_is_unsafe(scanner, tmp_path):
    result = assess(scanner, write(tmp_path, scanfiles.malicious_pickle()[:-3]), "pickle", 0, NOW)
    assert (result.verdict, result.reason) == (Verdict.UNSAFE, scanning.UNREADABLE)


def test_a_file_of_the_pickle_family_that_is_no_pickle_is_unscanned(scanner, tmp_path):
    result = assess(scanner, write(tmp_path, os.urandom(2000)), "pickle", 0, NOW)
    assert result.verdict is Verdict.UNSCANNED


def test_a_scan_past_its_time_is_stopped_and_unscanned(tmp_path):
    slow = PickleScanner(timeout=0.001)
    started = datetime.now(UTC)
    result = assess(slow, write(tmp_path, scanfiles.benign_pickle()), "pickle", 0, NOW)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNED, scanning.SCAN_TIMEOUT)
    assert (datetime.now(UTC) - started).total_seconds() < 10


def test_a_scan_that_runs_out_of_memory_is_stopped_and_unscanned(tmp_path):
    # a million distinct memoized strings: the reader's memo outgrows 64 MB of address space
    data = pickle.dumps([f"s{i}" for i in range(1_000_000)], protocol=4)
    result = assess(PickleScanner(memory_limit=64 << 20), write(tmp_path, data), "pickle", len(data), NOW)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNED, scanning.SCAN_MEMORY_LIMIT)


def test_a_scanner_that_crashes_leaves_the_file_unscanned(tmp_path):
    outcome = run_child(write(tmp_path, scanfiles.benign_pickle()), "pickle", timeout=30, memory_limit=1 << 30,
                        python="/bin/false")
    assert outcome.failure[0] == scanning.SCAN_FAILED
    assert PickleScanner(run=lambda *a, **k: outcome).scan(tmp_path, "pickle").verdict is Verdict.UNSCANNED


def test_the_child_process_never_sees_the_servers_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    seen = {}

    def spy(*args, **kwargs):
        import subprocess

        original = subprocess.Popen

        class Recording(original):
            def __init__(self, command, **options):
                seen.update(options["env"])
                super().__init__(command, **options)

        monkeypatch.setattr(subprocess, "Popen", Recording)
        return run_child(*args, **kwargs)

    assert PickleScanner(run=spy).scan(write(tmp_path, scanfiles.benign_pickle()), "pickle").verdict is Verdict.SAFE
    assert "AWS_SECRET_ACCESS_KEY" not in seen


@pytest.mark.parametrize("fmt, data", [("safetensors", scanfiles.safetensors_file()),
                                       ("onnx", scanfiles.onnx_file())])
def test_safetensors_and_onnx_files_are_safe_and_not_executable(scanner, tmp_path, fmt, data):
    result = assess(scanner, write(tmp_path, data), fmt, len(data), NOW)
    assert (result.verdict, result.executable, result.reason) == (Verdict.SAFE, False,
                                                                  scanning.NON_EXECUTABLE_FORMAT)


def test_a_pickle_named_safetensors_is_scanned(scanner, tmp_path):
    result = assess(scanner, write(tmp_path, scanfiles.malicious_pickle()), "safetensors", 0, NOW)
    assert result.verdict is Verdict.UNSAFE and "declared safetensors" in result.detail


def test_an_archive_without_pickles_in_another_format_is_not_judged(scanner, tmp_path):
    import zipfile

    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    result = assess(scanner, path, "keras", 0, NOW)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNED, scanning.FORMAT_NOT_SCANNED)


def test_without_a_scanner_every_file_is_unscanned(tmp_path):
    result = assess(None, write(tmp_path, scanfiles.malicious_pickle()), "pickle", 0, NOW)
    assert (result.verdict, result.reason, result.executable) == (Verdict.UNSCANNED, scanning.SCANNING_DISABLED,
                                                                  True)


# ---- the local copy for remote stores ------------------------------------------------------------------------

class RemoteUpload:
    """A TempBlob whose bytes are nowhere local (as on S3 or GridFS)."""

    def __init__(self):
        self.written = b""
        self.finished = self.aborted = False
        self.committed: list[str] = []

    def write(self, data: bytes) -> None:
        self.written += data

    def finish(self) -> None:
        self.finished = True

    def commit(self, key: str) -> bool:
        self.committed.append(key)
        return True

    def abort(self) -> None:
        self.aborted = True


def test_a_remote_upload_is_copied_locally_for_the_scan_and_the_copy_removed(tmp_path):
    scanner = PickleScanner(temp_dir=tmp_path)
    inner = RemoteUpload()
    upload = scanner.prepare(inner)
    assert isinstance(upload, SpooledTempBlob)
    upload.write(b"abc")
    upload.write(b"def")
    upload.finish()
    assert upload.local_path.read_bytes() == b"abcdef" == inner.written
    assert upload.commit("k") and inner.committed == ["k"]
    upload.abort()
    assert inner.aborted and list(tmp_path.iterdir()) == []


def test_a_local_upload_is_scanned_where_it_is(tmp_path):
    from model_service.stores.blob_local import LocalBlobStore

    upload = LocalBlobStore(tmp_path).begin_upload()
    assert PickleScanner().prepare(upload) is upload
    upload.abort()
