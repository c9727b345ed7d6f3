"""Write what ``predict`` computes: GLUE submission files, or your own file with predictions added.

A test split from the GLUE folder or the Hub gives the leaderboard file named in the task table
(``CoLA.tsv``, ``MNLI-m.tsv``, ...): header ``index<TAB>prediction``, one row per test example in
index order. A file of your own (``--data.data_files '{test: my.csv}'``) gives a copy of it, same
format, with two columns added: ``prediction`` (label name, or the score for STS-B) and ``score``
(the probability of that label, or the raw regression output).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from glue_lit.errors import GlueLitError
from glue_lit.sources import Examples
from glue_lit.tasks import GlueTask, Split

log = logging.getLogger("lightning.pytorch")

ADDED_COLUMNS = ("prediction", "score")
# Output format of a user file, by input suffix: JSON arrays come back as JSON lines.
_OUTPUT_SUFFIX = {".csv": ".csv", ".tsv": ".tsv", ".txt": ".tsv", ".json": ".jsonl", ".jsonl": ".jsonl"}


def write_submission(path: Path, task: GlueTask, idx: np.ndarray, predictions: np.ndarray) -> None:
    """A leaderboard file: ``index<TAB>prediction`` rows in the given (index) order."""
    lines = ["index\tprediction", *(f"{i}\t{task.submission_value(p)}" for i, p in zip(idx, predictions))]
    with path.open("x", encoding="utf-8") as f:  # "x": never overwrite an earlier result
        f.write("\n".join(lines) + "\n")


def user_output_path(folder: Path, source: Path, split: str = "") -> Path:
    """Where predictions on the user's file ``source`` go: ``<stem>[.<split>].predictions<suffix>``."""
    suffix = _OUTPUT_SUFFIX.get(source.suffix.lower(), ".tsv")
    return folder / ".".join(filter(None, (source.stem, split, f"predictions{suffix}")))


def write_user_predictions(
    source: Path, examples: Examples, dest: Path, task: GlueTask, result: dict[str, np.ndarray]
) -> None:
    """Copy the rows of ``source`` to ``dest`` in file order, each with its prediction and score.

    Args:
        source: the user's file that was predicted (named in errors).
        examples: its rows with every column and their example index, as the data module read them.
        dest: output file; its suffix picks CSV, TSV or JSON lines.
        task: the task whose label names the predictions are.
        result: ``idx``, ``predictions`` and ``scores`` (one per row, see ``predict_step``) of every
            example.
    """
    position = {int(i): k for k, i in enumerate(result["idx"])}
    if len(position) != len(result["idx"]):
        raise GlueLitError(f"{source}: the idx column repeats values; give every row its own idx")
    rows = [dict(row) for row in examples.rows]  # copies: the data module's rows stay as read
    clash = [c for c in ADDED_COLUMNS if rows and c in rows[0]]
    if clash:
        raise GlueLitError(f"{source}: already has a {clash[0]!r} column, which predict would add")
    for row, i in zip(rows, examples.index):
        k = position[int(i)]
        row["prediction"] = task.prediction_value(result["predictions"][k])
        row["score"] = float(result["scores"][k])
    with dest.open("x", encoding="utf-8", newline="") as f:
        if dest.suffix == ".jsonl":
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            return
        columns = list(rows[0]) if rows else [*task.text_keys, *ADDED_COLUMNS]
        if dest.suffix == ".csv":
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(rows)
            return
        # TSV was read without quoting, so no field holds a tab or newline: join as read.
        f.write("\t".join(columns) + "\n")
        f.writelines("\t".join(str(row[c]) for c in columns) + "\n" for row in rows)


class PredictionWriter(BasePredictionWriter):
    """Writes ``predict`` results to files (see the module doc); on by default in the CLI.

    Under DDP every rank predicts its share; rank 0 gathers them and writes each file once, in
    test-index order.

    Args:
        output_dir: folder of the files; defaults to ``predictions/`` inside the run's log folder.
            Existing files are never overwritten: predict stops before it starts instead.
    """

    def __init__(self, output_dir: str | None = None):
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.folder: Path | None = None
        self.written: list[Path] = []
        self._parts: dict[int, list[dict[str, np.ndarray]]] = {}
        self._dm = None  # the run's data module: its task, test splits and the rows it read

    def _targets(self) -> list[tuple[Split, Path]]:
        out = []
        several = len(self._dm.task.test) > 1  # MNLI: name the split, the two may share one input file
        for split in self._dm.task.test:
            source = self._dm.user_file(split)
            if source is None:
                out.append((split, self.folder / split.submission))
            else:
                out.append((split, user_output_path(self.folder, source, split.name if several else "")))
        return out

    def setup(self, trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        dm = trainer.datamodule
        # Any data module with glue_lit's interface (a task, splits, user_file, source_rows).
        self._dm = dm if stage == "predict" and hasattr(dm, "source_rows") else None
        if self._dm is None:
            return
        self._parts, self.written = {}, []
        self.folder = Path(self.output_dir or Path(trainer.log_dir or ".") / "predictions")
        # Checked before predicting, so a clash costs nothing.
        existing = [p for _, p in self._targets() if p.exists()]
        if existing:
            raise GlueLitError(
                f"{existing[0]} already exists; choose another --predictions.output_dir "
                "(earlier predictions are never overwritten)"
            )

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx) -> None:
        if self._dm is not None:
            part = {k: v.detach().cpu().numpy() for k, v in prediction.items()}
            self._parts.setdefault(dataloader_idx, []).append(part)

    def _gathered(self, trainer, dataloader_idx: int) -> dict[str, np.ndarray] | None:
        """All ranks' predictions on one split, in index order (on rank 0; ``None`` elsewhere)."""
        parts = self._parts.get(dataloader_idx, [])
        if trainer.world_size > 1:
            shards: list = [None] * trainer.world_size
            torch.distributed.all_gather_object(shards, parts)
            parts = [p for shard in shards for p in shard]
        if not trainer.is_global_zero or not parts:
            return None
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(merged["idx"], kind="stable")
        return {k: v[order] for k, v in merged.items()}

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        if self._dm is None:
            return
        for dataloader_idx, (split, path) in enumerate(self._targets()):
            result = self._gathered(trainer, dataloader_idx)
            if trainer.is_global_zero:
                self._write(split, path, result)
        trainer.strategy.barrier()

    def _write(self, split: Split, path: Path, result: dict[str, np.ndarray] | None) -> None:
        expected = len(self._dm.splits[split.name])
        got = 0 if result is None else len(result["idx"])
        if got != expected:
            raise GlueLitError(
                f"predicted {got} of the {expected} rows of {split.name}; {path.name} needs every row "
                "(drop --trainer.limit_predict_batches)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        source = self._dm.user_file(split)
        if source is None:
            write_submission(path, self._dm.task, result["idx"].astype(np.int64), result["predictions"])
        else:
            write_user_predictions(source, self._dm.source_rows[split.name], path, self._dm.task, result)
        self.written.append(path)
        log.info(f"glue_lit: wrote {path} ({got} rows)")
