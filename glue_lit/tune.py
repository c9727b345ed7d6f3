"""``python -m glue_lit tune``: an Optuna study whose trials are real ``fit`` runs.

::

    python -m glue_lit tune --config configs/cola.yaml --config configs/offline.yaml \\
        --config configs/tune/cola.yaml [--tune.n_trials 20] [--tune.storage URL] [fit options]

Each trial is ``fit`` through the same CLI (``glue_lit.cli.cli_main``) with the same configs and
options, then the trial's sampled values, on ``tune.train_subset`` of the train split (default
1/10) and the whole dev set. Optuna's ``PyTorchLightningPruningCallback`` reports the task's
monitored metric (``val/mcc`` for CoLA...) at every validation, in the task's direction, and the
pruner stops unpromising trials. A trial's value is its best validation score, the one ``fit``'s
checkpoint would keep. Trials train the epochs they sample: ``fit``'s early stopping is off in
trials unless ``tune.early_stopping`` is set. The search space and options go in a ``tune:``
section (see ``glue_lit.tune_space`` and ``configs/tune/cola.yaml``)::

    tune:
      n_trials: 12
      pruner: median        # or hyperband, none
      space:
        model.learning_rate: {type: float, low: 1.0e-5, high: 3.0e-4, log: true}
        data.batch_size: {type: categorical, choices: [16, 32, 64]}
        trainer.max_epochs: {type: int, low: 2, high: 5}

Everything lands in ``<study_dir>/<study_name>/`` (``studies/cola/``): ``study.db`` (the default
storage: run ``tune`` again to resume, or view it with ``optuna-dashboard sqlite:///studies/cola/
study.db``), ``trial_<n>/`` (each trial's TensorBoard logs and config), ``trials.csv``,
``best.yaml`` (the best trial's values, for ``fit --config configs/cola.yaml --config
studies/cola/best.yaml`` on the full data) and ``plots/*.html``.

Several workers (processes or machines) can share one study through a PostgreSQL storage URL;
``n_trials`` counts the whole study, so they stop together. Trials send heartbeats: a trial whose
worker died (SIGKILL, lost machine) is marked failed after ``grace_period`` and retried by the next
worker, or by ``tune`` run again. A trial that fails (NaN loss, out of memory, a bad value) is
recorded as FAIL with its reason and the study goes on; Ctrl-C stops and keeps what finished.
"""

from __future__ import annotations

import contextlib
import gc
import io
import math
import os
import signal
import socket
import sys
import warnings
from pathlib import Path
from unittest import mock

import optuna
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from optuna_integration import PyTorchLightningPruningCallback

from glue_lit.cli import GlueCLI, cli_main
from glue_lit.errors import GlueLitError
from glue_lit.tasks import GlueTask, get_task
from glue_lit.tune_report import write_reports
from glue_lit.tune_space import TuneArgs, TuneOptions, as_override, parse_tune_args, suggest
from glue_lit.tune_study import one_line, open_study, run_study


class TrialPruning(PyTorchLightningPruningCallback):
    """The Optuna pruning callback, reporting every validation (the parent reports per epoch, so a
    trial could not be pruned within an epoch) and keeping the best score of the trial."""

    def __init__(self, trial: optuna.Trial, monitor: str, mode: str):
        super().__init__(trial, monitor)
        self.mode = mode
        self.reports = 0
        self.best: float | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        super().on_fit_start(trainer, pl_module)
        if self.is_ddp_backend:
            raise GlueLitError("tune runs each trial on one device; start one tune worker per device")

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            raise GlueLitError(f"the monitored metric {self.monitor} was not logged in validation")
        value = score.item()
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if math.isfinite(value) and better:
            self.best = value
        self._trial.report(value, step=self.reports)
        self.reports += 1
        if self._trial.should_prune():
            raise optuna.TrialPruned(f"pruned at validation {self.reports}, step {trainer.global_step}")


def _build_cli(args: list[str]) -> GlueCLI:
    """Parse and instantiate like ``fit``; a value the parser rejects is a GlueLitError."""
    captured = io.StringIO()
    try:
        # sys.argv emptied: LightningCLI warns when it is given args while sys.argv has some too.
        with contextlib.redirect_stderr(captured), mock.patch.object(sys, "argv", sys.argv[:1]):
            cli = cli_main(args, run=False)
    except SystemExit:  # jsonargparse printed usage and "error: ..." and exited
        text = captured.getvalue()
        reason = " ".join(text[text.rfind("error:") + 6:].split()) if "error:" in text else text[-300:]
        raise GlueLitError(f"the fit parser rejected the trial's options: {reason}") from None
    sys.stderr.write(captured.getvalue())
    return cli


class Objective:
    """One trial: sample the space, run ``fit`` with the pruning callback, return the best score."""

    def __init__(self, args: TuneArgs, folder: Path, task: GlueTask):
        self.args, self.folder, self.task = args, folder, task

    def fixed_args(self, number: int) -> list[str]:
        opts = self.args.options
        logger = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {
            "save_dir": str(self.folder), "name": "", "version": f"trial_{number}",
            "default_hp_metric": False}}
        args = [
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
        values = {key: suggest(trial, key, dist) for key, dist in self.args.space.items()}
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        cli = _build_cli([*self.args.fit_args, *self.fixed_args(trial.number),
                          *(as_override(k, v) for k, v in values.items())])
        if cli.model.task.name != self.task.name:
            raise GlueLitError(f"a trial trains {cli.model.task.name}, the study tunes {self.task.name}")
        opts = self.args.options
        # The final model is trained by `fit` on the full data: trials write no checkpoints.
        dropped: tuple[type, ...] = (ModelCheckpoint,)
        if opts.early_stopping:
            for stopper in cli.trainer.early_stopping_callbacks:  # patience counts validations
                stopper.patience *= opts.val_checks_per_epoch
        else:
            dropped += (EarlyStopping,)
        pruning = TrialPruning(trial, self.task.monitor_key, self.task.monitor_mode)
        cli.trainer.callbacks = [c for c in cli.trainer.callbacks if not isinstance(c, dropped)]
        cli.trainer.callbacks.append(pruning)
        try:
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        except SystemExit:  # Lightning turns Ctrl-C in fit into sys.exit(1)
            raise KeyboardInterrupt from None
        finally:
            trial.set_user_attr("steps", cli.trainer.global_step)
        if pruning.best is None:
            raise GlueLitError(f"{self.task.monitor_key} was never finite (nan): the model diverged "
                               "or predicts a constant")
        return pruning.best


def _task_name(fit_args: list[str]) -> str:
    """The task the fit arguments select (the last one given wins, as in the parser)."""
    name = "cola"  # GLUEDataModule's default
    for i, arg in enumerate(fit_args):
        flag, eq, value = arg.partition("=")
        value = value if eq else (fit_args[i + 1] if i + 1 < len(fit_args) else "")
        if flag == "--config":
            tree = yaml.safe_load(Path(value).read_text() if Path(value).is_file() else value) or {}
            name = (tree.get("data") or {}).get("task_name", name)
        elif flag == "--data.task_name":
            name = value
    return name


def main(argv: list[str]) -> None:
    if {"-h", "--help"} & set(argv):
        print(__doc__, TuneOptions.__doc__, sep="\n")
        return
    args = parse_tune_args(argv)
    with warnings.catch_warnings():
        # Heartbeats and their retry callback are "experimental" in Optuna; they are what we need.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        tune(args)


def tune(args: TuneArgs) -> None:
    opts = args.options
    task = get_task(_task_name(args.fit_args))
    if not task.monitor_key:
        raise GlueLitError(f"task {task.name!r} has no labelled dev split to tune on")
    name = opts.study_name or task.name
    folder = Path(opts.study_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    study = open_study(opts, name, folder, task)
    error: GlueLitError | None = None
    interrupted = False
    sigint = signal.getsignal(signal.SIGINT)
    try:
        run_study(study, Objective(args, folder, task), opts)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, sigint)  # Lightning left Ctrl-C ignored
        interrupted = True
    except GlueLitError as err:
        error = err
    write_reports(study, folder, task, args)
    if error:
        raise error
    if interrupted:
        print("interrupted: finished trials are kept; run the same command to resume", file=sys.stderr)
        sys.exit(130)
