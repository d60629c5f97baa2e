"""What the local folder backend promises beyond the shared contract: layout and crash safety."""

import hashlib
import os
import stat

from model_service.stores.blob_local import LocalBlobStore


def test_layout_is_content_addressed_and_read_only(tmp_path):
    store = LocalBlobStore(tmp_path)
    content = b"weights"
    key = hashlib.sha256(content).hexdigest()
    upload = store.begin_upload()
    upload.write(content)
    upload.finish()
    upload.commit(key)
    upload.abort()
    path = tmp_path / "sha256" / key[:2] / key[2:4] / key
    assert path.read_bytes() == content
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_uploads_in_flight_live_only_in_tmp(tmp_path):
    store = LocalBlobStore(tmp_path)
    upload = store.begin_upload()
    upload.write(b"partial")
    assert next(p.name for p in (tmp_path / "tmp").iterdir()).endswith(".part")
    assert list((tmp_path / "sha256").rglob("*")) == []
    upload.abort()
    assert list((tmp_path / "tmp").iterdir()) == []
