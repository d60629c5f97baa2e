from datetime import UTC, datetime
from urllib.parse import quote, unquote

import pytest

from model_service.domain.errors import Invalid
from model_service.domain.naming import accuracy_of, pascal_case, semantic_name, validate_name

DEC16 = datetime(2024, 12, 16, tzinfo=UTC)


def test_semantic_name_has_algorithm_accuracy_and_date():
    assert semantic_name("random_forest", {"accuracy": 0.952}, DEC16) == "RandomForest_95.2%_Dec16"


def test_semantic_name_prefers_held_out_accuracy():
    metrics = {"train_accuracy": 0.99, "test_accuracy": 0.9712, "accuracy": 0.5}
    assert semantic_name("xgboost", metrics, DEC16) == "Xgboost_97.1%_Dec16"


def test_semantic_name_accepts_percentages_and_no_accuracy():
    assert semantic_name("svm", {"accuracy": 88.25}, DEC16) == "Svm_88.2%_Dec16"
    assert semantic_name("neural-network", {"f1_score": 0.9}, DEC16) == "NeuralNetwork_Dec16"


def test_semantic_name_ignores_booleans_and_out_of_range_values():
    assert accuracy_of({"accuracy": True}) is None
    assert semantic_name("svm", {"accuracy": 250}, DEC16) == "Svm_Dec16"


def test_pascal_case():
    assert pascal_case("logistic_regression") == "LogisticRegression"
    assert pascal_case("XGBoost") == "XGBoost"
    assert pascal_case("___") == "Model"


@pytest.mark.parametrize("name", ["fraud_model", "RandomForest_95.2%_Dec16", "a", "bert-base+lora.v2", "x" * 128])
def test_valid_names_survive_a_url_path_segment(name):
    assert validate_name(name) == name
    assert unquote(quote(name, safe="")) == name


@pytest.mark.parametrize(
    "name",
    ["", "x" * 129, "_leading", ".hidden", "..", "has space", "with/slash", "name@alias", "tab\tname", "ünïcode",
     "a?b", "a#b"],
)
def test_invalid_names_are_rejected_with_a_reason(name):
    with pytest.raises(Invalid) as info:
        validate_name(name)
    assert info.value.code == "invalid_name"
