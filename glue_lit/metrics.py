"""torchmetrics collections matched to each GLUE task.

Metric state is synced across processes when computed, so under DDP the numbers cover the whole
evaluation set, not one rank's share.
"""

from __future__ import annotations

from collections.abc import Callable

from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryF1Score, MatthewsCorrCoef, MulticlassAccuracy
from torchmetrics.regression import PearsonCorrCoef, SpearmanCorrCoef

from glue_lit.tasks import GlueTask

# F1 is on the positive class (label id 1), as GLUE scores MRPC and QQP.
_FACTORIES: dict[str, Callable[[int], Metric]] = {
    "accuracy": lambda n: MulticlassAccuracy(num_classes=n, average="micro"),
    "f1": lambda n: BinaryF1Score(),
    "mcc": lambda n: MatthewsCorrCoef(task="multiclass", num_classes=n),
    "pearson": lambda n: PearsonCorrCoef(),
    "spearman": lambda n: SpearmanCorrCoef(),
}


def task_metrics(task: GlueTask, prefix: str = "") -> MetricCollection:
    """Metrics of ``task``; update them with predicted label ids (or scores for regression).

    Args:
        task: the task whose ``metrics`` names pick the metrics.
        prefix: prepended to every name, e.g. ``"val/"`` gives ``val/mcc``.
    """
    return MetricCollection(
        {name: _FACTORIES[name](task.num_labels) for name in task.metrics}, prefix=prefix
    )


def glue_score(values: dict[str, float]) -> float:
    """GLUE's per-task score: the mean of the task's metrics (e.g. MRPC accuracy and F1)."""
    return sum(values.values()) / len(values)
