"""One benchmark run = one JSON record per (runner, task, seed), written the moment the run ends.

A record holds the dev metrics of every validation (``history``), which of them was the best by the
task's monitored metric, and whether the predictions had collapsed. The records of a folder are
the benchmark's state: a benchmark started again (after a kill, or on another day) reads them and
runs only what has no record yet. ``glue_lit benchmark`` and ``benchmarks/trainer_recipe.py`` write
the same format, so one report puts both side by side. The paths a record names (its log folder and
best checkpoint) are stored relative to its benchmark folder, so records committed on one machine
read the same on another; ``load_records`` makes them absolute again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from glue_lit.tasks import GlueTask

PATH_KEYS = ("best_checkpoint", "log_dir")


def record_path(folder: Path, task: str, seed: int) -> Path:
    return Path(folder) / "runs" / f"{task}-seed{seed}.json"


def portable(record: dict, folder: Path) -> dict:
    """``record`` with its paths inside ``folder`` made relative to it (others are kept as they are)."""
    out = dict(record)
    for key in PATH_KEYS:
        if out.get(key):
            try:
                out[key] = Path(out[key]).resolve().relative_to(Path(folder).resolve()).as_posix()
            except ValueError:
                pass
    return out


def save_record(folder: Path, record: dict) -> Path:
    """Write ``record`` atomically: a kill leaves the old file or the new one, never half of one."""
    path = record_path(folder, record["task"], record["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(portable(record, folder), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_records(folder: Path) -> list[dict]:
    """Every finished run in ``folder``, in a stable order."""
    paths = sorted((Path(folder) / "runs").glob("*-seed*.json"))
    records = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    root = Path(folder).resolve()
    for record in records:
        for key in PATH_KEYS:
            if record.get(key):  # an absolute path (older records) stays as it is
                record[key] = str(root / record[key])
    return records


def best_and_last(task: GlueTask, history: list[dict]) -> dict:
    """The validation with the best monitored metric and the last one (``history`` in order).

    Each history entry is ``{"epoch", "step", "metrics", "collapsed"}``; a NaN monitor never wins.
    """
    if not history:
        return {"best": None, "last": None}
    key, sign = task.monitor_key, (1 if task.monitor_mode == "max" else -1)

    def score(entry: dict) -> float:
        value = entry["metrics"].get(key)
        return float("-inf") if value is None or value != value else sign * value

    best = max(history, key=score)  # the first of equal scores, as a checkpoint callback keeps it
    return {"best": best, "last": history[-1]}
