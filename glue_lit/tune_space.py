"""The ``tune:`` section of the configs: tuning options and the search space.

``tune`` takes the same ``--config`` files as ``fit``; any of them may hold a ``tune:`` section,
which is cut out here (``fit`` would reject it) and merged, later files winning, ``space`` key by
key. ``--tune.<option> VALUE`` on the command line wins over every file (``--tune.space.<key>
'{type: ...}'`` sets one entry). The search space maps a dotted ``fit`` option to a distribution::

    space:
      model.learning_rate: {type: float, low: 1.0e-5, high: 3.0e-4, log: true}
      model.warmup_ratio: {type: float, low: 0.0, high: 0.2, step: 0.05}
      trainer.max_epochs: {type: int, low: 2, high: 5}
      data.batch_size: {type: categorical, choices: [16, 32, 64]}
      seed_everything: {type: categorical, choices: [42, 43, 44]}

``float`` and ``int`` take ``low``, ``high`` and optional ``log`` or ``step``; ``categorical``
takes ``choices`` (numbers, strings, booleans or null). A later file can drop a key with ``null``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from glue_lit.errors import GlueLitError

PRUNERS = ("median", "hyperband", "none")


@dataclass
class TuneOptions:
    """Options of ``python -m glue_lit tune`` (the ``tune:`` section, or ``--tune.<name>``).

    Args:
        space: dotted ``fit`` option -> distribution (see the module docstring).
        n_trials: finished (complete or pruned) trials the study should reach, counting the
            trials already in it and those of other workers; ``null``: until ``timeout``.
        timeout: seconds this worker may run before it starts no new trial; ``null``: no limit.
        train_subset: part of the train split each trial trains on (``--data.train_subset``);
            the whole dev set always validates. ``null`` keeps what the configs say.
        val_checks_per_epoch: validations per epoch; each one is a pruning point, and early
            stopping patience is scaled by it so that it still counts epochs.
        early_stopping: keep ``fit``'s early stopping in trials. Off by default: a trial then
            trains the epochs it sampled (``trainer.max_epochs`` is a searched value), and the
            pruner is the study's early stopping.
        pruner: ``median``, ``hyperband`` or ``none``.
        pruner_startup_trials: median pruner: trials that complete before any is pruned.
        pruner_warmup_steps: validations a trial always gets before it can be pruned.
        sampler_seed: TPE seed; trial n's random draws depend only on it and n.
        sampler_startup_trials: random trials before TPE starts modelling the results.
        study_name: study name in the storage; defaults to the task name.
        study_dir: folder of the study folders (``<study_dir>/<study_name>/``).
        storage: any Optuna storage URL (``postgresql://user:pw@host/db``); default: the SQLite
            file ``study.db`` in the study folder.
        heartbeat_interval: seconds between a running trial's heartbeats in the storage.
        grace_period: seconds without heartbeat before a trial counts as dead (its worker was
            killed): it is marked failed and retried; default twice ``heartbeat_interval``. Keep
            it above any stall of a live worker, or its trial is failed under it.
        max_retry: times a dead trial is retried with the same parameters.
        max_consecutive_failures: failed trials in a row after which this worker gives up.
        enqueue: parameter sets (``{key: value}``) to try first, e.g. the untuned recipe.
    """

    space: dict[str, Any] = field(default_factory=dict)
    n_trials: int | None = 12
    timeout: float | None = None
    train_subset: float | None = 0.1
    val_checks_per_epoch: int = 4
    early_stopping: bool = False
    pruner: str = "median"
    pruner_startup_trials: int = 3
    pruner_warmup_steps: int = 1
    sampler_seed: int | None = 42
    sampler_startup_trials: int = 5
    study_name: str | None = None
    study_dir: str = "studies"
    storage: str | None = None
    heartbeat_interval: int = 60
    grace_period: int | None = None
    max_retry: int = 1
    max_consecutive_failures: int = 5
    enqueue: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TuneArgs:
    """The command line of ``tune``, split: tuning options, and what goes to the ``fit`` parser."""

    options: TuneOptions
    space: dict[str, BaseDistribution]
    fit_args: list[str]
    fit_configs: list[str]  # config files with no tune section: the ones `fit` takes as they are


def _load_config(value: str) -> dict:
    path = Path(value)
    try:
        tree = yaml.safe_load(path.read_text() if path.is_file() else value)
    except yaml.YAMLError as err:
        raise GlueLitError(f"--config {value}: not valid YAML ({err})") from None
    if isinstance(tree, str) and not path.is_file():
        raise GlueLitError(f"--config {value}: no such file")
    if tree is not None and not isinstance(tree, dict):
        raise GlueLitError(f"--config {value}: expected a mapping of options, got {type(tree).__name__}")
    return tree or {}


def _merge(section: dict, new: Any, where: str) -> None:
    if not isinstance(new, dict):
        raise GlueLitError(f"{where}: the tune section must be a mapping of options")
    for key, value in new.items():
        if key == "space" and isinstance(value, dict):
            space = section.setdefault("space", {})
            space.update(value)
            for k in [k for k, v in space.items() if v is None]:
                del space[k]
        else:
            section[key] = value


def _value_after(argv: list[str], i: int, name: str) -> str:
    if i + 1 >= len(argv):
        raise GlueLitError(f"{name} needs a value")
    return argv[i + 1]


def parse_tune_args(argv: list[str]) -> TuneArgs:
    """Split ``argv`` into tuning options and ``fit`` arguments, keeping the order of the latter."""
    section: dict = {}
    fit_args: list[str] = []
    fit_configs: list[str] = []
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if name in ("--config", "-c") or name.startswith("--tune."):
            if not eq:
                value = _value_after(argv, i, name)
                i += 1
            if name.startswith("--tune."):
                key = name.removeprefix("--tune.")
                try:
                    parsed = yaml.safe_load(value)
                except yaml.YAMLError:
                    raise GlueLitError(f"{name} {value}: not a valid YAML value") from None
                # --tune.space.model.learning_rate '{type: float, ...}' sets one entry of the space
                entry = {"space": {key[6:]: parsed}} if key.startswith("space.") else {key: parsed}
                _merge(section, entry, name)
            else:
                tree = _load_config(value)
                if "tune" not in tree:
                    fit_args += ["--config", value]
                    fit_configs.append(value)
                else:
                    _merge(section, tree.pop("tune"), f"--config {value}")
                    if tree:  # the rest of the file, as a YAML string the parser reads like a file
                        fit_args += ["--config", yaml.safe_dump(tree)]
        else:
            fit_args.append(argv[i])
        i += 1
    options = _options(section)
    space = {key: distribution(key, spec) for key, spec in options.space.items()}
    return TuneArgs(options, space, fit_args, fit_configs)


def _accepts(hint, value) -> bool:
    """Whether ``value`` has the type ``hint`` (``int | None``, ``dict[str, Any]``...) names."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    allowed = tuple(typing.get_origin(t) or t for t in options)
    allowed += (int,) if float in allowed else ()  # YAML reads 30 as an int
    return isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))


def _options(section: dict) -> TuneOptions:
    names = {f.name for f in dataclasses.fields(TuneOptions)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise GlueLitError(f"unknown tune option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(TuneOptions)
    for key, value in section.items():
        if not _accepts(hints[key], value):
            hint = hints[key].__name__ if isinstance(hints[key], type) else str(hints[key])
            raise GlueLitError(f"tune.{key}: expected {hint}, got {value!r}".replace("typing.", ""))
    options = TuneOptions(**section)
    if options.pruner not in PRUNERS:
        raise GlueLitError(f"tune.pruner {options.pruner!r}: choose one of {', '.join(PRUNERS)}")
    if options.n_trials is not None and options.n_trials < 1:
        raise GlueLitError(f"tune.n_trials {options.n_trials}: need at least 1 (or null with a timeout)")
    if options.val_checks_per_epoch < 1:
        raise GlueLitError(f"tune.val_checks_per_epoch {options.val_checks_per_epoch}: need at least 1")
    if not options.space:
        raise GlueLitError("no search space: give a config with a tune.space section, e.g. "
                           "--config configs/tune/cola.yaml")
    return options


_FIELDS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}


def distribution(key: str, spec: Any) -> BaseDistribution:
    """The Optuna distribution of one search-space entry, or a GlueLitError naming the key."""
    where = f"tune.space.{key}"
    if not isinstance(spec, dict) or spec.get("type") not in _FIELDS:
        raise GlueLitError(f"{where}: expected {{type: float|int|categorical, ...}}, got {spec!r}")
    kind = spec["type"]
    extra = sorted(set(spec) - _FIELDS[kind])
    if extra:
        raise GlueLitError(f"{where}: unknown field(s) {', '.join(extra)} for type {kind}")
    try:
        if kind == "categorical":
            return CategoricalDistribution(spec["choices"])
        cls = FloatDistribution if kind == "float" else IntDistribution
        step = spec.get("step", None if kind == "float" else 1)
        return cls(spec["low"], spec["high"], log=spec.get("log", False), step=step)
    except KeyError as err:
        raise GlueLitError(f"{where}: missing field {err.args[0]!r}") from None
    except (TypeError, ValueError) as err:
        raise GlueLitError(f"{where}: {err}") from None


def suggest(trial: optuna.Trial, key: str, dist: BaseDistribution) -> Any:
    """Ask the trial for a value of ``key`` from ``dist``."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(key, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(key, dist.low, dist.high, log=dist.log, step=dist.step)
    return trial.suggest_int(key, dist.low, dist.high, log=dist.log, step=dist.step)


def as_override(key: str, value: Any) -> str:
    """``--key=value`` for the ``fit`` parser; repr keeps floats exact (``1e-05``)."""
    if isinstance(value, bool) or value is None:
        return f"--{key}={yaml.safe_dump(value).splitlines()[0]}"
    return f"--{key}={value if isinstance(value, str) else repr(value)}"


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """``{"model.learning_rate": 1e-4}`` -> ``{"model": {"learning_rate": 1e-4}}``."""
    tree: dict[str, Any] = {}
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree
