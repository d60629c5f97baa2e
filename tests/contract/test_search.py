"""The search contract (MetadataStore.search), every filter and sort, against every backend.

The tests that only read share one store per backend holding the catalog (``searched``); those
that change it get a store of their own (``metadata_store`` with ``catalog``)."""

from __future__ import annotations

import pytest

from model_service.domain.errors import Malformed
from model_service.domain.filters import parse_filter, parse_sort
from model_service.domain.query import (
    FIELDS,
    TAGS,
    Comparison,
    FieldRef,
    InList,
    IsNull,
    SearchQuery,
    SimpleFilters,
    TextSearch,
    ValueType,
)
from model_service.domain.versions import Version

from .helpers import RecordingBlob, draft, later

# name, algorithm, metrics, hyperparameters, tags, description, minutes after T0, file size
CATALOG = [
    ("fraud_xgb", "xgboost", {"test_accuracy": 0.97, "f1_score": 0.95, "loss": 0.10},
     {"max_depth": 6, "optimizer": {"lr": 0.1, "name": "adam"}, "gpu": True, "layers": [64, 32]},
     ("production", "fraud"), "Fraud detector for card payments", 1, 3000),
    ("fraud_xgb", "xgboost", {"test_accuracy": 0.93, "f1_score": 0.91},
     {"max_depth": 8, "optimizer": {"lr": 0.05, "name": "sgd"}, "gpu": False},
     ("staging", "fraud"), "Deeper trees", 2, 1000),
    ("churn_rf", "random_forest", {"accuracy": 0.88, "f1_score": 0.85},
     {"n_estimators": 150, "max_depth": 8, "criterion": "gini"},
     ("production", "churn"), "Customer churn", 3, None),
    ("churn_lr", "logistic_regression", {"accuracy": 0.81},
     {"C": 1.0, "penalty": "l2"}, (), "Baseline for churn_rf", 4, 10),
    ("Sentiment-BERT", "transformer", {"val_accuracy": 0.94, "perplexity": 12.5},
     {"epochs": 3, "model": "bert-base"}, ("nlp", "production"), "Sentiment of reviews: 100% English", 5, 50000),
]


def register_catalog(store) -> list[str]:
    """The catalog registered in order; the versions' ids, in that order."""
    ids = []
    for name, algorithm, metrics, params, tags, description, minutes, size in CATALOG:
        blob = RecordingBlob(b"x" * size).upload if size else None
        model = store.create_version(
            draft(name, algorithm=algorithm, metrics=metrics, hyperparameters=params, tags=tags,
                  description=description, at=later(minutes), created_by="bob" if minutes % 2 else "alice"),
            blob)
        ids.append(model.id)
    return ids


@pytest.fixture
def catalog(metadata_store) -> list[str]:
    """The catalog in ``metadata_store``, a store of the test's own: for the tests that change it."""
    return register_catalog(metadata_store)


@pytest.fixture(scope="module")
def searched(module_metadata_factory):
    """A store holding the catalog, shared by the tests here that only read it (one per backend)."""
    store = module_metadata_factory("catalog")
    register_catalog(store)
    return store


def names(store, where=None, sort=None, **page) -> list[tuple[str, str]]:
    query = SearchQuery(where=where, **({"sort": sort} if sort else {}), **page)
    return [(m.name, str(m.version)) for m in store.search(query).items]


def found(store, expression: str) -> list[tuple[str, str]]:
    return sorted(names(store, parse_filter(expression), limit=100))



FRAUD_1, FRAUD_2 = ("fraud_xgb", "v1.0"), ("fraud_xgb", "v1.1")
RF, LR, BERT = ("churn_rf", "v1.0"), ("churn_lr", "v1.0"), ("Sentiment-BERT", "v1.0")


# ---- filters --------------------------------------------------------------------------------------

@pytest.mark.parametrize("expression, expected", [
    ("algorithm = 'xgboost'", [FRAUD_1, FRAUD_2]),
    ("algorithm != 'xgboost'", [BERT, LR, RF]),
    ("name = 'churn_rf'", [RF]),
    ("name LIKE 'churn%'", [LR, RF]),
    ("name LIKE 'sentiment%'", []),  # LIKE is case-sensitive
    ("name ILIKE 'sentiment%'", [BERT]),
    ("name NOT LIKE '%_%'", []),
    ("name IN ('churn_rf', 'Sentiment-BERT', 'nope')", [BERT, RF]),
    ("name NOT IN ('churn_rf', 'churn_lr')", [BERT, FRAUD_1, FRAUD_2]),
    ("version = 'v1.1'", [FRAUD_2]),
    ("version > 'v1.0'", [FRAUD_2]),
    ("created_by = 'alice'", [FRAUD_2, LR]),
    ("created_at >= '2026-01-02T03:07:00Z'", [BERT, LR, RF]),
    ("created_at < '2026-01-02T03:06:30+00:00'", [FRAUD_1, FRAUD_2]),
    ("size_bytes >= 1000", [BERT, FRAUD_1, FRAUD_2]),
    ("size_bytes IS NULL", [RF]),
    ("format = 'pickle'", [BERT, FRAUD_1, FRAUD_2, LR, RF]),
    ("description LIKE '%100\\%%'", [BERT]),  # an escaped % is a literal percent sign
    ("accuracy >= 0.9", [BERT, FRAUD_1, FRAUD_2]),  # test_accuracy, then accuracy, then val_accuracy
    ("accuracy < 0.85", [LR]),
    ("download_count = 0", [BERT, FRAUD_1, FRAUD_2, LR, RF]),
])
def test_column_filters(searched, expression, expected):
    assert found(searched, expression) == sorted(expected)


@pytest.mark.parametrize("expression, expected", [
    ("metrics.f1_score >= 0.9", [FRAUD_1, FRAUD_2]),
    ("metrics.f1_score < 0.9", [RF]),  # versions without the metric never match a comparison
    ("metrics.f1_score != 0.95", [FRAUD_2, RF]),
    ("metrics.f1_score IN (0.85, 0.91)", [FRAUD_2, RF]),
    ("metrics.f1_score NOT IN (0.85, 0.91)", [FRAUD_1]),
    ("metrics.f1_score IS NULL", [BERT, LR]),
    ("metrics.perplexity IS NOT NULL", [BERT]),
    ("metrics.loss <= 0.1", [FRAUD_1]),
])
def test_metric_filters(searched, expression, expected):
    assert found(searched, expression) == sorted(expected)


@pytest.mark.parametrize("expression, expected", [
    ("hyperparameters.max_depth = 8", [FRAUD_2, RF]),
    ("hyperparameters.max_depth > 6", [FRAUD_2, RF]),
    ("params.max_depth IN (6, 150)", [FRAUD_1]),
    ("hyperparameters.optimizer.lr < 0.1", [FRAUD_2]),  # nested objects flatten to dotted keys
    ("hyperparameters.optimizer.name = 'adam'", [FRAUD_1]),
    ("hyperparameters.gpu = TRUE", [FRAUD_1]),
    ("hyperparameters.gpu = false", [FRAUD_2]),
    ("hyperparameters.criterion LIKE 'gi%'", [RF]),
    ("hyperparameters.model ILIKE 'BERT%'", [BERT]),
    ("hyperparameters.penalty NOT IN ('l1')", [LR]),
    ("hyperparameters.C = 1", [LR]),
    ("hyperparameters.max_depth = '8'", []),  # a string is not the number 8
    ("hyperparameters.n_estimators IS NOT NULL", [RF]),
    ("hyperparameters.gpu IS NULL", [BERT, LR, RF]),
])
def test_hyperparameter_filters(searched, expression, expected):
    assert found(searched, expression) == sorted(expected)


@pytest.mark.parametrize("expression, expected", [
    ("tags = 'production'", [BERT, FRAUD_1, RF]),
    ("tags != 'production'", [FRAUD_2, LR]),
    ("tags IN ('nlp', 'staging')", [BERT, FRAUD_2]),
    ("tags NOT IN ('fraud', 'churn')", [BERT, LR]),
    ("tags LIKE 'prod%'", [BERT, FRAUD_1, RF]),
    ("tags IS NULL", [LR]),
    ("tags IS NOT NULL", [BERT, FRAUD_1, FRAUD_2, RF]),
    ("tags = 'production' AND tags = 'fraud'", [FRAUD_1]),
])
def test_tag_filters(searched, expression, expected):
    assert found(searched, expression) == sorted(expected)


@pytest.mark.parametrize("expression, expected", [
    ("metrics.f1_score >= 0.9 AND (algorithm = 'xgboost' OR tags = 'production')", [FRAUD_1, FRAUD_2]),
    ("algorithm = 'transformer' OR tags = 'staging' OR name = 'churn_lr'", [BERT, FRAUD_2, LR]),
    ("NOT algorithm = 'xgboost' AND NOT tags = 'production'", [LR]),
    ("(algorithm = 'xgboost' OR algorithm = 'random_forest') AND hyperparameters.max_depth = 8", [FRAUD_2, RF]),
    ("NOT (metrics.f1_score > 0.9)", [BERT, LR, RF]),
    # ANDs whose operands are of every kind: the matches never depend on which one is read first
    ("metrics.accuracy IS NULL AND metrics.f1_score >= 0.9", [FRAUD_1, FRAUD_2]),
    ("tags IS NULL AND metrics.accuracy < 0.9", [LR]),
    ("metrics.f1_score IS NULL AND tags != 'nlp'", [LR]),
    ("algorithm != 'xgboost' AND tags != 'production'", [LR]),
    ("NOT (tags = 'fraud') AND (algorithm = 'transformer' OR metrics.f1_score IS NULL)", [BERT, LR]),
    ("metrics.f1_score >= 0.85 AND (tags IS NULL OR tags = 'staging' OR NOT hyperparameters.max_depth = 8)",
     [FRAUD_1, FRAUD_2]),
    ("tags IN ('production', 'fraud') AND hyperparameters.optimizer.name = 'adam'", [FRAUD_1]),
    ("tags IN ('production', 'fraud') AND hyperparameters.max_depth >= 6", [FRAUD_1, FRAUD_2, RF]),
    ("(metrics.f1_score > 0.9 AND tags = 'fraud') OR (algorithm = 'transformer' AND NOT tags = 'staging')",
     [BERT, FRAUD_1, FRAUD_2]),
    ("metrics.f1_score > 0.8 AND hyperparameters.max_depth >= 6 AND tags = 'fraud' AND NOT tags = 'staging'",
     [FRAUD_1]),
])
def test_boolean_structure(searched, expression, expected):
    assert found(searched, expression) == sorted(expected)


@pytest.mark.parametrize("text, expected", [
    ("fraud", [FRAUD_1, FRAUD_2]),  # in the name
    ("FOREST", [RF]),  # in the algorithm, any case
    ("card pay", [FRAUD_1]),  # in the description, across a space
    ("staging", [FRAUD_2]),  # in a tag
    ("churn", [LR, RF]),
    ("rf", [LR, RF]),  # shorter than the trigram index: still found
    ("100%", [BERT]),  # wildcard characters are literal
    ('"quoted"', []),
    ("zz", []),
])
def test_text_search(searched, text, expected):
    assert sorted(names(searched, TextSearch(text), limit=100)) == sorted(expected)


def test_text_search_follows_updates(metadata_store, catalog):
    metadata_store.update(catalog[3], {"description": "now mentions xylophones", "tags": ("music",)}, "bob", later(9))
    assert names(metadata_store, TextSearch("xylophone")) == [LR]
    assert names(metadata_store, TextSearch("music")) == [LR]
    assert names(metadata_store, parse_filter("tags = 'music'")) == [LR]
    assert names(metadata_store, TextSearch("Baseline")) == []


def test_text_search_folds_the_case_of_every_letter(metadata_store, catalog):
    metadata_store.update(catalog[3], {"description": "Détecteur ÉCLAIR"}, "bob", later(9))
    assert names(metadata_store, TextSearch("éclair")) == [LR]
    assert names(metadata_store, TextSearch("DÉTECTEUR")) == [LR]


def test_metric_updates_are_searchable(metadata_store, catalog):
    metadata_store.update(catalog[3], {"metrics": {"accuracy": 0.99, "auc": 0.7}}, "bob", later(9))
    assert found(metadata_store, "metrics.auc = 0.7") == [LR]
    assert found(metadata_store, "accuracy > 0.98") == [LR]


def test_deleted_versions_leave_no_search_rows(metadata_store, catalog):
    metadata_store.delete(catalog[0], lambda _sha256: None, "bob", later(9))
    assert found(metadata_store, "tags = 'production' AND algorithm = 'xgboost'") == []
    assert names(metadata_store, TextSearch("card pay")) == []


def test_simple_filters_are_the_seed_parameters(searched):
    def simple(**values):
        return sorted(names(searched, SimpleFilters(**values).to_node(), limit=100))

    assert simple(algorithm="xgboost", status="active") == [FRAUD_1, FRAUD_2]
    assert simple(tags=("nlp", "churn")) == [BERT, RF]  # any of
    assert simple(tags_all=("production", "fraud")) == [FRAUD_1]  # all of
    assert simple(min_accuracy=0.94) == [BERT, FRAUD_1]
    assert simple(q="churn", created_by="alice") == [LR]
    assert simple(name="fraud_xgb", created_after=later(2), created_before=later(3)) == [FRAUD_2]
    assert simple() == sorted([FRAUD_1, FRAUD_2, RF, LR, BERT])


# ---- sorting and paging ---------------------------------------------------------------------------

@pytest.mark.parametrize("sort, expected", [
    ("-created_at", [BERT, LR, RF, FRAUD_2, FRAUD_1]),
    ("created_at", [FRAUD_1, FRAUD_2, RF, LR, BERT]),
    ("-metrics.f1_score", [FRAUD_1, FRAUD_2, RF, BERT, LR]),  # missing values last, either direction
    ("metrics.f1_score", [RF, FRAUD_2, FRAUD_1, LR, BERT]),  # ties (missing) by id, ascending
    ("-accuracy", [FRAUD_1, BERT, FRAUD_2, RF, LR]),
    ("name,-version", [BERT, LR, RF, FRAUD_2, FRAUD_1]),  # byte order: upper case first
    ("-hyperparameters.max_depth,name", [RF, FRAUD_2, FRAUD_1, BERT, LR]),
    ("size_bytes", [LR, FRAUD_2, FRAUD_1, BERT, RF]),
    ("algorithm,-created_at", [LR, RF, BERT, FRAUD_2, FRAUD_1]),
])
def test_sort_orders(searched, sort, expected):
    assert names(searched, sort=parse_sort(sort), limit=100) == expected


def test_ties_are_broken_by_id_so_pages_never_overlap(searched):
    sort = parse_sort("-download_count")  # every version ties at 0
    pages = [names(searched, sort=sort, offset=offset, limit=2) for offset in (0, 2, 4)]
    flat = [item for page in pages for item in page]
    assert len(flat) == 5 and len(set(flat)) == 5
    assert flat == names(searched, sort=sort, limit=100)


def test_pages_and_totals(searched):
    where = parse_filter("tags IS NOT NULL")
    first = searched.search(SearchQuery(where=where, offset=0, limit=3))
    rest = searched.search(SearchQuery(where=where, offset=3, limit=3))
    beyond = searched.search(SearchQuery(where=where, offset=10, limit=3))
    assert (first.total, rest.total, beyond.total) == (4, 4, 4)
    assert (len(first.items), len(rest.items), beyond.items) == (3, 1, [])


def test_an_impossible_page_is_refused(metadata_store):
    with pytest.raises(Malformed):
        metadata_store.search(SearchQuery(offset=-1))


def test_every_documented_field_can_be_filtered(searched):
    """Each column of the filter language translates and runs (a type-appropriate literal)."""
    samples = {ValueType.STRING: "x", ValueType.NUMBER: 1.0, ValueType.VERSION: Version(1, 0),
               ValueType.DATETIME: later(0)}
    for name, value_type in FIELDS.items():
        ref = FieldRef("field", name, value_type)
        searched.search(SearchQuery(where=Comparison(ref, "=", samples[value_type])))
        searched.search(SearchQuery(where=IsNull(ref)))
    searched.search(SearchQuery(where=InList(TAGS, ("a",), negated=True)))


@pytest.mark.parametrize("sort", ["-metrics.f1_score", "metrics.f1_score", "-metrics.loss"])
@pytest.mark.parametrize("where", [None, "algorithm = 'xgboost' OR tags = 'production'", "status = 'active'"])
def test_paging_along_a_metric_matches_the_full_order(searched, sort, where):
    """Pages read along the metric's index, and the pages past the versions that have the metric,
    concatenate to exactly the full ordering."""
    node = None if where is None else parse_filter(where)
    everything = names(searched, node, parse_sort(sort), limit=100)
    pages = [names(searched, node, parse_sort(sort), offset=offset, limit=2) for offset in range(0, 6, 2)]
    assert [item for page in pages for item in page] == everything
    totals = {searched.search(SearchQuery(where=node, sort=parse_sort(sort), offset=o, limit=2)).total
              for o in range(0, 8, 2)}
    assert totals == {len(everything)}
