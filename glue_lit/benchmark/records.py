"""One benchmark run = one :class:`Record` per (runner, task, seed), written the moment the run ends.

The records of a folder are the benchmark's state: a benchmark started again (after a kill, or on
another day) reads them and runs only what has no record yet. Both runners (``glue_lit`` and the
``transformers.Trainer`` recipe, ``benchmark --runner trainer``) write this one type, so one report
puts them side by side. The paths a record names (its log folder and best checkpoint) are stored
relative to its benchmark folder, so records committed on one machine read the same on another;
``load_records`` makes them absolute again.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue_lit.tasks import get_task

PATH_KEYS = ("best_checkpoint", "log_dir")
OPTIONAL = (*PATH_KEYS, "args")  # left out of the file when unset (the Trainer runner's)


@dataclass
class Record:
    """One finished run, as ``runs/<task>-seed<seed>.json`` holds it.

    Args:
        runner: what trained it: ``glue_lit`` or ``trainer`` (the ``transformers.Trainer`` recipe).
        task: the GLUE task's name.
        seed: the run's seed (weights of the new head, data order, train subset).
        model: the model's name, folder or Hub id.
        history: every validation, in order, as ``glue_lit.history`` describes an entry.
        best: the entry with the best monitored metric (a NaN never wins); from ``history`` when
            not given.
        last: the last entry; from ``history`` when not given.
        train_examples: training examples (after ``--max_train``).
        steps: optimizer steps.
        wall_s: seconds the fit took.
        threads: torch's CPU threads.
        recipe: batch size, learning rate, epochs, weight decay, gradient clipping, warm-up, length,
            precision (as trained: on a CPU the default depends on its bf16 units).
        best_checkpoint: the best checkpoint file (glue_lit's runner), relative to the folder.
        log_dir: the run's log folder (glue_lit's runner), relative to the folder.
        args: the ``fit`` options that made the run.
    """

    runner: str
    task: str
    seed: int
    model: str | None = None
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    last: dict | None = None
    train_examples: int | None = None
    steps: int = 0
    wall_s: float = 0.0
    threads: int | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    best_checkpoint: str | None = None
    log_dir: str | None = None
    args: list[str] | None = None

    def __post_init__(self) -> None:
        if self.history and self.best is None and self.last is None:
            # Here, not at the top: history.py loads Lightning, which reading records never needs.
            from glue_lit.history import best_and_last

            found = best_and_last(get_task(self.task), self.history)
            self.best, self.last = found["best"], found["last"]

    @classmethod
    def from_json(cls, data: dict) -> Record:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self, folder: Path | None = None) -> dict:
        """The record as JSON data; with ``folder``, its paths inside it made relative to it."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k not in OPTIONAL}
        for key in PATH_KEYS:
            if folder is not None and out.get(key):
                try:
                    out[key] = Path(out[key]).resolve().relative_to(Path(folder).resolve()).as_posix()
                except ValueError:
                    pass
        return out


def record_path(folder: Path, task: str, seed: int) -> Path:
    return Path(folder) / "runs" / f"{task}-seed{seed}.json"


def save_record(folder: Path, record: Record) -> Path:
    """Write ``record`` atomically: a kill leaves the old file or the new one, never half of one."""
    path = record_path(folder, record.task, record.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record.to_json(folder), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_records(folder: Path) -> list[Record]:
    """Every finished run in ``folder``, in a stable order."""
    paths = sorted((Path(folder) / "runs").glob("*-seed*.json"))
    records = [Record.from_json(json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    root = Path(folder).resolve()
    for record in records:
        for key in PATH_KEYS:
            if getattr(record, key):  # an absolute path (older records) stays as it is
                setattr(record, key, str(root / getattr(record, key)))
    return records
