"""Full fine-tuning against LoRA (``--model.peft``) on CoLA, MRPC and STS-B, in one table::

    nice python -m benchmarks.experiments.lora_vs_full --config configs/minilm.yaml \\
        [--full_from runs/benchmark/version_3]  # full fine-tuning records of the same recipe

Each method is one ``python -m glue_lit benchmark`` over the seeds (42, 43, 44) with the fit
options given here and its own learning rate (full 5e-5, LoRA 1e-3); its records live in
OUT/full and OUT/lora, so the same command run again trains only what has no record yet.
``--full_from`` takes the full fine-tuning records from an earlier benchmark folder instead. Then, per task:

- step time: both models built as ``fit`` builds them, in this one process, on the same batches;
  after a warm-up, ``--rounds`` rounds of ``--steps`` steps of each method in turn (forward,
  backward, clipping at glue_lit's 1.0, glue_lit's AdamW), the median round per method;
- peak memory: a fresh process per method doing the same steps (peak RSS; on CUDA, peak allocated);
- trainable parameters, and the size of the best checkpoint file (median over seeds).

The table goes to OUT/lora_vs_full.md and .json and is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from itertools import cycle, islice
from pathlib import Path

from benchmarks import REPO, child_env
from benchmarks.tools.speed.bare import BareStep
from glue_lit.benchmark.records import Record, load_records
from glue_lit.benchmark.report import aggregate, metric_label
from glue_lit.benchmark.runs import task_args
from glue_lit.seeds import parse_seeds
from glue_lit.tasks import get_task

METHODS = ("full", "lora")


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     epilog="Other options go to every fit: --config configs/minilm.yaml")
    parser.add_argument("--tasks", default="cola,mrpc,stsb")
    parser.add_argument("--seeds", default="42,43,44", help="as benchmark's --seeds (42,43,44 or 42-44)")
    parser.add_argument("--max_train", help="as benchmark's --max_train (a train subset per task)")
    parser.add_argument("--full_lr", default="5e-5")
    parser.add_argument("--lora_lr", default="1e-3")
    parser.add_argument("--lora", default="{}", help="--model.peft of the LoRA runs (default: its defaults)")
    parser.add_argument("--out", type=Path, default=Path("runs/lora_vs_full"))
    parser.add_argument("--full_from", type=Path, help="a benchmark folder with the full fine-tuning records")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per method and round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory", help=argparse.SUPPRESS)  # "METHOD:TASK": the peak-memory child
    return parser.parse_known_args(argv)


def method_args(args: argparse.Namespace) -> dict[str, list[str]]:
    return {"full": ["--model.learning_rate", args.full_lr],
            "lora": ["--model.learning_rate", args.lora_lr, "--model.peft", args.lora]}


def benchmark(method: str, args: argparse.Namespace, options: list[str]) -> Path:
    """The benchmark folder of ``method``, run (or continued) by ``glue_lit benchmark``."""
    from glue_lit.__main__ import main as glue_lit

    root = args.out / method
    resume = ["--resume"] if list(root.glob("version_*/plan.json")) else []
    command = ["benchmark", "--tasks", args.tasks, "--seeds", args.seeds,
               "--out", str(root), "--config_dir", str(REPO / "configs"), *resume, *options,
               *(["--max_train", args.max_train] if args.max_train else []),
               *method_args(args)[method]]
    # In this process, as `python -m glue_lit benchmark` would run it: a child process per method
    # would import torch and Lightning again (~6 s each).
    if glue_lit(command) != 0:
        raise SystemExit(f"lora_vs_full: the {method} benchmark failed; run the same command again to "
                         "continue it")
    return newest(root)


def newest(root: Path) -> Path:
    if (root / "runs").is_dir():
        return root
    versions = sorted(root.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    if not versions:
        raise SystemExit(f"lora_vs_full: no benchmark records in {root}")
    return versions[-1]


def build(task: str, options: list[str], extra: list[str]) -> BareStep:
    """One method's step (module, optimizer, trained parameters, clipping), built as ``fit`` builds it."""
    return BareStep.build([*task_args(get_task(task), REPO / "configs", options, None), *extra,
                           "--seed_everything", "42", "--trainer.logger", "false"])


def batches(data, n: int) -> list[dict]:
    loader = data.train_dataloader()
    sampler = getattr(loader.batch_sampler, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(0)
    return list(islice(cycle(loader), n))


def train_steps(step, data: list[dict]) -> float:
    """Seconds per step over ``data``."""
    import torch

    step.module.train()
    sync = torch.cuda.synchronize if step.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for batch in data:
        step.forward_backward(batch)
        step.update()
    sync()
    return (time.perf_counter() - start) / len(data)


def step_times(task: str, args: argparse.Namespace, options: list[str]) -> dict:
    """Per method: median seconds per step over rounds that alternate the methods, and trained size."""
    steps, data = {}, None
    for method, extra in method_args(args).items():
        steps[method] = build(task, options, extra)
        # The first method's batches, for both.
        data = data or batches(steps[method].data, max(args.steps, args.warmup))
    rounds: dict[str, list[float]] = {m: [] for m in steps}
    for method, step in steps.items():
        if args.warmup:
            train_steps(step, data[: args.warmup])
    for _ in range(args.rounds):
        for method, step in steps.items():
            rounds[method].append(train_steps(step, data[: args.steps]))
    return {m: {"step_s": statistics.median(rounds[m]), "rounds_s": rounds[m],
                "trainable": sum(p.numel() for p in steps[m].params)} for m in steps}


def peak_memory(method: str, task: str, argv: list[str]) -> dict:
    """Peak memory of a fresh process that builds ``method`` and trains warm-up + ``--steps`` steps."""
    out = subprocess.run([sys.executable, "-m", __spec__.name, *argv, "--memory", f"{method}:{task}"],
                         capture_output=True, text=True, env=child_env())
    if out.returncode != 0:
        raise SystemExit(f"lora_vs_full: peak memory of {method} on {task} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_child(args: argparse.Namespace, options: list[str]) -> None:
    import resource

    import torch

    method, task = args.memory.split(":")
    step = build(task, options, method_args(args)[method])
    train_steps(step, batches(step.data, args.warmup + args.steps))
    peak = {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # KiB on Linux
    if step.device.type == "cuda":
        peak["cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(peak))


def checkpoint_mb(records: list[Record], task: str) -> float | None:
    sizes = [Path(r.best_checkpoint).stat().st_size / 2**20 for r in records
             if r.task == task and r.best_checkpoint and Path(r.best_checkpoint).is_file()]
    return statistics.median(sizes) if sizes else None


def table(rows: list[dict]) -> str:
    head = ["task", "method", "lr", "dev metric: median (± std, seeds)", "trainable params",
            "step ms (x full)", "peak memory MB", "checkpoint MB (x full)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        full = next(x for x in rows if x["task"] == r["task"] and x["method"] == "full")
        s = r["metric"]
        dev = f"{metric_label(r['key'])} {s['median']:.2f} (± {s['std']:.2f}, {s['n']})" if s else "-"
        ms = f"{1000 * r['step_s']:.0f} ({r['step_s'] / full['step_s']:.2f}x)"
        ckpt = "-" if r["ckpt_mb"] is None else f"{r['ckpt_mb']:.1f}"
        if r["ckpt_mb"] and full["ckpt_mb"]:
            ckpt += f" ({r['ckpt_mb'] / full['ckpt_mb']:.3f}x)"
        memory = f"{r['memory'].get('cuda_mb', r['memory']['rss_mb']):.0f}"
        lines.append("| " + " | ".join([r["task"], r["method"], r["lr"], dev, f"{r['trainable']:,}", ms,
                                        memory, ckpt]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    args, options = parse(argv)
    if args.memory:
        return memory_child(args, options)
    tasks = [get_task(t.strip()).name for t in args.tasks.split(",") if t.strip()]
    parse_seeds(args.seeds)  # a bad --seeds fails here, before anything trains
    folders = {"full": newest(args.full_from) if args.full_from else benchmark("full", args, options),
               "lora": benchmark("lora", args, options)}
    records = {m: load_records(f) for m, f in folders.items()}
    stats = {m: aggregate(r) for m, r in records.items()}
    rows = []
    for task in tasks:
        timing = step_times(task, args, options)
        key = get_task(task).monitor_key
        for m in METHODS:
            # The rate the records were trained with (--full_from: that benchmark's).
            lrs = sorted({f'{r.recipe["learning_rate"]:g}' for r in records[m] if r.task == task})
            rows.append({"task": task, "method": m, "lr": ", ".join(lrs) or "-", "key": key,
                         "metric": stats[m].get(task, {}).get("best", {}).get(key),
                         **timing[m], "memory": peak_memory(m, task, argv),
                         "ckpt_mb": checkpoint_mb(records[m], task)})
    args.out.mkdir(parents=True, exist_ok=True)
    named = ", ".join(os.path.relpath(f) for f in folders.values())  # as a committed table reads anywhere
    text = (f"{table(rows)}\nDev metrics in percent at the best validation; records: {named}. "
            f"Step time: median of {args.rounds} rounds of "
            f"{args.steps} steps per method, alternating, in one process. Memory: peak "
            f"{'allocated (CUDA)' if 'cuda_mb' in rows[0]['memory'] else 'RSS'} of a process training "
            f"{args.warmup + args.steps} steps.\nCommand: "
            f"{shlex.join(['python', '-m', 'benchmarks.experiments.lora_vs_full', *argv])}\n")
    (args.out / "lora_vs_full.md").write_text(text, encoding="utf-8")
    (args.out / "lora_vs_full.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
