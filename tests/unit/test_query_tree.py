"""The query tree refuses what no store could answer, however the tree was built (the filter
language, a router, or code calling a store directly)."""

from __future__ import annotations

import pytest

from model_service.domain.errors import Malformed
from model_service.domain.filters import parse_filter
from model_service.domain.query import FieldRef, Like, SearchQuery, ValueType


@pytest.mark.parametrize("ref", [FieldRef("metric", "f1_score", ValueType.NUMBER),
                                 FieldRef("field", "version", ValueType.VERSION),
                                 FieldRef("field", "created_at", ValueType.DATETIME)])
def test_like_is_only_on_text(ref):
    with pytest.raises(Malformed) as refused:
        Like(ref, "0.9%")
    assert refused.value.code == "invalid_filter" and str(ref) in refused.value.message


def test_the_filter_language_says_where_a_like_on_a_number_is():
    with pytest.raises(Malformed) as refused:
        parse_filter("name = 'a' AND metrics.f1_score LIKE '0.9%'")
    assert refused.value.details["position"] == 15 and "LIKE needs a text field" in refused.value.message


def test_like_on_strings_and_hyperparameters_is_allowed():
    assert Like(FieldRef("field", "name", ValueType.STRING), "fraud%").pattern == "fraud%"
    assert Like(FieldRef("param", "optimizer.name", ValueType.ANY), "ad%", case_sensitive=False).negated is False


@pytest.mark.parametrize(("offset", "limit"), [(-1, 20), (0, 0)])
def test_an_impossible_page_is_refused(offset, limit):
    with pytest.raises(Malformed) as refused:
        SearchQuery(offset=offset, limit=limit)
    assert refused.value.code == "invalid_page"
