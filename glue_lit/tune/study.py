"""The study of ``tune``: storage with heartbeats, seeded TPE sampler, pruner, and the loop of
one worker, which stops when the whole study (every worker's trials) reaches ``n_trials``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import unquote

import optuna
import sqlalchemy
from optuna.storages import (
    RDBStorage,
    RetryFailedTrialCallback,
    RetryHeartbeatStaleTrialCallback,
    fail_stale_trials,
)
from optuna.trial import TrialState

from glue_lit.errors import GlueLitError
from glue_lit.tune.options import TuneOptions, TuneSetup
from glue_lit.tune.space import complete_enqueued

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
INTERRUPTED = "interrupted (Ctrl-C)"  # a trial's fail_reason when Ctrl-C stopped it


def one_line(err: BaseException) -> str:
    """The first line of an error, as a trial's recorded reason."""
    text = str(err).strip().splitlines()
    message = text[0] if text else ""
    return (message if isinstance(err, GlueLitError) else f"{type(err).__name__}: {message}")[:300]


class TrialSeededTPE(optuna.samplers.TPESampler):
    """TPE whose random draws for trial n depend only on (seed, n), so that a resumed study or a
    second worker does not repeat the first trials' values, and a study replays from its seed."""

    def __init__(self, seed: int | None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._base_seed = seed

    def before_trial(self, study: optuna.Study, trial) -> None:
        super().before_trial(study, trial)
        if self._base_seed is not None:
            self._rng.rng.seed(self._base_seed + trial.number)
            self._random_sampler._rng.rng.seed(self._base_seed + trial.number)


# user:password@ in a URL; greedy up to the last "@", so that an unquoted "@" in a password is masked too.
_PASSWORD = re.compile(r"(?P<user>://[^:/@]*):(?P<password>.*)@")


def hide_password(url: str) -> str:
    """``url`` with its password as ``***`` (``postgresql://user:***@host/db``)."""
    return _PASSWORD.sub(r"\g<user>:***@", url)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, say) with the password of ``url`` masked wherever it appears."""
    found = _PASSWORD.search(url)
    secrets = {found["password"], unquote(found["password"])} if found else set()
    for secret in secrets - {""}:
        text = text.replace(secret, "***")
    return text


def open_storage(opts: TuneOptions, url: str) -> RDBStorage:
    """The storage, with heartbeats; a trial whose heartbeat stops is failed, then retried."""
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    error: Exception | None = None
    for attempt in range(3):
        try:
            return RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=opts.heartbeat_interval,
                grace_period=opts.grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=opts.max_retry),
            )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as err:
            error = err  # workers started together on a new database race to create its tables
            time.sleep(1 + attempt)
        except sqlalchemy.exc.OperationalError as err:
            error = err  # SQLite reports the same race as "table ... already exists"
            if "already exists" not in str(err):
                break
            time.sleep(1 + attempt)
        except Exception as err:  # bad URL, server down, missing driver...
            error = err
            break
    raise GlueLitError(scrub(f"cannot open the study storage {url}: {one_line(error)}", url))


def open_study(setup: TuneSetup) -> optuna.Study:
    """The study of ``setup`` (created, or loaded to resume it), with its enqueued parameter sets."""
    opts, task, name = setup.options, setup.task, setup.folder.name
    storage = open_storage(opts, opts.storage_url(f"sqlite:///{(setup.folder / 'study.db').resolve()}"))
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(opts.pruner_startup_trials, opts.pruner_warmup_steps),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=max(1, opts.pruner_warmup_steps)),
        "none": optuna.pruners.NopPruner,
    }[opts.pruner]()
    sampler = TrialSeededTPE(opts.sampler_seed, n_startup_trials=opts.sampler_startup_trials)
    direction = setup.direction
    study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise GlueLitError(f"study {name!r} {study.direction.name.lower()}s, but {task.monitor_key} "
                           f"should be {direction}d: use another --tune.study_name")
    for params in complete_enqueued(opts.enqueue, opts.distributions(), setup.fit_config):
        study.enqueue_trial(params, skip_if_exists=True)
    retry_interrupted(study, opts.max_retry)
    return study


def retry_interrupted(study: optuna.Study, max_retry: int) -> None:
    """Queue a retry of each trial Ctrl-C stopped, as Optuna queues one of a trial whose worker
    died: resuming runs it again first, and with ``tune.seeds`` the retry keeps its finished seeds."""
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    retry = RetryFailedTrialCallback(max_retry=max_retry)
    for t in trials:
        stopped = t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") == INTERRUPTED
        if stopped and t.number not in retried:
            retry(study, t)


class FailureGuard:
    """Stop this worker after ``limit`` failed trials in a row: the setup, not a value, is broken."""

    def __init__(self, limit: int):
        self.limit, self.failed = limit, []

    def __call__(self, study: optuna.Study, trial) -> None:
        self.failed = [*self.failed, trial] if trial.state == TrialState.FAIL else []
        if len(self.failed) >= self.limit:
            study.stop()


def run_study(study: optuna.Study, objective: Callable[[optuna.Trial], float], opts: TuneOptions) -> None:
    """Run trials until the study holds ``n_trials`` finished ones, or ``timeout`` passes."""
    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    guard = FailureGuard(opts.max_consecutive_failures)
    callbacks = [guard]
    if opts.n_trials:  # running trials count too, so that workers do not overshoot together
        callbacks.append(optuna.study.MaxTrialsCallback(opts.n_trials, (*FINISHED, TrialState.RUNNING)))
    waiting = False
    while True:
        fail_stale_trials(study)  # a dead worker's trial: FAIL, and a retry is queued
        finished = len(study.get_trials(deepcopy=False, states=FINISHED))
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        left = deadline - time.monotonic() if deadline else None
        if (opts.n_trials and finished >= opts.n_trials) or (left is not None and left <= 0):
            return
        if opts.n_trials and finished + running >= opts.n_trials:
            if not waiting:
                print(f"waiting for {running} running trial(s) to finish, or to be failed "
                      f"{opts.grace_period or 2 * opts.heartbeat_interval} s after their last heartbeat")
            waiting = True
            time.sleep(min(5, opts.heartbeat_interval, left or 5))
            continue
        study.optimize(objective, timeout=left, callbacks=callbacks, catch=(Exception,), gc_after_trial=True)
        if guard.failed and len(guard.failed) >= guard.limit:
            reason = guard.failed[-1].user_attrs.get("fail_reason", "see the log")
            raise GlueLitError(f"{guard.limit} trials failed in a row; the last one: {reason}")
        if not opts.n_trials:
            return
