"""Fuzzed input files and checkpoints: each one reads, or raises GlueLitError; never another exception,
never a hang.

Hypothesis builds files from the pieces real files break with (quotes, tabs and commas in cells,
CR/LF mixes, byte-order marks, empty lines, wrong column counts, NaN labels, bytes that are not
UTF-8, JSON that is not a list of objects) and shrinks a failure to its smallest file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import signal
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glue_lit.checkpoint import GlueCheckpoint
from glue_lit.checkpoint_io import AtomicCheckpointIO
from glue_lit.errors import GlueLitError
from glue_lit.sources import Examples, read_file, read_glue_split
from glue_lit.tasks import get_task

# The whole file takes about 20 s on a busy 2-core machine at these sizes.
FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@contextlib.contextmanager
def no_hang(seconds: int = 10):
    """Fail instead of hanging: a reader that loops forever raises here."""
    def alarm(signum, frame):
        raise TimeoutError(f"reading took over {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def reads_or_says_why(read) -> Examples | None:
    """``read()``'s examples, or None when it raised a GlueLitError; anything else fails the test."""
    with no_hang():
        try:
            examples = read()
        except GlueLitError as err:
            assert str(err) and "\n" not in str(err)  # one line
            return None
    assert len(examples) > 0
    assert all(len(texts) == len(examples) for texts in examples.texts)
    if examples.labels is not None:
        assert len(examples.labels) == len(examples) and all(math.isfinite(y) for y in examples.labels)
    return examples


SENTENCE = st.sampled_from(["a cat", "the dog sat", "caf\u00e9 au lait", "it's \"quoted\"", "x, y; z"])
ODD_CELL = st.one_of(st.sampled_from(["", " ", '"', '""', '"a, b"', "a\tb", "x,y", "nan", "NaN", "inf", "-1",
                                      "2", "3.5", "\u2028", "'", "1\r2"]), st.text(max_size=8))
LABEL = {"label": st.sampled_from(["0", "1"]), "score": st.sampled_from(["0.5", "4", "3.800"]),
         "idx": st.sampled_from(["0", "7", "12"]), "index": st.sampled_from(["0", "7", "12"])}
NEWLINE = st.sampled_from(["\n", "\n", "\r\n", "\r", "\n\n"])  # mostly \n, with mixes and empty lines
JUNK = st.binary(min_size=1, max_size=6)  # bytes that are often not UTF-8


def rarely(draw) -> bool:
    """One time in eight: most files are good with one fault, so reading and failing both get tried."""
    return draw(st.integers(0, 7)) == 0


@st.composite
def delimited(draw, delimiter: str, columns: list[str], header: bool = True) -> bytes:
    """A CSV/TSV file: maybe a BOM, a header (maybe reordered), rows whose cells fit their column
    (a label, an index, a sentence) except rarely: an odd cell, a row too short or too long, junk
    bytes, a mix of line ends."""
    if header and rarely(draw):
        columns = draw(st.permutations(columns))
    lines = [delimiter.join(columns)] if header else []
    for _ in range(draw(st.integers(0, 6))):
        cells = [draw(ODD_CELL) if rarely(draw) else draw(LABEL.get(c, SENTENCE)) for c in columns]
        if rarely(draw):
            cells = cells[: draw(st.integers(0, len(cells)))] if draw(st.booleans()) else [*cells, "extra"]
        if delimiter == "," and not rarely(draw):  # quoted as CSV writers do, except rarely
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="").writerow(cells)
            lines.append(buffer.getvalue())
        else:
            lines.append(delimiter.join(cells))
    parts = []
    for line in lines:
        parts.append(line.encode("utf-8", "surrogatepass"))
        parts.append(draw(NEWLINE).encode())
        if rarely(draw) and rarely(draw):
            parts.append(draw(JUNK))
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + b"".join(parts)


ODD_JSON = st.one_of(ODD_CELL, st.integers(-2, 3), st.floats(allow_nan=True), st.none(), st.booleans(),
                     st.lists(st.integers(), max_size=2))
JSON_GOOD = {"sentence": SENTENCE, "label": st.sampled_from([0, 1, "0", 1.0]), "idx": st.integers(0, 9),
             "score": st.sampled_from([0.5, 4, "3.8"])}


@st.composite
def json_file(draw, lines: bool, label: str = "label") -> bytes:
    """JSON (a list of objects) or JSON lines: objects with a sentence, a label and an index, except
    rarely: an odd value, a field missing, a row that is not an object, a file cut short or with junk."""
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = {k: draw(ODD_JSON) if rarely(draw) else draw(JSON_GOOD[k]) for k in ("sentence", label, "idx")
               if not rarely(draw)}
        rows.append(draw(ODD_JSON) if rarely(draw) else row)
    text = "".join(json.dumps(r) + draw(NEWLINE) for r in rows) if lines else json.dumps(rows)
    data = text.encode()
    if rarely(draw):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(JUNK) + data[cut:][: draw(st.integers(0, 5))]
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data


def user_file(data: bytes, suffix: str, task: str = "sst2", label: str = "label",
              require: bool = True) -> Examples | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"mine{suffix}"
        path.write_bytes(data)
        return reads_or_says_why(lambda: read_file(path, get_task(task), ("sentence",), label, "idx",
                                                    keep_rows=True, require_labels=require))


@FUZZ
@given(st.one_of(delimited(",", ["sentence", "label", "idx"]), st.binary(max_size=64)))
def test_csv(data):
    user_file(data, ".csv")


@FUZZ
@given(delimited(",", ["note", "sentence"]))
def test_csv_without_labels_as_a_test_split(data):
    user_file(data, ".csv", require=False)


@FUZZ
@given(st.one_of(delimited("\t", ["sentence", "label"]), delimited("\t", ["idx", "sentence", "label"]),
                 st.binary(max_size=64)))
def test_tsv(data):
    user_file(data, ".tsv")


@FUZZ
@given(st.one_of(json_file(lines=False), st.binary(max_size=64)))
def test_json(data):
    user_file(data, ".json")


@FUZZ
@given(st.one_of(json_file(lines=True, label="score"), st.binary(max_size=64)))
def test_jsonl(data):
    user_file(data, ".jsonl", task="stsb", label="score")  # regression: NaN and inf scores


GLUE_FILES = [
    ("cola", "train.tsv", ["source", "label", "mark", "sentence"], False),
    ("stsb", "dev.tsv", ["index", "genre", "filename", "year", "old_index", "source1", "source2",
                         "sentence1", "sentence2", "score"], True),
    ("rte", "test.tsv", ["index", "sentence1", "sentence2"], True),
]


@FUZZ
@given(st.sampled_from(GLUE_FILES).flatmap(lambda t: st.tuples(st.just(t), delimited("\t", t[2], t[3]))))
def test_glue_tsv(case):
    (task, file, _, _), data = case
    task = get_task(task)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / task.folder / file
        path.parent.mkdir()
        path.write_bytes(data)
        split = next(s for s in (task.train, *task.validation, *task.test) if s and s.file == file)
        reads_or_says_why(lambda: read_glue_split(Path(tmp), task, split))


@pytest.fixture(scope="module")
def checkpoint_bytes() -> bytes:
    """A small checkpoint shaped like glue_lit's (hyperparameters, hf_config, weights, optimizer)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.ckpt"
        AtomicCheckpointIO().save_checkpoint({
            "epoch": 1, "global_step": 20, "hyper_parameters": {"task_name": "cola"},
            "hf_config": json.dumps({"id2label": {"0": "unacceptable", "1": "acceptable"}}),
            "state_dict": {f"model.layer{i}.weight": torch.randn(16, 16) for i in range(4)},
            "optimizer_states": [{"state": {0: {"exp_avg": torch.randn(16)}}}],
        }, path)
        return path.read_bytes()


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=4))
def test_checkpoint_cut_short_or_corrupted(checkpoint_bytes, cut, flips):
    data = bytearray(checkpoint_bytes[: max(0, round(cut * len(checkpoint_bytes)))] if cut < 0.98
                     else checkpoint_bytes)
    for where, xor in flips:
        if data:
            data[min(len(data) - 1, int(where * len(data)))] ^= xor
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.ckpt"
        path.write_bytes(bytes(data))
        for read in (lambda: GlueCheckpoint.read(path), lambda: AtomicCheckpointIO().load_checkpoint(path)):
            with no_hang():
                try:
                    loaded = read()
                except GlueLitError as err:
                    assert str(path) in str(err) and "\n" not in str(err)
                    continue
            if bytes(data) != checkpoint_bytes:  # what reads must be what was saved
                state = loaded.data if isinstance(loaded, GlueCheckpoint) else loaded
                assert state["global_step"] == 20 and state["hyper_parameters"] == {"task_name": "cola"}
