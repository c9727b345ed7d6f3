"""``tune.seeds``: the seeds a trial trains its parameter set on, the trial's score over them, and
the seeds a retried trial already finished.

Each finished seed is stored in its trial's user attributes (``seeds``: ``{"<seed>": result}``) the
moment it finishes, so a trial whose worker is killed keeps them. Optuna retries a killed trial as a
new trial with the same parameters and ``system_attrs["retry_history"]`` naming the trials it
repeats; the retry takes their finished seeds and trains only the missing ones.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Any, Literal

import optuna

from glue_lit.errors import GlueLitError

SeedScore = Literal["median", "mean", "min"]
_RANGE = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")


def parse_seeds(given: list[int] | int | str | None, where: str = "tune.seeds") -> list[int] | None:
    """``1,2,3``, a range ``1-3``, ``[1, 2, 3]`` or one seed ``3`` (seed 3: a number is never a
    count) as a list without repeats; ``None`` stays ``None``."""
    if given is None:
        return None
    if isinstance(given, bool):
        raise GlueLitError(f"{where}: {given!r} is not a seed; give seeds like 1,2,3 or a range 1-3")
    if isinstance(given, int):
        return [given]
    if isinstance(given, str):
        found = _RANGE.match(given)
        if found:
            first, last = int(found[1]), int(found[2])
            if last < first:
                raise GlueLitError(f"{where}: the range {given!r} ends before it starts")
            return list(range(first, last + 1))
        parts = [p.strip() for p in given.split(",")]
        if not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise GlueLitError(f"{where}: {given!r} is not a seed list; give seeds like 1,2,3 or a range 1-3")
        given = [int(p) for p in parts]
    seeds = list(dict.fromkeys(given))
    if not seeds:
        raise GlueLitError(f"{where}: no seed given; give seeds like 1,2,3 or a range 1-3")
    return seeds


def score(values: list[float], how: SeedScore, direction: str) -> float:
    """The trial's value from its seeds' values: their median, mean, or the worst of them (the
    lowest for a metric to maximise)."""
    if how == "median":
        return statistics.median(values)
    if how == "mean":
        return statistics.fmean(values)
    return min(values) if direction == "maximize" else max(values)


def result(value: float | None, steps: int, curve: list[float], collapsed: list[str]) -> dict[str, Any]:
    """One seed's run as stored in the trial: its score, steps, every validation's reported value
    (null where it collapsed) and the collapsed validations."""
    return {"value": value, "steps": steps, "curve": [v if math.isfinite(v) else None for v in curve],
            "collapsed": collapsed}


def finished_seeds(trial: optuna.Trial, seeds: list[int]) -> dict[str, dict[str, Any]]:
    """The seeds of ``seeds`` that the trials this one retries finished, by seed (a string: user
    attributes are JSON), each with ``from_trial``, the trial that ran it."""
    trials = trial.study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    me = by_number.get(trial.number)
    history = me.system_attrs.get("retry_history", []) if me else []
    wanted = {str(s) for s in seeds}
    found: dict[str, dict[str, Any]] = {}
    for number in history:  # oldest first: a later retry's copy of a seed is the same result
        earlier = by_number.get(number)
        for seed, done in ((earlier.user_attrs.get("seeds") or {}) if earlier else {}).items():
            if seed in wanted and done.get("value") is not None:
                found[seed] = {**done, "from_trial": done.get("from_trial", number)}
    return found
