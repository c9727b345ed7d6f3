"""One run of one runner in a worker process of its own, so that its peak memory is its own."""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from benchmarks.tools.speed.bare import run_bare
from benchmarks.tools.speed.probe import Probe, matmul_peaks
from benchmarks.tools.speed.runners import absolute_paths, run_glue_lit, run_trainer

RESULT_TAG = "THROUGHPUT_RESULT "
RUNNERS = {"glue_lit": run_glue_lit, "trainer": run_trainer, "bare": run_bare}


def worker(args: argparse.Namespace) -> None:
    """Run ``args.worker`` in this process and print its result as one tagged JSON line."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    absolute_paths(args)
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        os.chdir(tmp)  # logs, checkpoints and Trainer output stay out of the caller's folder
        probe = Probe(args.device)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        result = RUNNERS[args.worker](args, probe)
    # Measured after the run (its buffers stay out of the peak memory) and in the parent before.
    result["matmul_peaks"] = matmul_peaks(args.device)
    result["precision"] = args.trainer_precision if args.worker == "trainer" else args.precision
    print(RESULT_TAG + json.dumps(result), flush=True)
