"""Whole runs timed as a user starts them: process start to the first training step (start-up), to
the end of training, and to exit, with the CPU time and peak memory of the process.

glue_lit runs ``python -m glue_lit fit --config configs/minilm.yaml`` (with its progress bar, logs
and checkpoints) plus the benchmark's settings and a callback that prints time marks
(``benchmarks.tools.speed.marks.TimeMarks``). The Trainer runs ``python -m glue_lit benchmark
--runner trainer`` with the same options, through this module (``python -m
benchmarks.tools.speed.process ...``), which hands the same marks to the command as a
``TrainerCallback``. Each in a fresh temporary folder.

Compare whole epochs: when ``--max_steps`` ends training inside an epoch, the Trainer still runs
that epoch's evaluation and Lightning does not, so "first step to end" differs by the evaluation.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import REPO, child_env
from benchmarks.tools.speed.runners import absolute_paths, glue_lit_argv

MARK_TAG = "SPEED_MARK "
# Found anywhere in the output: a progress bar may end its line without a newline.
MARK_RE = re.compile(re.escape(MARK_TAG) + r"(\{[^{}]*\})")


def mark(name: str, **values) -> None:
    """Print a time mark (wall-clock, comparable across processes) for the parent to read."""
    print(MARK_TAG + json.dumps({"mark": name, "time": time.time(), **values}), flush=True)


def timed(name: str, cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd`` in a fresh folder; seconds from its start to its marks and to its exit."""
    env = child_env(env)
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp, open(Path(tmp) / "output", "w+") as out:
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        # wait4: this child's own CPU time and peak memory, not those of every child so far.
        _, status, usage = os.wait4(proc.pid, 0)
        end = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    marks = {m["mark"]: m for m in map(json.loads, MARK_RE.findall(output))}
    if proc.returncode or {"first_step", "train_end"} - marks.keys():
        sys.stderr.write(output[-8000:])
        raise SystemExit(f"throughput: the {name} run failed (exit {proc.returncode})")
    first, last = marks["first_step"]["time"], marks["train_end"]["time"]
    return {
        "startup_s": first - start,
        "fit_s": last - first,
        "after_s": end - last,
        "wall_s": end - start,
        "steps": marks["train_end"]["steps"],
        "cores_used": (usage.ru_utime + usage.ru_stime) / (end - start),
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def glue_lit_process(args: argparse.Namespace, env: dict[str, str]) -> dict:
    args = copy.copy(args)
    absolute_paths(args)
    cmd = [sys.executable, "-m", "glue_lit", "fit", *recipe_argv(args),
           "--trainer.callbacks+=benchmarks.tools.speed.marks.TimeMarks"]
    return timed("glue_lit_process", cmd, env)


def recipe_argv(args: argparse.Namespace) -> list[str]:
    """The MiniLM recipe and the benchmark's settings, as both whole-process runs take them."""
    # Unset: null, so the data module reads $GLUE_DIR (a config's own folder would win over it).
    data = [] if args.data_dir else ["--data.data_dir", "null"]
    return ["--config", str(REPO / "configs" / "minilm.yaml"), *glue_lit_argv(args), *data]


def trainer_process(args: argparse.Namespace, env: dict[str, str]) -> dict:
    args = copy.copy(args)
    absolute_paths(args)
    args.precision = args.trainer_precision
    cmd = [sys.executable, "-m", "benchmarks.tools.speed.process", "--tasks", args.task,
           "--seeds", str(args.seed), "--runner", "trainer", "--out", "records", *recipe_argv(args)]
    return timed("trainer_process", cmd, env)


PROCESS_RUNNERS = {"glue_lit_process": glue_lit_process, "trainer_process": trainer_process}


def trainer_with_marks(argv: list[str]) -> None:
    """``python -m glue_lit benchmark ARGV`` as a user runs it, plus the time marks."""
    from transformers import TrainerCallback

    from glue_lit.benchmark import main

    class TimeMarks(TrainerCallback):
        started = False

        def on_step_begin(self, a, state, control, **kw):
            if not self.started:
                self.started = True
                mark("first_step")

        def on_train_end(self, a, state, control, **kw):
            mark("train_end", steps=state.global_step)

    main(argv, callbacks=[TimeMarks()])


if __name__ == "__main__":
    trainer_with_marks(sys.argv[1:])
