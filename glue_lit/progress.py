"""Progress that works in a log file: plain lines instead of a live bar.

Under SLURM, nohup or CI stdout is a file. Lightning's live bars are made for terminals: the Rich bar
(the default since Lightning 2.6 when rich is installed) writes nothing to a file until the fit ends,
and TQDM writes a frame per refresh. Lightning does not switch by itself (Lightning-AI/pytorch-lightning
#6647, closed as won't fix), so ``GlueCLI`` installs :class:`LogLinesProgressBar` when stdout is no
terminal (``glue_lit.console.interactive``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import lightning.pytorch as L
import torch
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.utilities.data import extract_batch_size

from glue_lit.history import History, monitored


def hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, s = divmod(int(round(seconds)), 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LogLinesProgressBar(ProgressBar):
    """Progress as plain lines for logs: a few per training epoch, one per validation, a few per predict.

    Training lines give the step, the share of the epoch, the mean train loss since the previous line,
    the learning rate, samples/s and the time left in the epoch and in the fit; validation lines every
    dev metric and the best so far. Numbers are read back from the device only when a line is printed.

    Args:
        lines_per_epoch: training lines per epoch, evenly spaced (the last at the epoch's end).
        every_s: also print a line when this many seconds passed since the previous one (long epochs).
    """

    def __init__(self, lines_per_epoch: int = 4, every_s: float = 300.0):
        super().__init__()
        self.lines_per_epoch = max(1, lines_per_epoch)
        self.every_s = every_s
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args, **kwargs) -> None:
        # A log file is block-buffered: without the flush, `tail -f` shows nothing for minutes.
        if self._enabled:
            print(*args, **kwargs, flush=True)

    def on_train_start(self, trainer, pl_module) -> None:
        self._fit_train_s, self._fit_val_s = 0.0, 0.0
        # A fit resumed from a checkpoint written at an epoch's end finishes that epoch without
        # starting it (on_train_epoch_end comes without on_train_epoch_start).
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = self._last_line = time.monotonic()
        self._epoch_val_s = self._since_val_s = 0.0
        self._epoch_batches = self._samples = self._loss_n = 0
        self._loss_sum: torch.Tensor | None = None
        self._lines: int | None = None  # shares of the epoch already printed

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):  # summed on the device: no host sync per step
            self._loss_sum = loss.detach() if self._loss_sum is None else self._loss_sum + loss.detach()
            self._loss_n += 1
        self._samples += extract_batch_size(batch)
        self._epoch_batches += 1
        total, done = self.total_train_batches, batch_idx + 1
        shares = done * self.lines_per_epoch // total if math.isfinite(total) and total else 0
        if self._lines is None:  # a resumed epoch starts past its first shares
            self._lines = batch_idx * self.lines_per_epoch // total if math.isfinite(total) and total else 0
        now = time.monotonic()
        last = 0 < trainer.max_steps <= trainer.global_step  # the fit ends mid-epoch: say where
        if shares > self._lines or last or now - self._last_line >= self.every_s:
            self._lines = max(self._lines, shares)
            self.print(self._train_line(trainer, done, total, now))

    def _train_line(self, trainer: L.Trainer, done: int, total: float, now: float) -> str:
        accumulate = trainer.accumulate_grad_batches
        epoch_s = now - self._epoch_start - self._epoch_val_s
        span_s = max(1e-9, now - self._last_line - self._since_val_s)
        per_batch = epoch_s / max(1, self._epoch_batches)
        # Time left in the fit: its remaining batches at this epoch's pace, plus validation time in
        # the proportion it took so far.
        all_steps = trainer.estimated_stepping_batches
        val_share = (self._fit_val_s + self._epoch_val_s) / max(1e-9, self._fit_train_s + epoch_s)
        fit_left = (all_steps - trainer.global_step) * accumulate * per_batch * (1 + val_share)
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        steps = f"/{int(all_steps)}" if math.isfinite(all_steps) else ""
        parts = [f"epoch {trainer.current_epoch + 1}{epochs}", f"step {trainer.global_step}{steps}"]
        if math.isfinite(total):
            parts.append(f"{100 * done / total:.0f}% of epoch")
        if self._loss_sum is not None:
            # Lightning returns the loss divided by the accumulation steps; undo it for the mean.
            parts.append(f"train/loss {self._loss_sum.item() * accumulate / self._loss_n:.4f}")
        if trainer.optimizers:
            parts.append(f"lr {trainer.optimizers[0].param_groups[0]['lr']:.3g}")
        parts.append(f"{self._samples / span_s:.1f} samples/s")
        epoch_left = (total - done) * per_batch
        parts.append(f"left {hms(epoch_left)} (fit {hms(fit_left)})")
        self._last_line, self._since_val_s, self._samples = now, 0.0, 0
        self._loss_sum, self._loss_n = None, 0
        return "  ".join(parts)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._fit_train_s += time.monotonic() - self._epoch_start - self._epoch_val_s
        self._fit_val_s += self._epoch_val_s

    def on_validation_start(self, trainer, pl_module) -> None:
        self._val_start = time.monotonic()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return  # `validate` ends with Lightning's own results table
        took = time.monotonic() - self._val_start
        self._epoch_val_s += took
        self._since_val_s += took
        history = History.of(trainer)
        if history is None or history.last is None:
            return
        entry = history.last
        values = {**entry["metrics"], **entry["losses"]}
        line = f"validation epoch {entry['epoch']:.2f} step {entry['step']} ({hms(took)}): " + "  ".join(
            f"{k} {v:.4f}" for k, v in sorted(values.items())
        )
        monitor = monitored(trainer)
        best = history.best(*monitor) if monitor else None
        if best is not None:
            key = monitor[0]
            value = best["metrics"].get(key, best["losses"].get(key))
            line += f"  | best {key} {value:.4f} (epoch {best['epoch']:.2f})"
        self.print(line)

    def on_predict_start(self, trainer, pl_module) -> None:
        self._predict_start = time.monotonic()
        self._predict_lines: dict[int, int] = {}

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        total = trainer.num_predict_batches[dataloader_idx]
        if not math.isfinite(total) or not total:
            return
        done = batch_idx + 1
        shares = done * self.lines_per_epoch // total
        if shares > self._predict_lines.get(dataloader_idx, 0):
            self._predict_lines[dataloader_idx] = shares
            elapsed = time.monotonic() - self._predict_start
            name = f" (dataloader {dataloader_idx})" if len(trainer.num_predict_batches) > 1 else ""
            self.print(f"predict{name} {done}/{total} batches ({100 * done / total:.0f}%), "
                       f"{hms(elapsed)} so far")
            if done == total:
                self._predict_start = time.monotonic()
