"""One benchmark run: ``fit`` one task with one seed through the CLI, and record what it gave."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from glue_lit.benchmark.records import Record
from glue_lit.cli import build_run
from glue_lit.errors import GlueLitError
from glue_lit.history import History
from glue_lit.tasks import TASKS, GlueTask


def task_args(task: GlueTask, config_dir: Path, options: list[str], recipes: Path | None) -> list[str]:
    """CLI arguments of one task: ``config_dir/<task>.yaml``, the user's options, then its recipe."""
    config = config_dir / f"{task.name}.yaml"
    args = ["--config", str(config)] if config.is_file() else ["--data.task_name", task.name]
    args += options
    recipe = recipes / f"{task.name}.yaml" if recipes else None
    if recipe is not None and recipe.is_file():
        args += ["--config", str(recipe)]
    return args


def run_one(task: GlueTask, seed: int, args: list[str], max_train: int | None,
            submission: Path | None, log_dir: Path, callbacks: list | tuple = ()) -> Record:
    """Fit ``task`` with ``seed`` (``callbacks`` join the trainer's); return its record."""
    args = [*args, "--seed_everything", str(seed)]  # the fit's options, as its record keeps them
    logs = ["--trainer.logger.init_args.save_dir", str(log_dir)]
    cli = build_run([*args, *logs])
    dm = cli.datamodule
    if dm.task.name != task.name:
        raise GlueLitError(f"the options for {task.name} set --data.task_name {dm.task.name}")
    if max_train and dm.hparams.train_subset is None:
        dm.setup("fit")  # reads and tokenizes once; fit finds the splits loaded
        if len(dm.splits[task.train.name]) > max_train:
            dm.hparams.train_subset = max_train  # a count: a seeded subset of that many examples
    trainer, model = cli.trainer, cli.model
    trainer.callbacks.extend(callbacks)
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    wall = time.perf_counter() - start
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if submission is not None:
        if not best:
            raise GlueLitError(f"{task.name}: fit saved no best checkpoint to predict the test set with")
        # As `predict --ckpt_path best.ckpt` would, for this task and those predicted with its model (AX).
        for name in (task.name, *(t.name for t in TASKS.values() if t.model_task == task.name)):
            pred = build_run([*args, *logs, "--data.task_name", name, "--predictions.output_dir",
                              str(submission)])
            pred.trainer.predict(pred.model, datamodule=pred.datamodule, ckpt_path=best,
                                 return_predictions=False)
    hp = model.hparams
    return Record(
        runner="glue_lit", task=task.name, seed=seed, model=hp.model_name_or_path,
        history=History.of(trainer).entries, train_examples=len(dm.train_split()),
        steps=trainer.global_step, wall_s=round(wall, 1), threads=torch.get_num_threads(),
        recipe={"batch_size": dm.hparams.batch_size, "learning_rate": hp.learning_rate,
                "epochs": trainer.max_epochs, "weight_decay": hp.weight_decay,
                "max_grad_norm": trainer.gradient_clip_val, "warmup_ratio": hp.warmup_ratio,
                "max_length": dm.hparams.max_length, "precision": str(trainer.precision)},
        best_checkpoint=best or None, log_dir=trainer.log_dir, args=args,
    )
