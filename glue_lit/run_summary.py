"""The dev metrics of every validation of a fit: to TensorBoard's HPARAMS view, and as a table at the end.

TensorBoard compares runs in its HPARAMS view only when each run logs its hyper-parameters together
with metrics (Lightning logs them without any when ``default_hp_metric`` is off, and with a
placeholder ``hp_metric`` of -1 when it is on). :class:`RunSummary` logs them with the dev metrics of
the best validation so far, ``hp/best_<metric>`` (``hp/best_val/mcc``), at every validation, so a
sweep or a tuning study (its trials are fits) is compared with ``tensorboard --logdir``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import lightning.pytorch as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from glue_lit.history import History, monitored
from glue_lit.progress import hms


def run_hparams(trainer: L.Trainer) -> dict[str, Any]:
    """What tells runs apart: the model's and the data module's arguments (merged as Lightning's own
    hyper-parameter logging does) and the trainer values a recipe sets."""
    params: dict[str, Any] = {}
    if trainer.datamodule is not None:
        params.update(trainer.datamodule.hparams_initial)
    params.update(trainer.lightning_module.hparams_initial)
    params.update({
        "max_epochs": trainer.max_epochs, "max_steps": trainer.max_steps,
        "precision": trainer.precision, "accumulate_grad_batches": trainer.accumulate_grad_batches,
        "gradient_clip_val": trainer.gradient_clip_val, "devices": trainer.num_devices * trainer.num_nodes,
        "seed_everything": os.environ.get("PL_GLOBAL_SEED"),  # set by seed_everything
    })
    return params


class RunSummary(L.Callback):
    """Dev metrics per validation, read from the run's :class:`~glue_lit.history.History`:
    ``hp/best_<metric>`` with the run's hyper-parameters in TensorBoard, and at the end of the fit a
    table of them and the wall time."""

    def __init__(self, print_table: bool = True):
        self.print_table = print_table
        self._start = time.monotonic()

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            self._start = time.monotonic()

    @staticmethod
    def _best(trainer: L.Trainer, history: History) -> dict | None:
        monitor = monitored(trainer)
        return history.best(*monitor) if monitor else None

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        history = History.of(trainer)
        best = self._best(trainer, history) if history else None
        if best is None:
            return
        metrics = {f"hp/best_{k}": v for k, v in {**best["metrics"], **best["losses"]}.items()}
        for logger in trainer.loggers:
            # Only TensorBoard's log_hyperparams takes metrics (CSVLogger's takes params alone).
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(run_hparams(trainer), metrics, step=trainer.global_step)

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        history = History.of(trainer)
        if not self.print_table or not history or not history.entries:
            return
        best = self._best(trainer, history)
        entries = [{**e["metrics"], **e["losses"]} for e in history.entries]
        keys = sorted({k for values in entries for k in values})
        head = ["epoch", "step", *keys]
        rows = [[f"{e['epoch']:.2f}", str(e["step"]),
                 *(f"{values[k]:.4f}" if k in values else "-" for k in keys)]
                + (["<- best"] if e is best else []) for e, values in zip(history.entries, entries)]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        # The logger's own folder: `trainer.log_dir` broadcasts, a collective that would hang or crash
        # DDP here, where only rank 0 runs.
        log_dir = getattr(trainer.logger, "log_dir", None)
        where = f" ({log_dir})" if log_dir else ""
        lines = [f"dev metrics per validation{where}:",
                 "  ".join(h.rjust(w) for h, w in zip(head, widths)).rstrip()]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) + "".join(f"  {c}" for c in r[len(head):])
                  for r in rows]
        stopped = [c for c in trainer.early_stopping_callbacks if c.wait_count >= c.patience]
        why = (f"; early stopping: {stopped[0].monitor} did not improve in {stopped[0].patience} validations"
               if stopped else "")
        lines.append(f"fit took {hms(time.monotonic() - self._start)} ({trainer.global_step} steps{why})")
        print("\n".join(lines), flush=True)
