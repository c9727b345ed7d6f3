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

from glue_lit.progress import dev_metrics, epoch_done, hms, is_better, monitored


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
    """Dev metrics per validation: ``hp/best_<metric>`` with the run's hyper-parameters in TensorBoard,
    and at the end of the fit a table of them and the wall time.

    Its history is saved in checkpoints, so a resumed fit still knows its earlier validations.
    """

    def __init__(self, print_table: bool = True):
        self.print_table = print_table
        self.history: list[dict] = []
        self._start = time.monotonic()

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":  # a checkpoint's history, if resuming, is loaded after this
            self.history, self._start = [], time.monotonic()

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))

    def best(self, trainer: L.Trainer) -> dict | None:
        """The validation with the best monitored metric (the first of equal ones), or None."""
        monitor = monitored(trainer)
        if monitor is None:
            return None
        key, mode = monitor
        best = None
        for entry in self.history:
            value = entry["metrics"].get(key)
            if value is not None and is_better(value, best["metrics"][key] if best else None, mode):
                best = entry
        return best

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        entry = {"epoch": epoch_done(trainer), "step": trainer.global_step, "metrics": dev_metrics(trainer)}
        self.history.append(entry)
        best = self.best(trainer)
        if best is None:
            return
        metrics = {f"hp/best_{k}": v for k, v in best["metrics"].items()}
        for logger in trainer.loggers:
            # Only TensorBoard's log_hyperparams takes metrics (CSVLogger's takes params alone).
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(run_hparams(trainer), metrics, step=trainer.global_step)

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        if not self.print_table or not self.history:
            return
        best = self.best(trainer)
        keys = list(dict.fromkeys(k for entry in self.history for k in entry["metrics"]))
        head = ["epoch", "step", *keys]
        rows = [[f"{e['epoch']:.2f}", str(e["step"]),
                 *(f"{e['metrics'][k]:.4f}" if k in e["metrics"] else "-" for k in keys)]
                + (["<- best"] if e is best else []) for e in self.history]
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
