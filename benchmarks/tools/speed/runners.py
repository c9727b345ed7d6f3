"""The two recipes measured in a worker process: glue_lit as its command line builds it, and the
same recipe through ``transformers.Trainer`` (``bare`` has the third runner, a bare loop).

Both recipes are the Trainer's defaults as glue_lit now has them too: gradient clipping at norm 1.0,
weight decay 0.01 (never on biases and LayerNorm weights), linear decay without warmup, fused AdamW.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.tools.speed.probe import Probe, summarize


def absolute_paths(args: argparse.Namespace) -> None:
    """Runs happen in temporary folders: make the user's relative data and model paths absolute."""
    args.data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    if Path(args.model).expanduser().is_dir():
        args.model = str(Path(args.model).expanduser().resolve())


def glue_lit_argv(args: argparse.Namespace) -> list[str]:
    """``fit`` arguments of the benchmark's recipe, for the worker and for the whole-process run."""
    argv = [
        "--seed_everything", str(args.seed),
        "--data.task_name", args.task, "--model.model_name_or_path", args.model,
        "--data.batch_size", str(args.batch_size), "--data.max_length", str(args.max_length),
        "--data.num_workers", str(args.num_workers), "--data.seed", str(args.seed),
        "--model.learning_rate", str(args.lr),
        "--trainer.max_epochs", str(args.epochs), "--trainer.max_steps", str(args.max_steps),
        "--trainer.accelerator", "gpu" if args.device == "cuda" else "cpu", "--trainer.devices", "1",
        "--trainer.precision", args.precision,
        # Early stopping could end a longer run before the Trainer's; both run every epoch.
        "--early_stopping.patience", "1000", "--early_stopping.strict", "false",
    ]
    if args.data_dir:
        argv += ["--data.data_dir", args.data_dir]
    return argv + args.glue_lit_args.split()


def run_glue_lit(args: argparse.Namespace, probe: Probe) -> dict:
    import lightning.pytorch as L

    from glue_lit.cli import build_run

    class Hooks(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            probe.start("train")

        def on_before_optimizer_step(self, trainer, module, optimizer):
            probe.start("optimizer")  # before Lightning clips the gradients

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

    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    run = build_run(glue_lit_argv(args) + quiet)
    # First in line, so evaluation time stops before the checkpoint callback writes its files.
    run.trainer.callbacks.insert(0, Hooks())
    run.model.model.register_forward_pre_hook(probe.count_tokens, with_kwargs=True)
    run.trainer.fit(run.model, datamodule=run.datamodule)
    task = run.model.task
    metric = run.trainer.callback_metrics.get(task.monitor_key)
    return summarize(probe, run.model.model, {
        "metric_name": task.monitor_key,
        "metric": float(metric) if metric is not None else None,
        "eval_samples": sum(len(run.datamodule.splits[s.name]) for s in task.validation),
        "optimizer": "AdamW fused" if run.model.hparams.fused_adamw else "AdamW",
    })


def run_trainer(args: argparse.Namespace, probe: Probe) -> dict:
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments, set_seed

    from glue_lit.benchmark.trainer_runner import datasets_for, metrics_function, training_arguments
    from glue_lit.data import GLUEDataModule
    from glue_lit.hub import load_tokenizer
    from glue_lit.model import GLUETransformer
    from glue_lit.tasks import get_task

    task = get_task(args.task)
    tokenizer = load_tokenizer(args.model)
    # The Trainer runner's settings, with glue_lit's defaults where this script has no option.
    recipe = {"batch_size": args.batch_size, "learning_rate": args.lr, "epochs": args.epochs,
              "max_steps": args.max_steps, "weight_decay": 0.01, "max_length": args.max_length,
              "precision": args.trainer_precision, "num_workers": args.num_workers, "device": args.device}
    reader = GLUEDataModule(args.task, args.model, data_dir=args.data_dir)
    train, dev = datasets_for(task, reader, tokenizer, args.max_length, None)
    set_seed(args.seed)  # the head's initialisation, as the recipe seeds it
    model = GLUETransformer(args.model, args.task).model  # same model, head and config

    class Hooks(TrainerCallback):
        def on_epoch_begin(self, a, state, control, **kw):
            probe.start("train")

        def on_pre_optimizer_step(self, a, state, control, **kw):
            probe.start("optimizer")  # after the Trainer clipped the gradients: the update only

        def on_optimizer_step(self, a, state, control, **kw):
            probe.stop("optimizer")

        def on_step_end(self, a, state, control, **kw):
            probe.step_end()

        def on_epoch_end(self, a, state, control, **kw):
            probe.epoch_end()
            probe.start("eval")

        def on_evaluate(self, a, state, control, **kw):
            probe.stop("eval")

    targs = TrainingArguments(**training_arguments(recipe, "hf-trainer", args.seed))  # in the worker's folder
    trainer = Trainer(
        model=model, args=targs, train_dataset=train, eval_dataset=dev, processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics_function(task), callbacks=[Hooks()],
    )
    model.register_forward_pre_hook(probe.count_tokens, with_kwargs=True)
    trainer.train()
    logged = [h for h in trainer.state.log_history if f"eval_{task.monitor_key}" in h]
    return summarize(probe, model, {
        "metric_name": task.monitor_key,
        "metric": logged[-1][f"eval_{task.monitor_key}"] if logged else None,
        "eval_samples": len(dev),
        "optimizer": str(getattr(targs.optim, "value", targs.optim)),
    })
