"""A fit's validations, kept once: what the progress lines, the end-of-fit table, TensorBoard's
best-so-far, tune's scoring and benchmark records all read.

Each validation is one JSON-ready entry (the format of a benchmark record's ``history``)::

    {"epoch": 1.0,                 # epochs trained: 1.0 after the first, 0.25 a quarter into it
     "step": 268,                  # optimizer steps so far
     "metrics": {"val/mcc": 0.21, "val/accuracy": 0.71},   # the task's dev metrics
     "losses": {"val/loss": 0.61},                         # the dev losses
     "collapsed": None}            # or why the predictions were degenerate: one class, a constant
                                   # output, a NaN metric

The best entry is the first with the best monitored value (as a checkpoint callback keeps it); a NaN
value is never the best. ``GlueCLI`` installs :class:`History` in every run; code that builds a
run (``glue_lit.cli.build_run``) reads it with :meth:`History.of`.
"""

from __future__ import annotations

import lightning.pytorch as L
import torch

from glue_lit.metrics import collapse_reason
from glue_lit.tasks import GlueTask


def epoch_done(trainer: L.Trainer) -> float:
    """Epochs trained so far: 1.0 after the first, 0.25 for a validation a quarter into it."""
    done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
    return round(trainer.current_epoch + done / max(1, trainer.num_training_batches), 3)


def monitored(trainer: L.Trainer) -> tuple[str, str] | None:
    """(metric, "max"|"min") that picks the best validation: the best checkpoint's, else the task's."""
    for callback in trainer.checkpoint_callbacks:
        if getattr(callback, "monitor", None):
            return callback.monitor, callback.mode
    task = getattr(trainer.lightning_module, "task", None)  # trials save no checkpoints
    return (task.monitor_key, task.monitor_mode) if task is not None and task.monitor_key else None


def best_entry(entries: list[dict], key: str, mode: str, usable: bool = False) -> dict | None:
    """The first entry with the best ``key`` (NaN and missing never win); ``usable``: collapsed
    entries never win either. None when no entry qualifies."""
    sign = 1 if mode == "max" else -1
    best, best_value = None, 0.0
    for entry in entries:
        value = entry["metrics"].get(key, entry.get("losses", {}).get(key))
        if value is None or value != value or (usable and entry["collapsed"]):
            continue
        if best is None or sign * value > sign * best_value:
            best, best_value = entry, value
    return best


def best_and_last(task: GlueTask, entries: list[dict]) -> dict:
    """``{"best": entry, "last": entry}`` by the task's monitored metric (None for no validation)."""
    best = best_entry(entries, task.monitor_key, task.monitor_mode) if task.monitor_key else None
    if best is None and entries:  # every value NaN: the first, as before any comparison
        best = entries[0]
    return {"best": best, "last": entries[-1] if entries else None}


class History(L.Callback):
    """The dev metrics and collapse check of every validation of a fit (sanity checks excluded),
    saved in checkpoints so that a resumed fit still knows its earlier validations."""

    def __init__(self):
        self.entries: list[dict] = []
        self._predictions: dict[int, list[torch.Tensor]] = {}
        self._open = False

    @staticmethod
    def of(trainer: L.Trainer) -> History | None:
        """The trainer's history, with the validation that is ending already in it (whichever
        callback asks first)."""
        for callback in trainer.callbacks:
            if isinstance(callback, History):
                callback._close(trainer)
                return callback
        return None

    def best(self, key: str, mode: str, usable: bool = False) -> dict | None:
        return best_entry(self.entries, key, mode, usable)

    @property
    def last(self) -> dict | None:
        return self.entries[-1] if self.entries else None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":  # a checkpoint's entries, if resuming, are loaded after this
            self.entries = []

    def state_dict(self) -> dict:
        return {"history": self.entries}

    def load_state_dict(self, state_dict: dict) -> None:
        self.entries = list(state_dict.get("history", []))

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._predictions = {}
        self._open = not trainer.sanity_checking and trainer.state.fn == "fit"

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if self._open and isinstance(outputs, torch.Tensor):
            self._predictions.setdefault(dataloader_idx, []).append(outputs.detach().cpu())

    def on_validation_end(self, trainer, pl_module) -> None:
        self._close(trainer)

    def _close(self, trainer: L.Trainer) -> None:
        if not self._open:
            return
        self._open = False
        task: GlueTask = trainer.lightning_module.task
        values = {k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("val")}
        metrics, reasons = {}, []
        for i, split in enumerate(task.validation):
            split_metrics = {k: v for k, v in values.items() if k in task.metric_keys[split.name]}
            metrics.update(split_metrics)
            reason = collapse_reason(task, torch.cat(self._predictions.get(i, [torch.empty(0)])),
                                     split_metrics)
            if reason:
                reasons.append(f"{split.prefix}: {reason}" if len(task.validation) > 1 else reason)
        self._predictions = {}
        self.entries.append({
            "epoch": epoch_done(trainer), "step": trainer.global_step, "metrics": metrics,
            "losses": {k: v for k, v in values.items() if k not in metrics},
            "collapsed": "; ".join(reasons) or None,
        })
