"""Dev metrics and a collapse check at every validation of a fit, for the callers that judge a run
by its validations: ``benchmark`` records them, ``tune`` keeps a collapsed validation from becoming
a trial's score."""

from __future__ import annotations

import lightning.pytorch as L
import torch

from glue_lit.metrics import collapse_reason
from glue_lit.tasks import GlueTask


class History(L.Callback):
    """Dev metrics and a collapse check at every validation of a fit (sanity checks excluded).

    Each entry is ``{"epoch", "step", "metrics", "collapsed"}``: ``collapsed`` says why the
    predictions were degenerate (one class, a constant output, a NaN metric), or is ``None``.
    """

    def __init__(self, task: GlueTask):
        self.task = task
        self.entries: list[dict] = []
        self._predictions: dict[int, list[torch.Tensor]] = {}

    def on_validation_epoch_start(self, trainer, module) -> None:
        self._predictions = {}

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        if outputs is not None:
            self._predictions.setdefault(dataloader_idx, []).append(outputs.detach().cpu())

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking:
            return
        metrics, reasons = {}, []
        for i, split in enumerate(self.task.validation):
            keys = self.task.metric_keys[split.name]
            values = {k: float(v) for k, v in trainer.callback_metrics.items() if k in keys}
            metrics.update(values)
            reason = collapse_reason(self.task, torch.cat(self._predictions.get(i, [torch.empty(0)])), values)
            if reason:
                reasons.append(f"{split.prefix}: {reason}" if len(self.task.validation) > 1 else reason)
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        self.entries.append({
            # 1.0 = after the first epoch; 0.25 steps for tasks validated four times an epoch.
            "epoch": round(trainer.current_epoch + done / max(1, trainer.num_training_batches), 3),
            "step": trainer.global_step, "metrics": metrics, "collapsed": "; ".join(reasons) or None,
        })
