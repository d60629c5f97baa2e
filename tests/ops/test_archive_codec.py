"""The archive's JSON lines (``operations/archive_codec.py``): what a store returns reads back as
it was, and a line whose times no store could hold is refused as the line it is."""

from __future__ import annotations

import copy

import pytest

from model_service.domain.errors import Malformed
from model_service.domain.keys import ApiKey
from model_service.domain.models import Alias, Event, EventKind
from model_service.domain.ports import ModelRecord
from model_service.domain.versions import Version
from model_service.operations.archive_codec import (
    alias_to_json,
    decode,
    key_to_json,
    record_to_json,
)

from .archive_fixtures import T0, later

MODEL_ID = "6571a2b3c4d5e6f708192a3b"
KEY = ApiKey(key_id="k1", name="ci", scopes=(), name_prefix=None, secret_hash="00" * 32, created_at=T0,
             created_by="alice", expires_at=later(60), revoked_at=None, revoked_by=None)
RECORD = ModelRecord(MODEL_ID, None, [Event(MODEL_ID, "fraud", EventKind.DELETED, "alice", T0)])
ALIAS = Alias("fraud", "prod", MODEL_ID, Version(1, 0), T0, "alice")


def test_records_read_back_as_they_were_written():
    assert decode("records", record_to_json(RECORD)) == RECORD
    assert decode("aliases", alias_to_json(ALIAS)) == ALIAS
    assert decode("keys", key_to_json(KEY)) == KEY


@pytest.mark.parametrize("kind, line, field", [
    ("records", record_to_json(RECORD), "at"),
    ("aliases", alias_to_json(ALIAS), "updated_at"),
    ("keys", key_to_json(KEY), "created_at"),
])
@pytest.mark.parametrize("value", [None, "2026-01-02T03:04:05.678000"], ids=["null", "without an offset"])
def test_a_time_that_no_store_holds_is_refused(kind, line, field, value):
    line = copy.deepcopy(line)
    target = line["events"][0] if kind == "records" else line
    target[field] = value
    with pytest.raises(Malformed, match=f"not a valid {kind} line"):
        decode(kind, line)


def test_an_optional_time_may_be_null_but_not_naive():
    assert decode("keys", {**key_to_json(KEY), "expires_at": None}).expires_at is None
    with pytest.raises(Malformed):
        decode("keys", {**key_to_json(KEY), "expires_at": "2030-01-01T00:00:00"})
