"""The options of ``glue_lit tune``: a ``tune:`` section in any ``--config`` file, or ``--tune.<name>``.

jsonargparse reads them into ``TuneOptions`` in the same parser as ``fit``'s options (see
command.py), so a config holds ``tune:`` beside ``data:`` and ``model:``, later configs and the
command line win, and the docstring below is what ``tune --help`` shows for each option.
``TuneSetup`` is what the command was asked: these options, the task and the ``fit`` config; the
study, trial, report and worker modules take it whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jsonargparse.typing import PositiveInt
from optuna.distributions import BaseDistribution

from glue_lit.errors import GlueLitError
from glue_lit.tasks import GlueTask
from glue_lit.tune.seeds import SeedScore, parse_seeds
from glue_lit.tune.space import ParamSpec, distributions

STORAGE_ENV = "GLUE_LIT_STORAGE"


@dataclass(frozen=True)
class TuneOptions:
    """Tuning options (the tune: section of a config, or --tune.<name>)

    Args:
        space: Search space: dotted fit option -> {type: float|int, low, high[, log | step]} or
            {type: categorical, choices: [...]}, e.g. {model.learning_rate: {type: float, low:
            1.0e-5, high: 3.0e-4, log: true}, data.batch_size: {type: categorical, choices: [16,
            32]}}. A later config's space replaces an earlier one's; one entry given as
            --tune.space.<dotted option> '{type: int, low: 1, high: 3}' is added to it (or
            replaces that entry; null removes it).
        seeds: Seeds each trial trains its parameter set on (seed_everything), one run after the
            other: 1,2,3, a range 1-3, or [1, 2, 3]; a single number is that one seed. The trial's
            value is seed_score over their values; the pruner sees the first seed's validations
            only, and the other seeds run once it has finished. null: one run with fit's seed.
        seed_score: The trial's value from its seeds' values: median, mean, or min (the worst seed).
        n_trials: Finished (complete or pruned) trials the study should reach, counting the trials
            already in it and those of other workers; null: until the timeout.
        timeout: Seconds this worker may run before it starts no new trial; null: no limit.
        train_subset: Part of the train split each trial trains on (a fraction, or a count); the
            whole dev set always validates. null: what the fit options say.
        val_checks_per_epoch: Validations per epoch; each one is a pruning point, and early
            stopping patience is scaled by it so that it still counts epochs.
        early_stopping: Keep fit's early stopping in trials. Off by default: a trial trains the
            epochs it sampled (trainer.max_epochs may be searched) and the pruner stops it early.
        pruner: Stops unpromising trials at a validation: median, hyperband or none.
        pruner_startup_trials: Median pruner: trials that complete before any is pruned.
        pruner_warmup_steps: Validations a trial always gets before it can be pruned.
        sampler_seed: TPE seed; trial n's random draws depend only on it and n.
        sampler_startup_trials: Random trials before TPE starts modelling the results.
        study_name: Study name in the storage; default: the task name.
        study_dir: Folder of the study folders (<study_dir>/<study_name>/).
        storage: Optuna storage URL shared by workers (postgresql://user:password@host/db); default:
            $GLUE_LIT_STORAGE, else the SQLite file study.db in the study folder. Passwords are
            masked in everything tune writes or prints.
        workers: Worker processes to start on this machine, all on the one study; each gets its own
            visible GPU (CUDA_VISIBLE_DEVICES) when there are GPUs, round robin if fewer.
        heartbeat_interval: Seconds between a running trial's heartbeats in the storage.
        grace_period: Seconds without a heartbeat before a trial counts as dead (its worker was
            killed): it is marked failed and retried. Default: twice heartbeat_interval. Keep it
            above any stall of a live worker, or its trial is failed under it.
        max_retry: Times a dead trial is retried with the same parameters.
        max_consecutive_failures: Failed trials in a row after which this worker gives up.
        enqueue: Parameter sets ({key: value}) to try first, e.g. the untuned recipe.
    """

    space: dict[str, ParamSpec] = field(default_factory=dict)
    seeds: list[int] | int | str | None = None
    seed_score: SeedScore = "median"
    n_trials: PositiveInt | None = 12
    timeout: float | None = None
    train_subset: float | None = 0.1
    val_checks_per_epoch: PositiveInt = 4
    early_stopping: bool = False
    pruner: Literal["median", "hyperband", "none"] = "median"
    pruner_startup_trials: int = 3
    pruner_warmup_steps: int = 1
    sampler_seed: int | None = 42
    sampler_startup_trials: int = 5
    study_name: str | None = None
    study_dir: str = "studies"
    storage: str | None = None
    workers: PositiveInt = 1
    heartbeat_interval: PositiveInt = 60
    grace_period: PositiveInt | None = None
    max_retry: int = 1
    max_consecutive_failures: PositiveInt = 5
    enqueue: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.space:
            raise GlueLitError("no search space: give a config with a tune.space section, e.g. "
                               "--config configs/tune/cola.yaml")
        self.distributions()  # a bad entry is an error now, not in the first trial
        if self.seed_list and "seed_everything" in self.space:
            raise GlueLitError("tune.seeds and tune.space.seed_everything both choose the seed: drop "
                               "seed_everything from the space (--tune.space.seed_everything null), or "
                               "tune.seeds")

    @property
    def seed_list(self) -> list[int] | None:
        """``seeds`` as a list, or None: each trial is one run with ``fit``'s own seed."""
        return parse_seeds(self.seeds)

    def distributions(self) -> dict[str, BaseDistribution]:
        return distributions(self.space)

    def storage_url(self, default: str) -> str:
        """``storage``, else ``$GLUE_LIT_STORAGE``, else ``default``."""
        return self.storage or os.environ.get(STORAGE_ENV) or default


@dataclass(frozen=True)
class TuneSetup:
    """What ``tune`` was asked: its options, the task, and the ``fit`` config the trials start from."""

    options: TuneOptions
    task: GlueTask
    fit_config: str  # every fit option as YAML (no tune section): the base of each trial's build_run
    fit_configs: list[str]  # the --config files without a tune section: fit takes them as they are

    @property
    def folder(self) -> Path:
        """``<study_dir>/<study_name>/``: the study's storage (by default), logs and reports."""
        return Path(self.options.study_dir) / (self.options.study_name or self.task.name)

    @property
    def direction(self) -> str:
        return "maximize" if self.task.monitor_mode == "max" else "minimize"
