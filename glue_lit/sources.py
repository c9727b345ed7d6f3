"""Read the raw examples of a split from the Hub, a local GLUE folder, or the user's own files.

Every source gives the same :class:`Examples`: one list of strings per text key, label ids (or
floats for regression, ``None`` when the split is unlabelled) and the example index that GLUE
submission files refer to. Problems in the files are reported with file and line number.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def read_text(path: Path) -> str:
    """The file's text. A UTF-8 byte-order mark is dropped (MRPC's header starts with one); bytes
    that are not UTF-8 are a GlueLitError naming the line."""
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = len(re.split(r"\r\n|\r|\n", raw[:err.start].decode("utf-8")))
        raise GlueLitError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8"
        ) from None


def _rows_from_delimited(path: Path, delimiter: str, header: tuple[str, ...]):
    """(the columns, an iterator of (line number, row dict)); ``header`` empty means the file's
    first row is the header."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    columns = list(header)
    if not columns:
        columns = next(reader, None)
        if columns is None:
            raise GlueLitError(f"{path}: file is empty, expected a header row")

    def rows():
        try:
            for row in reader:
                if not row:
                    continue
                if len(row) != len(columns):
                    raise GlueLitError(
                        f"{path}:{reader.line_num}: expected {len(columns)} tab/comma-separated "
                        f"columns ({', '.join(columns)}), found {len(row)}"
                    )
                yield reader.line_num, dict(zip(columns, row))
        except csv.Error as err:
            raise GlueLitError(f"{path}:{reader.line_num}: {err}") from None

    return columns, rows()


def _rows_from_json(path: Path):
    """(None: each row names its own fields, an iterator of (line or element number, row dict))."""
    text = read_text(path)

    def parse(value: str, line: int):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise GlueLitError(f"{path}:{line + err.lineno - 1}: not valid JSON at column {err.colno}: "
                               f"{err.msg}") from None
        except RecursionError:
            raise GlueLitError(f"{path}:{line}: not valid JSON (nested too deeply)") from None

    def rows():
        if text.lstrip().startswith("["):
            items = enumerate(parse(text, 1), start=1)
        else:  # JSON lines. Not str.splitlines: it also splits at U+2028, which JSON strings may hold
            # (CR and LF never occur raw inside a JSON value).
            lines = re.split(r"\r\n|\r|\n", text)
            items = ((n, parse(line, n)) for n, line in enumerate(lines, start=1) if line.strip())
        for n, row in items:
            if not isinstance(row, dict):
                raise GlueLitError(f"{path}:{n}: expected an object with named fields, found "
                                   f"{type(row).__name__}")
            yield n, row

    return None, rows()


def read_rows(path: Path, header: tuple[str, ...] = ()):
    """(the columns, or None for JSON, whose rows each name their fields; an iterator of (line
    number, row dict)) of a CSV, TSV, JSON or JSON-lines file."""
    if not path.is_file():
        raise GlueLitError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _rows_from_json(path)
    if suffix not in (".tsv", ".csv", ".txt"):
        raise GlueLitError(f"{path}: unsupported file type {suffix!r} (use .tsv, .csv, .json, .jsonl)")
    return _rows_from_delimited(path, "," if suffix == ".csv" else "\t", header)


def _value(value) -> str:
    """A cell as text; JSON's 1.0 is the label 1 (pandas writes an int column with gaps as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _index(value, where: str, column: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _value(value).strip()
    if re.fullmatch(r"-?[0-9]+", text):  # not str.isdigit: it takes "¹", which int() refuses
        return int(text)
    raise GlueLitError(f"{where}: index {value!r} in column {column!r} is not a whole number")


def read_file(
    path: Path,
    task: GlueTask,
    text_columns: tuple[str, ...],
    label_column: str | None,
    index_column: str | None = None,
    header: tuple[str, ...] = (),
    keep_rows: bool = False,
    require_labels: bool = False,
    fix: tuple[str, str] = ("set --data.text_columns", "set --data.label_column"),
) -> Examples:
    """Read one file. ``require_labels``: a split trained or scored on, which must have
    ``label_column``; otherwise the split is labelled when its rows have it. ``fix``: what to tell
    the user when a text or the label column is missing."""
    texts: tuple[list[str], ...] = tuple([] for _ in text_columns)
    labels: list[float] = []
    index: list[int] = []
    rows: list[dict] = []
    labelled = None
    columns, found = read_rows(path, header)

    def check_columns(where: str, have) -> None:
        have = list(have)
        missing = [c for c in text_columns if c not in have]
        if missing:
            raise GlueLitError(f"{where}: no text column {missing[0]!r} (its columns: "
                               f"{', '.join(map(str, have)) or 'none'}); {fix[0]}")
        if require_labels and (label_column is None or label_column not in have):
            raise GlueLitError(f"{where}: no label column {label_column!r} (its columns: "
                               f"{', '.join(map(str, have)) or 'none'}); {fix[1]}")

    if columns is not None:
        check_columns(str(path), columns)
    for line, row in found:
        if keep_rows:
            rows.append(row)
        where = f"{path}:{line}"
        if columns is None:
            check_columns(where, row)
        for column, values in zip(text_columns, texts):
            text = _value(row[column])
            if not text.strip():
                raise GlueLitError(f"{where}: empty text in column {column!r}")
            values.append(text)
        if labelled is None:
            labelled = label_column is not None and label_column in row
        if labelled:
            labels.append(task.parse_label(_value(row.get(label_column)), where))
        raw_index = row.get(index_column) if index_column else None
        index.append(len(index) if raw_index in (None, "") else _index(raw_index, where, index_column))
    if not index:
        raise GlueLitError(f"{path}: no examples in the file (at most a header row)")
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
    layout = f"expected the columns of the GLUE download's {task.folder}/{split.file}"
    return read_file(
        path, task, task.tsv_columns, task.tsv_label if labelled else None,
        index_column=None if labelled else task.tsv_index, header=header,
        require_labels=labelled, fix=(layout, layout),
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

def subset_positions(n: int, subset: float, seed: int) -> np.ndarray:
    """Sorted positions of a seeded subset of ``n`` rows: a fraction (<= 1) or a count (> 1)."""
    count = round(subset * n) if subset <= 1 else int(subset)
    if not 0 < count <= n:
        raise GlueLitError(f"--data.train_subset {subset} selects {count} of {n} examples")
    return np.sort(np.random.default_rng(seed).permutation(n)[:count])
