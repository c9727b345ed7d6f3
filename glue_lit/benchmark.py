"""``python -m glue_lit benchmark --tasks cola,mrpc,...``: fine-tune several tasks, tabulate the results.

Each task is one ordinary CLI run, ``configs/<task>.yaml`` followed by the options you add (for
example ``--config configs/offline.yaml --trainer.max_epochs 1``), so a benchmark trains exactly
what ``python -m glue_lit fit`` would. After fitting, the best checkpoint is validated again and
its dev metrics go into ``results.md``, ``results.csv`` and ``results.json`` in a new folder
(``runs/benchmark/version_N``), with the GLUE-style average, wall times and, where the model
family has them, published dev-set numbers side by side. ``--submission`` also predicts each
test split (and AX with the MNLI model) and zips the files for the GLUE leaderboard.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import re
import shlex
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from glue_lit.errors import GlueLitError
from glue_lit.tasks import TASKS, GlueTask, get_task


@dataclass(frozen=True)
class Reference:
    """Published GLUE dev-set results of one model, in percent.

    Args:
        name: model the numbers are for (the column title).
        source: where they are published.
        family: regular expression matched against model names to show this reference for.
        dev: task -> logged metric name -> value; only numbers the source states for that metric.
    """

    name: str
    source: str
    family: str
    dev: dict[str, dict[str, float]]

    def applies_to(self, model_name: str) -> bool:
        return re.search(self.family, model_name, re.IGNORECASE) is not None


REFERENCES = (
    Reference(
        "bert-base-cased",
        "Hugging Face transformers, examples/pytorch/text-classification/README.md: run_glue.py "
        "results on the dev sets (3 epochs; 5 for MRPC and WNLI)",
        r"(^|/)bert-base",
        {
            "cola": {"val/mcc": 56.53},
            "sst2": {"val/accuracy": 92.32},
            "mrpc": {"val/f1": 88.85, "val/accuracy": 84.07},
            "stsb": {"val/pearson": 88.64, "val/spearman": 88.48},
            "qqp": {"val/accuracy": 90.71, "val/f1": 87.49},
            "mnli": {"val_matched/accuracy": 83.91, "val_mismatched/accuracy": 84.10},
            "qnli": {"val/accuracy": 90.66},
            "rte": {"val/accuracy": 65.70},
            "wnli": {"val/accuracy": 56.34},
        },
    ),
    Reference(
        "MiniLM-L12-H384",
        "microsoft/MiniLM-L12-H384-uncased model card (Wang et al. 2020, arXiv:2002.10957): dev "
        "sets; its MRPC and QQP numbers are left out because the card does not name their metric",
        r"minilm",
        {
            "mnli": {"val_matched/accuracy": 85.7},
            "sst2": {"val/accuracy": 93.0},
            "qnli": {"val/accuracy": 91.5},
            "cola": {"val/mcc": 58.5},
            "rte": {"val/accuracy": 73.3},
        },
    ),
)


def task_score(task: GlueTask, metrics: dict[str, float]) -> float | None:
    """GLUE's score of one task (see ``GlueTask.score_keys``); ``None`` when a metric is missing."""
    values = [metrics.get(k) for k in task.score_keys]
    if not values or None in values:
        return None
    return sum(values) / len(values)


def metric_label(key: str) -> str:
    """``val/mcc`` -> ``mcc``; ``val_matched/accuracy`` -> ``matched accuracy``."""
    prefix, name = key.split("/", 1)
    return f"{prefix.removeprefix('val').strip('_')} {name}".strip()


def _next_version(root: Path) -> Path:
    versions = [int(p.name.split("_")[1]) for p in root.glob("version_*") if p.name.split("_")[1].isdigit()]
    return root / f"version_{max(versions, default=-1) + 1}"


def _cli_args(task: GlueTask, config_dir: Path, overrides: list[str]) -> tuple[list[str], str | None]:
    config = config_dir / f"{task.name}.yaml"
    if config.is_file():
        return ["--config", str(config), *overrides], str(config)
    return ["--data.task_name", task.name, *overrides], None


def _build(args: list[str]):
    from glue_lit.cli import cli_main

    with warnings.catch_warnings():
        # cli_main(args) is called from inside this command on purpose.
        warnings.filterwarnings("ignore", "LightningCLI's args parameter")
        return cli_main(args, run=False)


def run_task(task: GlueTask, args: list[str], max_train: int | None, submission: Path | None) -> dict:
    """Fit one task through the CLI, re-validate its best checkpoint, optionally predict its test set."""
    cli = _build(args)
    if max_train and cli.datamodule.hparams.train_subset is None:
        if len(cli.datamodule.read_split(task.train)) > max_train:
            cli = _build([*args, "--data.train_subset", str(max_train)])
    trainer, model, dm = cli.trainer, cli.model, cli.datamodule
    if dm.task.name != task.name:
        raise GlueLitError(f"the options for {task.name} set --data.task_name {dm.task.name}")
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    trainer.validate(model, datamodule=dm, ckpt_path=best or None, verbose=False)
    wall = time.perf_counter() - start
    keys = [f"{s.prefix}/{m}" for s in task.validation for m in task.metrics]
    metrics = {k: 100 * float(trainer.callback_metrics[k]) for k in keys if k in trainer.callback_metrics}
    if submission is not None:
        if not best:
            raise GlueLitError(f"{task.name}: fit saved no best checkpoint to predict the test set with")
        # As `predict --ckpt_path best.ckpt` would, for this task and those predicted with its model (AX).
        for name in (task.name, *(t.name for t in TASKS.values() if t.model_task == task.name)):
            pred = _build([*args, "--data.task_name", name, "--predictions.output_dir", str(submission)])
            pred.trainer.predict(pred.model, datamodule=pred.datamodule, ckpt_path=best,
                                 return_predictions=False)
    return {
        "model": model.hparams.model_name_or_path,
        "metrics": metrics,
        "score": task_score(task, metrics),
        "train_examples": len(dm.train_split()),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "wall_s": round(wall, 1),
        "best_checkpoint": best or None,
        "log_dir": trainer.log_dir,
    }


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _metrics_text(metrics: dict[str, float], spec: str = ".2f") -> str:
    return ", ".join(f"{metric_label(k)} {v:{spec}}" for k, v in metrics.items())


def _reference_cell(ref: Reference, task: GlueTask) -> str:
    dev = ref.dev.get(task.name)
    if not dev:
        return ""
    score, text = task_score(task, dev), _metrics_text(dev, "g")  # "g": as precise as published
    return f"{_fmt(score)} ({text})" if score is not None else text


def summarize(rows: list[dict], references: list[Reference]) -> dict:
    """Averages over the tasks that finished; a reference's only where it covers all of them."""
    done = [r for r in rows if r.get("score") is not None]
    average = sum(r["score"] for r in done) / len(done) if done else None
    ref_averages = {}
    for ref in references:
        scores = [task_score(get_task(r["task"]), ref.dev.get(r["task"], {})) for r in done]
        ref_averages[ref.name] = sum(scores) / len(scores) if done and None not in scores else None
    return {"average": average, "reference_averages": ref_averages}


def render_markdown(rows: list[dict], references: list[Reference], summary: dict, command: str) -> str:
    models = sorted({r["model"] for r in rows if r.get("model")})
    refs = [f"{ref.name} [{i}]" for i, ref in enumerate(references, 1)]
    head = ["task", "dev metrics", "score", "train examples", "epochs", "wall time (s)", *refs]
    lines = [
        "# glue_lit benchmark",
        "",
        f"Model: {', '.join(f'`{m}`' for m in models) or '?'}. Dev-set metrics of the best checkpoint, "
        "in percent; score is the task's GLUE score (mean of its metrics; MCC for CoLA; MNLI matched and "
        "mismatched); wall time covers fit and the re-validation of the best checkpoint.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        task = get_task(r["task"])
        if r.get("error"):
            cells = [r["task"], f"failed: {r['error']}", "", "", "", "", *([""] * len(references))]
        else:
            cells = [r["task"], _metrics_text(r["metrics"]), _fmt(r["score"]), str(r["train_examples"]),
                     str(r["epochs"]), f"{r['wall_s']:.1f}",
                     *(_reference_cell(ref, task) for ref in references)]
        lines.append("| " + " | ".join(cells) + " |")
    total = sum(r.get("wall_s", 0) for r in rows)
    ref_avg = [_fmt(summary["reference_averages"][ref.name]) for ref in references]
    cells = ["**average**", "", f"**{_fmt(summary['average'])}**", "", "", f"{total:.1f}", *ref_avg]
    lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for i, ref in enumerate(references, 1):
        lines.append(f"[{i}] {ref.name}: {ref.source}.  ")
    if references:
        lines.append("A reference average is shown only where it covers every task above.  ")
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def write_csv(path: Path, rows: list[dict], references: list[Reference], summary: dict) -> None:
    keys = sorted({k for r in rows for k in r.get("metrics", {})})
    fields = ["task", "model", "config", "score", *keys, "train_examples", "epochs", "steps", "wall_s",
              *(f"reference {ref.name}" for ref in references), "error"]
    with path.open("x", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            task = get_task(r["task"])
            refs = {f"reference {ref.name}": task_score(task, ref.dev.get(task.name, {}))
                    for ref in references}
            metrics = {k: _rounded(v) for k, v in r.get("metrics", {}).items()}
            writer.writerow({**r, **metrics, "score": _rounded(r.get("score")), **refs})
        writer.writerow({"task": "average", "score": _rounded(summary["average"]),
                         "wall_s": round(sum(r.get("wall_s", 0) for r in rows), 1),
                         **{f"reference {k}": v for k, v in summary["reference_averages"].items()}})


def _zip(folder: Path, dest: Path) -> list[str]:
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    with zipfile.ZipFile(dest, "x", zipfile.ZIP_DEFLATED) as z:
        for name in names:
            z.write(folder / name, arcname=name)
    return names


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m glue_lit benchmark",
        allow_abbrev=False,  # so `--config` goes to the CLI, not to --config_dir
        description="Fine-tune each task with configs/<task>.yaml plus the remaining options (passed to "
        "`python -m glue_lit fit`, e.g. --config configs/offline.yaml --trainer.max_epochs 1) and "
        "write a table of dev results (Markdown, CSV, JSON).",
    )
    parser.add_argument("--tasks", required=True, help="comma-separated tasks, e.g. cola,mrpc,stsb")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"),
                        help="results go to a new version_N folder inside (default: runs/benchmark)")
    parser.add_argument("--config_dir", type=Path, default=Path("configs"),
                        help="folder of the per-task configs <task>.yaml (default: configs)")
    parser.add_argument("--max_train", type=int, default=None,
                        help="train on a seeded subset of at most this many examples per task")
    parser.add_argument("--submission", action="store_true",
                        help="also predict the test sets and zip the GLUE submission files")
    return parser.parse_known_args(argv)


def main(argv: list[str]) -> None:
    args, overrides = parse_args(argv)
    tasks = [get_task(name) for name in dict.fromkeys(t.strip() for t in args.tasks.split(",") if t.strip())]
    if not tasks:
        raise GlueLitError("--tasks is empty; name tasks like --tasks cola,mrpc")
    for task in tasks:
        if task.train is None:
            raise GlueLitError(f"{task.name} has no training data; benchmark {task.model_task} with "
                               f"--submission to predict {task.name} with its model")
    if args.max_train is not None and args.max_train < 1:
        raise GlueLitError(f"--max_train {args.max_train} must be a positive number of examples")
    folder = _next_version(args.out)
    folder.mkdir(parents=True)
    submission = folder / "submission" if args.submission else None
    command = shlex.join(["python", "-m", "glue_lit", "benchmark", *argv])
    rows = []
    for task in tasks:
        cli_args, config = _cli_args(task, args.config_dir, overrides)
        row = {"task": task.name, "config": config}
        try:
            row.update(run_task(task, cli_args, args.max_train, submission))
        except GlueLitError as err:
            row["error"] = str(err)
            print(f"glue_lit: benchmark: {task.name} failed: {err}", file=sys.stderr)
        rows.append(row)
        gc.collect()
    models = {r["model"] for r in rows if r.get("model")}
    references = [ref for ref in REFERENCES if any(ref.applies_to(m) for m in models)]
    summary = summarize(rows, references)
    result = {"command": command, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "tasks": rows, **summary,
              "references": [{"name": r.name, "source": r.source, "dev": r.dev} for r in references]}
    if submission is not None and submission.is_dir():
        result["submission"] = {"zip": str(folder / "submission.zip"),
                                "files": _zip(submission, folder / "submission.zip")}
    (folder / "results.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    write_csv(folder / "results.csv", rows, references, summary)
    markdown = render_markdown(rows, references, summary, command)
    (folder / "results.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"glue_lit: benchmark results in {folder}")
    failed = [r["task"] for r in rows if r.get("error")]
    if failed:
        raise GlueLitError(f"{len(failed)} of {len(rows)} tasks failed ({', '.join(failed)}); see {folder}")
