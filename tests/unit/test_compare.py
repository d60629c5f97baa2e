import pytest

from model_service.domain.compare import lower_is_better


@pytest.mark.parametrize("metric", ["loss", "val_loss", "logloss", "rmse", "mean_absolute_error", "inference_time",
                                    "latencyMs", "wer", "p99_latency", "trainLoss"])
def test_losses_errors_and_times_are_better_smaller(metric):
    assert lower_is_better(metric)


@pytest.mark.parametrize("metric", ["accuracy", "answer_accuracy", "f1_score", "auc", "statistical_power", "uptime",
                                    "recall", "throughput", "bleu", "ndcg@10"])
def test_other_metrics_are_better_larger(metric):
    assert not lower_is_better(metric)
