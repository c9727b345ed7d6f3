"""One trial of a study: sample the space, build ``fit`` with ``glue_lit.cli.build_run``, train with
Optuna's pruning callback, and return the best validation score that did not collapse; with
``tune.seeds``, one such run per seed, and the seeds' score (median by default).

Pruning with seeds: the pruner sees the first seed's validations only, and the other seeds run once
the first has finished. Every trial's first seed is the same seed, so the pruner compares curves
trained from the same initialisation and data order, as in a single-seed study, and an unpromising
parameter set costs a part of one run, not of N. A median over the seeds run so far would compare a
trial at its first seed with trials at their third, and Optuna keeps one value per validation step.
"""

from __future__ import annotations

import gc
import math
import os
import socket

import optuna
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from optuna_integration import PyTorchLightningPruningCallback

from glue_lit.cli import build_run
from glue_lit.errors import GlueLitError
from glue_lit.history import History
from glue_lit.tune.options import TuneSetup
from glue_lit.tune.seeds import finished_seeds, result, score
from glue_lit.tune.space import as_override, suggest
from glue_lit.tune.study import INTERRUPTED, one_line


class TrialPruning(PyTorchLightningPruningCallback):
    """The Optuna pruning callback, reporting every validation (the parent reports per epoch, so a
    trial could not be pruned within an epoch) and keeping the best score of the trial.

    A validation whose predictions collapsed (``history`` says so: one class for the whole dev set,
    a constant output) is never the trial's score and reaches the pruner as NaN, which Optuna's
    pruners read as "nothing learned yet": on WNLI the majority class scores 56.3% accuracy, above
    every model that learned something, and a study would otherwise pick the recipe that learns
    nothing.
    """

    def __init__(self, trial: optuna.Trial, monitor: str, mode: str, history: History, prune: bool = True):
        super().__init__(trial, monitor)
        self.mode, self.history, self.prune = mode, history, prune
        self.reports = 0
        self.best: float | None = None
        self.collapsed: list[str] = []
        self.curve: list[float] = []  # every validation's value, NaN where it collapsed

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
            if self.prune:
                self._trial.set_user_attr("collapsed", self.collapsed)
            value = math.nan
        best = self.history.best(self.monitor, self.mode, usable=True)
        self.best = best["metrics"][self.monitor] if best else None
        self.curve.append(value)
        if not self.prune:  # a later seed of the trial: the pruner has seen the first one
            return
        self._trial.report(value, step=self.reports - 1)
        if self._trial.should_prune():
            raise optuna.TrialPruned(f"pruned at validation {self.reports}, step {trainer.global_step}")


class Objective:
    """One trial: sample the space, run ``fit`` with the pruning callback, return the best score."""

    def __init__(self, setup: TuneSetup):
        self.setup, self.folder, self.task = setup, setup.folder, setup.task
        self.space = setup.options.distributions()

    def trial_args(self, number: int, seed: int | None = None) -> list[str]:
        """What every trial adds to the study's ``fit`` config: its own log folder (one per seed),
        the validations per epoch, the train subset, and the seed of ``tune.seeds``."""
        opts = self.setup.options
        version = f"trial_{number}" if seed is None else f"trial_{number}/seed_{seed}"
        logger = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {
            "save_dir": str(self.folder), "name": "", "version": version,
            "default_hp_metric": False}}
        args = [
            "--config", self.setup.fit_config,
            "--trainer.logger", yaml.safe_dump(logger, default_flow_style=True, width=10_000).strip(),
            "--trainer.val_check_interval", repr(1 / opts.val_checks_per_epoch),
        ]
        if opts.train_subset is not None:
            args += ["--data.train_subset", repr(opts.train_subset)]
        if seed is not None:
            args += ["--seed_everything", str(seed)]
        return args

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            return self.fit(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", INTERRUPTED)
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
        for inherited in ("fail_reason", "collapsed", "pruned", "seeds", "steps", "validations"):
            if inherited in trial.user_attrs:  # a retry starts with the attributes of the trial it repeats
                trial.set_user_attr(inherited, None)
        seeds = self.setup.options.seed_list
        if seeds is None:
            return self.scored(self.run(trial, values, None, prune=True))
        # Each finished seed is stored at once: a killed trial's retry trains only the missing ones.
        done = finished_seeds(trial, seeds)
        if done:
            trial.set_user_attr("seeds", done)
        first = done.get(str(seeds[0]))
        for step, value in enumerate(first["curve"] if first else []):
            trial.report(math.nan if value is None else value, step)  # the pruner's view, as it ran
        steps = 0
        for i, seed in enumerate(seeds):
            if str(seed) in done:
                continue
            try:
                run = self.run(trial, values, seed, prune=i == 0)
                # A seed that learned nothing prunes the trial: the seeds are there to catch the
                # recipe that holds the model at the majority class on some of them.
                done[str(seed)] = result(self.scored(run), self.steps, run.curve, run.collapsed)
                trial.set_user_attr("seeds", done)
            except optuna.TrialPruned as pruned:
                trial.set_user_attr("pruned", f"seed {seed}: {pruned}")
                raise optuna.TrialPruned(f"seed {seed}: {pruned}") from None
            except GlueLitError as err:
                raise GlueLitError(f"seed {seed}: {err}") from None
            finally:
                steps += self.steps
                trial.set_user_attr("steps", steps)
        direction = self.setup.direction
        return score([done[str(s)]["value"] for s in seeds], self.setup.options.seed_score, direction)

    def scored(self, run: TrialPruning) -> float:
        """The run's best validation, or why it has none."""
        if run.best is None and run.collapsed:  # learned nothing: not a failure to retry
            raise optuna.TrialPruned(f"every validation collapsed ({run.collapsed[-1]})")
        if run.best is None:
            raise GlueLitError(f"{self.task.monitor_key} was never finite (nan): the model diverged "
                               "or predicts a constant")
        return run.best

    def run(self, trial: optuna.Trial, values: dict, seed: int | None, prune: bool) -> TrialPruning:
        """One ``fit`` run of the trial's values (on ``seed``), reporting to the pruner if ``prune``."""
        self.steps = 0
        overrides = [as_override(k, v) for k, v in values.items()]
        cli = build_run([*self.trial_args(trial.number, seed), *overrides])
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
        pruning = TrialPruning(trial, self.task.monitor_key, self.task.monitor_mode, history, prune)
        cli.trainer.callbacks = [c for c in cli.trainer.callbacks if not isinstance(c, dropped)]
        cli.trainer.callbacks += [pruning]
        try:
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        except SystemExit:  # Lightning turns Ctrl-C in fit into sys.exit(1)
            raise KeyboardInterrupt from None
        finally:
            self.steps = cli.trainer.global_step
            if seed is None:
                trial.set_user_attr("steps", cli.trainer.global_step)
                trial.set_user_attr("validations", pruning.reports)
        return pruning
