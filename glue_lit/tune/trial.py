"""One trial of a study: sample the space, build ``fit`` with ``glue_lit.cli.build_run``, train with
Optuna's pruning callback, and return the best validation score that did not collapse."""

from __future__ import annotations

import gc
import math
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from optuna_integration import PyTorchLightningPruningCallback

from glue_lit.cli import build_run
from glue_lit.errors import GlueLitError
from glue_lit.history import History
from glue_lit.tune.space import as_override, suggest
from glue_lit.tune.study import one_line

if TYPE_CHECKING:
    from glue_lit.tune.command import TuneSetup


class TrialPruning(PyTorchLightningPruningCallback):
    """The Optuna pruning callback, reporting every validation (the parent reports per epoch, so a
    trial could not be pruned within an epoch) and keeping the best score of the trial.

    A validation whose predictions collapsed (``history`` says so: one class for the whole dev set,
    a constant output) is never the trial's score and reaches the pruner as NaN, which Optuna's
    pruners read as "nothing learned yet": on WNLI the majority class scores 56.3% accuracy, above
    every model that learned something, and a study would otherwise pick the recipe that learns
    nothing.
    """

    def __init__(self, trial: optuna.Trial, monitor: str, mode: str, history: History):
        super().__init__(trial, monitor)
        self.mode, self.history = mode, history
        self.reports = 0
        self.best: float | None = None
        self.collapsed: list[str] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        super().on_fit_start(trainer, pl_module)
        if self.is_ddp_backend:
            raise GlueLitError("tune runs each trial on one device; start one worker per device "
                               "with --tune.workers N")

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            raise GlueLitError(f"the monitored metric {self.monitor} was not logged in validation")
        value = score.item()
        self.reports += 1
        entry = History.of(trainer).last  # this validation's
        collapsed = entry["collapsed"] if entry else None
        if collapsed:
            self.collapsed.append(f"validation {self.reports}: {collapsed}")
            self._trial.set_user_attr("collapsed", self.collapsed)
            value = math.nan
        best = self.history.best(self.monitor, self.mode, usable=True)
        self.best = best["metrics"][self.monitor] if best else None
        self._trial.report(value, step=self.reports - 1)
        if self._trial.should_prune():
            raise optuna.TrialPruned(f"pruned at validation {self.reports}, step {trainer.global_step}")


class Objective:
    """One trial: sample the space, run ``fit`` with the pruning callback, return the best score."""

    def __init__(self, setup: TuneSetup, folder: Path):
        self.setup, self.folder, self.task = setup, folder, setup.task
        self.space = setup.options.distributions()

    def trial_args(self, number: int) -> list[str]:
        """What every trial adds to the study's ``fit`` config: its own log folder, the validations
        per epoch and the train subset."""
        opts = self.setup.options
        logger = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {
            "save_dir": str(self.folder), "name": "", "version": f"trial_{number}",
            "default_hp_metric": False}}
        args = [
            "--config", self.setup.fit_config,
            "--trainer.logger", yaml.safe_dump(logger, default_flow_style=True, width=10_000).strip(),
            "--trainer.val_check_interval", repr(1 / opts.val_checks_per_epoch),
        ]
        if opts.train_subset is not None:
            args += ["--data.train_subset", repr(opts.train_subset)]
        return args

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            return self.fit(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted (Ctrl-C)")
            raise
        except Exception as err:
            trial.set_user_attr("fail_reason", one_line(err))
            raise
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # an out-of-memory trial must not starve the next one

    def fit(self, trial: optuna.Trial) -> float:
        values = {key: suggest(trial, key, dist) for key, dist in self.space.items()}
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        cli = build_run([*self.trial_args(trial.number), *(as_override(k, v) for k, v in values.items())])
        if cli.model.task.name != self.task.name:
            raise GlueLitError(f"a trial trains {cli.model.task.name}, the study tunes {self.task.name}")
        opts = self.setup.options
        # The final model is trained by `fit` on the full data: trials write no checkpoints.
        dropped: tuple[type, ...] = (ModelCheckpoint,)
        if opts.early_stopping:
            for stopper in cli.trainer.early_stopping_callbacks:  # patience counts validations
                stopper.patience *= opts.val_checks_per_epoch
        else:
            dropped += (EarlyStopping,)
        history = History.of(cli.trainer)  # the run's own, installed by GlueCLI
        pruning = TrialPruning(trial, self.task.monitor_key, self.task.monitor_mode, history)
        cli.trainer.callbacks = [c for c in cli.trainer.callbacks if not isinstance(c, dropped)]
        cli.trainer.callbacks += [pruning]
        try:
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        except SystemExit:  # Lightning turns Ctrl-C in fit into sys.exit(1)
            raise KeyboardInterrupt from None
        finally:
            trial.set_user_attr("steps", cli.trainer.global_step)
            trial.set_user_attr("validations", pruning.reports)
        if pruning.best is None and pruning.collapsed:  # learned nothing: not a failure to retry
            raise optuna.TrialPruned(f"every validation collapsed ({pruning.collapsed[-1]})")
        if pruning.best is None:
            raise GlueLitError(f"{self.task.monitor_key} was never finite (nan): the model diverged "
                               "or predicts a constant")
        return pruning.best
