"""The search space: each entry of ``tune.space`` as an Optuna distribution, and a trial's values
as ``fit`` options.

An entry maps a dotted ``fit`` option to a distribution::

    model.learning_rate: {type: float, low: 1.0e-5, high: 3.0e-4, log: true}
    model.warmup_ratio: {type: float, low: 0.0, high: 0.2, step: 0.05}
    trainer.max_epochs: {type: int, low: 2, high: 5}
    data.batch_size: {type: categorical, choices: [16, 32, 64]}

jsonargparse checks the shape of an entry (``ParamSpec``); what depends on its ``type`` is checked
here, with the entry's key in the message. One entry may also come on the command line,
``--tune.space.trainer.max_epochs '{type: int, low: 1, high: 3}'`` (``one_key_entries``).
"""

from __future__ import annotations

import sys
from typing import Any, Literal, TypedDict

import optuna
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from glue_lit.errors import GlueLitError


class _Kind(TypedDict):
    type: Literal["float", "int", "categorical"]


# A TypedDict, not a dataclass: jsonargparse merges a dataclass given twice field by field, so a
# later config turning `categorical` into `int` would keep the earlier `choices`.
class ParamSpec(_Kind, total=False):
    """``{type: float|int, low, high[, log | step]}`` or ``{type: categorical, choices: [...]}``."""

    low: int | float
    high: int | float
    log: bool
    step: int | float
    choices: list[int | float | str | bool | None]


FIELDS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}


def distribution(key: str, spec: ParamSpec) -> BaseDistribution:
    """The Optuna distribution of one search-space entry, or a GlueLitError naming the key."""
    where = f"tune.space.{key}"
    kind = spec["type"]
    extra = sorted(set(spec) - FIELDS[kind])
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


ACCEPTED = ("--tune.space.<dotted fit option> '{type: float|int, low: L, high: H[, log: true | step: S]}' "
            "or '{type: categorical, choices: [A, B]}' (or null, to remove the option from the space), "
            "e.g. --tune.space.trainer.max_epochs '{type: int, low: 1, high: 3}'")


def one_key_entries(argv: list[str]) -> tuple[list[str], dict[str, ParamSpec | None]]:
    """``argv`` without its ``--tune.space.<key> VALUE`` (or ``=VALUE``) options, and their entries,
    checked as jsonargparse checks a config's; ``null`` (None) removes the key from the space.
    jsonargparse itself reads ``--tune.space.<key>`` as one dict item only for a key without dots:
    it splits ``trainer.max_epochs`` into nested keys, so the entries are taken out before it
    parses, and merged into the parsed space after it (``merge_entries``)."""
    rest: list[str] = []
    entries: dict[str, ParamSpec | None] = {}
    args = iter(argv)
    for arg in args:
        if not arg.startswith("--tune.space."):
            rest.append(arg)
            continue
        option, eq, text = arg.partition("=")
        key = option[len("--tune.space."):]
        if not eq:
            text = next(args, None)
            if text is None or text.startswith("--"):
                raise GlueLitError(f"{option} needs a value. Accepted: {ACCEPTED}")
        if not key:
            raise GlueLitError(f"{option} names no option. Accepted: {ACCEPTED}")
        entries[key] = _entry(key, text)
    return rest, entries


def merge_entries(space: dict[str, ParamSpec] | None,
                  entries: dict[str, ParamSpec | None]) -> dict[str, ParamSpec]:
    """``space`` with the command line's entries added or replacing its own, less those set to null."""
    merged = {**(space or {}), **entries}
    return {key: spec for key, spec in merged.items() if spec is not None}


def _entry(key: str, text: str) -> ParamSpec | None:
    from argparse import ArgumentError

    from jsonargparse import ArgumentParser

    if text.strip() in ("null", "~"):
        return None
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--entry", type=ParamSpec)
    try:
        spec = parser.parse_args(["--entry", text]).entry
        distribution(key, spec)
    except ArgumentError as err:
        reason = " ".join(str(err).split()).removeprefix('Parser key "entry": ').rstrip(".")
        raise GlueLitError(f"--tune.space.{key} {text!r}: {reason}. Accepted: {ACCEPTED}") from None
    except GlueLitError as err:
        raise GlueLitError(f"--tune.space.{key} {text!r}: {str(err).split(': ', 1)[1].rstrip('.')}. "
                           f"Accepted: {ACCEPTED}") from None
    return spec


def distributions(space: dict[str, ParamSpec]) -> dict[str, BaseDistribution]:
    return {key: distribution(key, spec) for key, spec in space.items()}


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


def complete_enqueued(enqueue: list[dict[str, Any]], space: dict[str, BaseDistribution],
                      fit_config: str) -> list[dict[str, Any]]:
    """Each enqueued set with the fit options' value for every ``space`` key it leaves out.

    Optuna draws a left-out key at random, so "the untuned recipe" would not be: an SST-2 study's
    trial 0 drew ``data.group_by_length: false`` when the space gained that key. A left-out key whose
    fit value lies outside the space is still drawn, with a warning naming the entry and the key.
    """
    base = yaml.safe_load(fit_config) or {}
    done = []
    for i, params in enumerate(enqueue):
        full = dict(params)
        for key, dist in space.items():
            if key in full:
                continue
            node: Any = base
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if _within(dist, node):
                full[key] = node
            else:
                print(f"glue_lit: warning: tune.enqueue entry {i} leaves out {key} and its fit value "
                      f"{node!r} is outside tune.space: it is drawn at random", file=sys.stderr)
        done.append(full)
    return done


def _within(dist: BaseDistribution, value: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    return isinstance(value, int | float) and not isinstance(value, bool) and dist.low <= value <= dist.high
