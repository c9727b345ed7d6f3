"""Read the raw examples of a split from the Hub, a local GLUE folder, or the user's own files.

Every source gives the same :class:`Examples`: one list of strings per text key, label ids (or
floats for regression, ``None`` when the split is unlabelled) and the example index that GLUE
submission files refer to. Problems in the files are reported with file and line number.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from glue_lit.errors import GlueLitError
from glue_lit.tasks import GlueTask, Split

HUB_DATASET = "nyu-mll/glue"

# GLUE's longest fields (QNLI passages) exceed csv's default 128 KiB cap on some rows.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class Examples:
    """Raw examples of one split, column-wise.

    ``rows``: the file's rows with every column, in file order, when the reader was asked to keep
    them (``predict`` writes your own test file back with the predictions added).
    """

    texts: tuple[list[str], ...]
    labels: list[float] | None
    index: list[int]
    rows: list[dict] | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.index)


def _rows_from_delimited(path: Path, delimiter: str, header: tuple[str, ...]):
    """Yield (line number, row dict); ``header`` empty means the file's first row is the header."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    # utf-8-sig drops the BOM that starts MRPC's header.
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        columns = list(header)
        if not columns:
            columns = next(reader, None)
            if columns is None:
                raise GlueLitError(f"{path}: file is empty, expected a header row")
        for row in reader:
            if not row:
                continue
            if len(row) != len(columns):
                raise GlueLitError(
                    f"{path}:{reader.line_num}: expected {len(columns)} tab/comma-separated "
                    f"columns ({', '.join(columns)}), found {len(row)}"
                )
            yield reader.line_num, dict(zip(columns, row))


def _rows_from_json(path: Path):
    text = path.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            yield from enumerate(json.loads(text), start=1)
            return
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield n, json.loads(line)
    except json.JSONDecodeError as err:
        raise GlueLitError(f"{path}: not valid JSON or JSON lines: {err}") from None


def read_rows(path: Path, header: tuple[str, ...] = ()):
    """Rows of a CSV, TSV, JSON or JSON-lines file as (line number, dict)."""
    if not path.is_file():
        raise GlueLitError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _rows_from_json(path)
    if suffix not in (".tsv", ".csv", ".txt"):
        raise GlueLitError(f"{path}: unsupported file type {suffix!r} (use .tsv, .csv, .json, .jsonl)")
    return _rows_from_delimited(path, "," if suffix == ".csv" else "\t", header)


def read_file(
    path: Path,
    task: GlueTask,
    text_columns: tuple[str, ...],
    label_column: str | None,
    index_column: str | None = None,
    header: tuple[str, ...] = (),
    keep_rows: bool = False,
) -> Examples:
    """Read one file; the split is labelled when ``label_column`` is present in its rows."""
    texts: tuple[list[str], ...] = tuple([] for _ in text_columns)
    labels: list[float] = []
    index: list[int] = []
    rows: list[dict] = []
    labelled = None
    for line, row in read_rows(path, header):
        if keep_rows:
            rows.append(row)
        where = f"{path}:{line}"
        missing = [c for c in text_columns if c not in row]
        if missing:
            raise GlueLitError(f"{where}: no column {missing[0]!r} (columns: {', '.join(row)})")
        for column, values in zip(text_columns, texts):
            text = str(row[column] or "")
            if not text.strip():
                raise GlueLitError(f"{where}: empty text in column {column!r}")
            values.append(text)
        if labelled is None:
            labelled = label_column is not None and label_column in row
        if labelled:
            labels.append(task.parse_label(str(row.get(label_column, "")), where))
        raw_index = row.get(index_column) if index_column else None
        index.append(int(raw_index) if raw_index not in (None, "") else len(index))
    return Examples(texts, labels if labelled else None, index, rows if keep_rows else None)


def read_glue_split(data_dir: Path, task: GlueTask, split: Split) -> Examples:
    """Read a split from a folder in the original GLUE download layout."""
    folder = data_dir / task.folder
    path = folder / split.file
    if not folder.is_dir():
        raise GlueLitError(
            f"no {task.folder}/ folder in GLUE data dir {data_dir} (expected {path}); "
            "point --data.data_dir (or GLUE_DIR) at the folder that holds the GLUE task folders"
        )
    labelled = not split.submission
    header = task.tsv_headerless if labelled else ()
    return read_file(
        path, task, task.tsv_columns, task.tsv_label if labelled else None,
        index_column=None if labelled else task.tsv_index, header=header,
    )


def read_hub_split(task: GlueTask, split: Split, cache_dir: str | None = None) -> Examples:
    """Read a split of ``nyu-mll/glue``; test labels there are -1, which means unlabelled."""
    from glue_lit.hub import load_hub_dataset

    ds = load_hub_dataset(HUB_DATASET, task.hub_config, split.name, cache_dir)
    labels = list(ds["label"])  # ints, or floats for STS-B: as the task's label_dtype wants them
    unlabelled = all(x == -1 for x in labels)
    return Examples(
        tuple(list(ds[k]) for k in task.text_keys),
        None if unlabelled else labels,
        list(ds["idx"]),
    )
