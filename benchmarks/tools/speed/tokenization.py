"""``--tokenize_only``: a train split tokenized through glue_lit's cache, cold and as a cache hit."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def tokenize_bench(args: argparse.Namespace) -> dict:
    """Seconds to read the split, to tokenize and cache it (fresh cache), and to hit the cache."""
    from glue_lit.batching import load_or_tokenize
    from glue_lit.data import GLUEDataModule
    from glue_lit.hub import load_tokenizer

    dm = GLUEDataModule(args.task, args.model, data_dir=args.data_dir, max_length=args.max_length)
    tokenizer = load_tokenizer(args.model)
    split, labels = dm.task.train, dm.task.label_dtype
    t0 = time.perf_counter()
    examples = dm.read_split(split)
    read_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="glue-lit-cache-") as cache:
        t0 = time.perf_counter()
        arrays = load_or_tokenize(tokenizer, examples, args.max_length, labels, Path(cache))
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_or_tokenize(tokenizer, examples, args.max_length, labels, Path(cache))
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # what a later run pays in all: read the files, then the cache hit
        load_or_tokenize(tokenizer, dm.read_split(split), args.max_length, labels, Path(cache))
        warm_read_s = time.perf_counter() - t0
    return {
        "task": args.task, "split": split.name, "examples": len(examples),
        "tokens": int(arrays["offsets"][-1]), "read_s": read_s, "cold_tokenize_s": cold_s,
        "cache_hit_s": warm_s, "cache_hit_with_read_s": warm_read_s,
        "examples_per_s_cold": len(examples) / cold_s,
    }


def print_tokenization(result: dict) -> None:
    print(f"\n{result['examples']:,} {result['task']} {result['split']} examples, "
          f"{result['tokens']:,} tokens: read {result['read_s']:.2f}s, "
          f"tokenize + cache {result['cold_tokenize_s']:.2f}s "
          f"({result['examples_per_s_cold']:,.0f}/s), cache hit {result['cache_hit_s']:.3f}s "
          f"({result['cache_hit_with_read_s']:.2f}s with reading the files)\n")
