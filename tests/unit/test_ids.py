import multiprocessing
import time

import pytest

from model_service.domain.errors import InvalidId
from model_service.domain.ids import new_id, parse_id


def test_ids_are_24_hex_and_unique():
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)


def test_ids_start_with_the_creation_time_like_objectids():
    now = time.time()
    assert abs(int(new_id(now)[:8], 16) - int(now)) <= 1


def _child_id(_):
    return new_id()


def test_forked_processes_do_not_repeat_ids():
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        children = pool.map(_child_id, range(200))
    assert len(set(children) | {new_id()}) == 201


def test_parse_id_normalises_case_and_rejects_others():
    assert parse_id("507F1F77BCF86CD799439011") == "507f1f77bcf86cd799439011"
    for bad in ["", "123", "507f1f77bcf86cd79943901z", "507f1f77bcf86cd7994390111", "../etc/passwd"]:
        with pytest.raises(InvalidId):
            parse_id(bad)
