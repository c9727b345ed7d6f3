"""The majority-class baseline of a task: its dev metrics when every example gets the most frequent
dev label. GLUE reports WNLI beside it: WNLI's dev set is adversarial (a hypothesis shared by a
train and a dev example comes with opposite labels, so a model that memorises train predicts the
wrong dev label), and models score below the majority class."""

from __future__ import annotations

from collections import Counter

from glue_lit.tasks import GlueTask


def majority_class(task: GlueTask, data_dir: str | None = None) -> dict[str, float]:
    """Dev metrics in percent (``{"val/accuracy": 56.34}`` for WNLI) of predicting the dev set's most
    frequent label, read from ``data_dir`` (default ``$GLUE_DIR``; neither: the Hub)."""
    import torch

    from glue_lit.data import GLUEDataModule
    from glue_lit.metrics import task_metrics

    split = task.validation[0]
    labels = [int(y) for y in GLUEDataModule(task.name, data_dir=data_dir).read_split(split).labels]
    majority = min(Counter(labels).most_common(), key=lambda kv: (-kv[1], kv[0]))[0]  # ties: lower id
    metrics = task_metrics(task, split)
    metrics.update(torch.full((len(labels),), majority), torch.tensor(labels))
    return {k: 100 * float(v) for k, v in metrics.compute().items()}
