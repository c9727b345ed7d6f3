"""The tokenization cache: safe under concurrent runs, and cleared with one command."""

from __future__ import annotations

import hashlib
import multiprocessing
import random

import numpy as np
import pytest
from conftest import WORDS

from glue_lit.__main__ import main
from glue_lit.batching import load_or_tokenize, tokenize
from glue_lit.hub import load_tokenizer
from glue_lit.sources import Examples


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode() + arrays[key].tobytes())
    return h.hexdigest()


def big_examples(n: int = 20_000) -> Examples:
    """Enough rows that writing the entry takes a while, so two writers overlap."""
    rng = random.Random(0)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(5, 40))) for _ in range(n)]
    return Examples((texts,), [i % 2 for i in range(n)], list(range(n)))


def writer(tokenizer, ex, cache, expected: str, rounds: int, start, finished, end, done) -> None:
    for _ in range(rounds):
        start.wait()  # all begin on an empty cache: each writer tokenizes and writes the entry
        assert digest(load_or_tokenize(tokenizer, ex, 64, "int64", cache)) == expected
        finished.wait()
        end.wait()


def reader(tokenizer, ex, cache, expected: str, rounds: int, start, finished, end, done) -> None:
    """Reads every entry it sees while the writers write: a half-written one fails here."""
    for _ in range(rounds):
        start.wait()
        while True:
            last = done.is_set()
            for entry in cache.glob("*.npz"):
                with np.load(entry) as data:
                    assert digest(dict(data)) == expected
            if last:
                break
        end.wait()


@pytest.mark.slow  # processes of their own (27 s on 2 shared cores)
def test_concurrent_runs_writing_the_same_entry_leave_it_whole(tiny_model, tmp_path):
    tokenizer, ex, cache = load_tokenizer(tiny_model), big_examples(), tmp_path / "cache" / "sst2"
    cache.mkdir(parents=True)
    expected = digest(tokenize(tokenizer, ex, 64, "int64"))
    rounds, ctx = 3, multiprocessing.get_context("fork")
    sync = (ctx.Barrier(4), ctx.Barrier(3), ctx.Barrier(4), ctx.Event())  # start, finished, end, done
    start, finished, end, done = sync
    procs = [ctx.Process(target=role, args=(tokenizer, ex, cache, expected, rounds, *sync))
             for role in (writer, writer, reader)]
    for p in procs:
        p.start()
    try:
        for _ in range(rounds):
            start.wait(timeout=120)
            finished.wait(timeout=120)  # both writers are done
            done.set()
            end.wait(timeout=120)
            (entry,) = cache.iterdir()  # one entry, no temporary file left behind
            with np.load(entry) as data:
                assert digest(dict(data)) == expected
            entry.unlink()
            done.clear()
    finally:
        for p in procs:
            p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0]


def test_a_cache_that_cannot_be_written_only_warns(tiny_model, tmp_path):
    tokenizer, ex = load_tokenizer(tiny_model), big_examples(50)
    (tmp_path / "sst2").write_text("a file where the task folder should be")
    with pytest.warns(UserWarning, match="tokenization cache not written"):
        arrays = load_or_tokenize(tokenizer, ex, 64, "int64", tmp_path / "sst2")
    assert digest(arrays) == digest(tokenize(tokenizer, ex, 64, "int64"))


def test_clear_cache_deletes_cache_entries_only(tiny_model, tmp_path, monkeypatch, capsys):
    tokenizer, ex = load_tokenizer(tiny_model), big_examples(50)
    root = tmp_path / "cache"
    for task in ("cola", "rte"):
        load_or_tokenize(tokenizer, ex, 64, "int64", root / task)
    (root / "rte" / "tmpab12.tmp").write_bytes(b"left by a killed run")
    (root / "notes.txt").write_text("not ours")
    (root / "precision.json").write_text("{}")  # step timings taken under load: timed again after this
    (root / "mine").mkdir()
    (root / "mine" / "data.npz").write_bytes(b"not ours either")

    assert main(["clear-cache", "--cache_dir", str(root)]) == 0
    assert f"{root}: deleted 4 cached files" in capsys.readouterr().out
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "mine", "mine/data.npz", "notes.txt"
    ]
    # Without --cache_dir: $GLUE_LIT_CACHE, as the runs use it.
    load_or_tokenize(tokenizer, ex, 64, "int64", root / "cola")
    monkeypatch.setenv("GLUE_LIT_CACHE", str(root))
    assert main(["clear-cache"]) == 0
    assert not (root / "cola").exists()
    assert main(["clear-cache"]) == 0  # nothing left: still fine
    assert "deleted 0 cached files" in capsys.readouterr().out.splitlines()[-1]
