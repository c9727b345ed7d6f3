"""``glue_lit tune``: an Optuna study whose trials are real ``fit`` runs.

::

    glue_lit tune --config configs/cola.yaml --config configs/minilm.yaml \\
        --config configs/tune/cola.yaml [--tune.n_trials 20] [--tune.workers 2] [fit options]

The command line is ``fit``'s plus the ``tune`` group (``TuneOptions``, options.py), parsed by
jsonargparse: a ``tune:`` section in any config, ``--tune.<option>`` on the command line,
``glue_lit tune --help`` lists them all. Each trial is a ``fit`` run built by
``glue_lit.cli.build_run`` from the same options plus the trial's sampled values (trial.py), on
``tune.train_subset`` of the train split (default 1/10) and the whole dev set. Optuna's
``PyTorchLightningPruningCallback`` reports the task's monitored metric (``val/mcc`` for CoLA...)
at every validation, in the task's direction, and the pruner stops unpromising trials. A trial's
value is its best validation score, the one ``fit``'s checkpoint would keep. Trials train the epochs
they sample: ``fit``'s early stopping is off in trials unless ``tune.early_stopping`` is set.
With ``tune.seeds`` (seeds.py) a trial trains its values on each seed in turn and its value is the
median (``tune.seed_score``) of the seeds' values; the pruner sees the first seed's validations.

Everything lands in ``<study_dir>/<study_name>/`` (``studies/cola/``): ``study.db`` (the default
storage: run ``tune`` again to resume), ``trial_<n>/`` (each trial's TensorBoard logs and config),
``trials.csv``, ``best.yaml`` (the best trial's values, for ``fit ... --config
studies/cola/best.yaml`` on the full data) and ``plots/*.html`` (report.py).

Several workers share one study (study.py): ``--tune.workers N`` starts N worker processes here,
each on its own GPU where there are GPUs (``CUDA_VISIBLE_DEVICES``, round robin), else N processes
sharing the CPU cores (workers.py); workers on several machines share a PostgreSQL storage
(``--tune.storage`` or ``$GLUE_LIT_STORAGE``, whose password tune never writes or prints).
``n_trials`` counts the whole study, so all workers stop together. Trials send heartbeats: a trial
whose worker died (SIGKILL, lost machine) is marked failed after ``grace_period`` and retried by the
next worker, or by ``tune`` run again. A trial that fails (NaN loss, out of memory, a bad value) is
recorded as FAIL with its reason and the study goes on; Ctrl-C stops and keeps what finished.
"""

from glue_lit.tune.command import TuneCLI, main, parse, tune
from glue_lit.tune.options import TuneOptions, TuneSetup
from glue_lit.tune.space import ParamSpec

__all__ = ["ParamSpec", "TuneCLI", "TuneOptions", "TuneSetup", "main", "parse", "tune"]
