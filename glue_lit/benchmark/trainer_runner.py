"""``benchmark --runner trainer``: the Hugging Face notebook's recipe through ``transformers.Trainer``,
the baseline a glue_lit benchmark is compared with.

The options are read as ``fit`` reads them (``configs/<task>.yaml``, yours, the recipe), and the
run takes from them the model, the data (glue_lit's readers and its seeded train subset), batch
size, learning rate, epochs or steps, weight decay, maximum length, precision and loader workers.
Everything else is ``Trainer``'s default: gradient clipping at norm 1.0, linear decay without
warm-up, AdamW (betas 0.9/0.999, eps 1e-8), dynamic padding (``DataCollatorWithPadding``) over
random batches, one evaluation per epoch; the head is ``AutoModelForSequenceClassification``'s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from glue_lit.benchmark.records import Record
from glue_lit.errors import GlueLitError
from glue_lit.tasks import GlueTask


def datasets_for(task: GlueTask, reader, tokenizer, max_length: int, keep: list[int] | None):
    """Tokenized train (only the positions ``keep``, when given) and dev sets from glue_lit's reader."""
    import datasets

    def dataset(split, rows=None):
        ex = reader.read_split(split)
        columns = {f"text{i}": col for i, col in enumerate(ex.texts)}
        ds = datasets.Dataset.from_dict({**columns, "label": ex.labels})
        if rows is not None:
            ds = ds.select(rows)
        return ds.map(lambda b: tokenizer(*(b[c] for c in columns), truncation=True, max_length=max_length),
                      batched=True, remove_columns=list(columns))

    return dataset(task.train, keep), dataset(task.validation[0])


def metrics_function(task: GlueTask, collapsed: list | None = None):
    """The Trainer's ``compute_metrics``: the task's dev metrics under glue_lit's names; with
    ``collapsed``, why each evaluation's predictions are degenerate (or None) is appended to it."""
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


def training_arguments(recipe: dict, output_dir: str, seed: int) -> dict:
    """``TrainingArguments`` keywords of the recipe (the throughput benchmark runs the same ones)."""
    precision = str(recipe.get("precision") or "32-true")
    return dict(
        output_dir=output_dir, per_device_train_batch_size=recipe["batch_size"],
        per_device_eval_batch_size=128, learning_rate=recipe["learning_rate"],
        weight_decay=recipe["weight_decay"], num_train_epochs=recipe["epochs"] or 1,
        max_steps=recipe["max_steps"],
        seed=seed, eval_strategy="epoch", save_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=recipe.get("device", "cpu") == "cpu", logging_strategy="no",
        bf16=precision.startswith("bf16"), fp16=precision.startswith("16"),
        dataloader_num_workers=recipe.get("num_workers", 0),
    )


def read_recipe(args: list[str], seed: int):
    """(recipe, data module) of the ``fit`` options ``args``: what the Trainer run shares with glue_lit."""
    from glue_lit.cli import build_run

    cli = build_run([*args, "--seed_everything", str(seed), "--trainer.logger", "false"])
    dm, hp, trainer = cli.datamodule, cli.model.hparams, cli.trainer
    recipe = {"batch_size": dm.hparams.batch_size, "learning_rate": hp.learning_rate,
              "epochs": trainer.max_epochs, "max_steps": trainer.max_steps, "weight_decay": hp.weight_decay,
              "max_length": dm.hparams.max_length, "precision": str(trainer.precision),
              "num_workers": dm.hparams.num_workers,
              "device": "cuda" if trainer.strategy.root_device.type == "cuda" else "cpu"}
    return recipe, dm, hp.model_name_or_path


def run_trainer(task: GlueTask, seed: int, args: list[str], max_train: int | None,
                submission: Path | None, log_dir: Path, callbacks: list | tuple = ()) -> Record:
    """Train ``task`` with ``seed`` through ``transformers.Trainer``; return its record."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    from glue_lit.data import subset_positions
    from glue_lit.hub import load_model, load_tokenizer

    recipe, reader, model_name = read_recipe(args, seed)
    if reader.task.name != task.name:
        raise GlueLitError(f"the options for {task.name} set --data.task_name {reader.task.name}")
    tokenizer = load_tokenizer(model_name)
    n = len(reader.read_split(task.train))
    keep = subset_positions(n, max_train, seed).tolist() if max_train and n > max_train else None
    train, dev = datasets_for(task, reader, tokenizer, recipe["max_length"], keep)
    set_seed(seed)  # the head's initialisation, as Trainer's model_init path seeds it
    model = load_model(model_name, num_labels=task.num_labels, id2label=task.id2label,
                       label2id={v: k for k, v in task.id2label.items()},
                       problem_type="regression" if task.is_regression else "single_label_classification")
    collapsed: list[str | None] = []
    with tempfile.TemporaryDirectory(prefix="trainer-runner-") as tmp:
        targs = TrainingArguments(**training_arguments(recipe, tmp, seed))
        trainer = Trainer(model=model, args=targs, train_dataset=train, eval_dataset=dev,
                          processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
                          compute_metrics=metrics_function(task, collapsed), callbacks=list(callbacks))
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    prefix = f"eval_{task.validation[0].prefix}/"
    evals = [h for h in trainer.state.log_history if f"eval_{task.monitor_key}" in h]
    history = [{"epoch": round(h["epoch"], 3), "step": h["step"],
                "metrics": {k.removeprefix("eval_"): v for k, v in h.items() if k.startswith(prefix)},
                "losses": {f"{prefix.removeprefix('eval_')}loss": h["eval_loss"]} if "eval_loss" in h else {},
                "collapsed": reason} for h, reason in zip(evals, collapsed)]
    return Record(
        runner="trainer", task=task.name, seed=seed, model=model_name, history=history,
        train_examples=len(train), steps=trainer.state.global_step, wall_s=round(wall, 1),
        threads=torch.get_num_threads(),
        recipe={"max_train": max_train, **{k: recipe[k] for k in ("batch_size", "learning_rate", "epochs",
                "weight_decay", "max_length", "max_steps")}, "max_grad_norm": targs.max_grad_norm,
                "warmup_ratio": 0.0, "optimizer": str(targs.optim), "precision": recipe["precision"]},
        args=args,
    )
