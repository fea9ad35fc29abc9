"""Model metrics through one helper: prediction counts and quality scores of any model."""

from __future__ import annotations

from collections.abc import Mapping

from otel_trading._state import STATE
from otel_trading.trading import _names as n
from otel_trading.trading._guard import never_raises
from otel_trading.trading._metrics import GUARD, local_counter

QUALITY_METRICS = frozenset({
    "accuracy", "precision", "recall", "f1", "auc", "log_loss", "rmse", "mae", "mape", "r2",
    "calibration_error", "drift_score",
})


@never_raises
def record_model_metrics(model: str, *, predictions: Mapping[str, int] | None = None, **scores: float) -> None:
    """Reports a model's quality and predictions, e.g. after each evaluation window::

        record_model_metrics("xgb-v3", accuracy=0.61, f1=0.58, drift_score=0.07, predictions={"long": 12})

    ``scores`` go to the gauge ``trading.model.quality`` (attribute ``trading.model.metric`` =
    the keyword: accuracy, precision, recall, f1, auc, log_loss, rmse, mae, mape, r2,
    calibration_error, drift_score or your own); ``predictions`` (label -> count since the last
    call) to the counter ``trading.model.predictions``.
    """
    local = STATE.local_metrics
    guard = GUARD.get()
    name = guard.admit(n.MODEL, model)
    if scores:
        gauge = local.gauge(n.MODEL_QUALITY, "1", "Latest quality score of a model, by metric")
        for metric, value in scores.items():
            gauge.set(float(value), {n.MODEL: name, n.MODEL_METRIC: guard.admit(n.MODEL_METRIC, metric)})
    if predictions:
        counter = local_counter(local, n.MODEL_PREDICTIONS)
        for label, count in predictions.items():
            counter.add(count, {n.MODEL: name, n.MODEL_LABEL: guard.admit(n.MODEL_LABEL, str(label))})
