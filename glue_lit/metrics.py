"""torchmetrics collections matched to each GLUE task.

Metric state is synced across processes when computed, so under DDP the numbers cover the whole
evaluation set, not one rank's share.
"""

from __future__ import annotations

from collections.abc import Callable

from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryF1Score, MatthewsCorrCoef, MulticlassAccuracy
from torchmetrics.regression import PearsonCorrCoef, SpearmanCorrCoef

from glue_lit.tasks import GlueTask, Split

# F1 is on the positive class (label id 1), as GLUE scores MRPC and QQP.
_FACTORIES: dict[str, Callable[[int], Metric]] = {
    "accuracy": lambda n: MulticlassAccuracy(num_classes=n, average="micro"),
    "f1": lambda n: BinaryF1Score(),
    "mcc": lambda n: MatthewsCorrCoef(task="multiclass", num_classes=n),
    "pearson": lambda n: PearsonCorrCoef(),
    "spearman": lambda n: SpearmanCorrCoef(),
}


def task_metrics(task: GlueTask, split: Split | None = None) -> MetricCollection:
    """Metrics of ``task``; update them with predicted label ids (or scores for regression).

    Args:
        task: the task whose ``metrics`` names pick the metrics.
        split: names them as logged on this split (``val/mcc``, see ``GlueTask.metric_keys``);
            ``None``: bare metric names (``mcc``).
    """
    keys = task.metric_keys[split.name] if split is not None else task.metrics
    return MetricCollection({key: _FACTORIES[name](task.num_labels) for key, name in zip(keys, task.metrics)})


def collapse_reason(task: GlueTask, predictions, metrics: dict[str, float]) -> str | None:
    """Why a run's dev predictions are degenerate, or ``None`` when they are not.

    A run that predicts one class for the whole dev set, gives a constant regression output, or
    has an undefined (NaN) metric learned nothing; averaging it in with the other seeds would hide
    that, so benchmarks name it.

    Args:
        task: the task predicted.
        predictions: predicted label ids (or scores) for the whole dev set, any array-like.
        metrics: the dev metrics of the same predictions (by name, prefix included).
    """
    import torch

    preds = torch.as_tensor(predictions).flatten()
    nan = [k for k, v in metrics.items() if v != v]
    if nan:
        return f"{', '.join(nan)} is NaN"
    if preds.numel() == 0:
        return "no predictions"
    if task.problem_type == "regression":
        if float(preds.float().std()) < 1e-4:
            return f"constant output {float(preds[0]):.3f}"
        return None
    classes = preds.long().unique()
    if len(classes) == 1:
        return f"predicts only {task.label_names[int(classes[0])]!r}"
    return None
