"""``python -m glue_lit fit|validate|test|predict``: the Lightning CLI with GLUE defaults.

The task is named once (``data.task_name``) and the model once (``model.model_name_or_path``);
links copy them to the other side and derive the checkpoint and early-stopping monitor.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from glue_lit.data import GLUEDataModule
from glue_lit.model import GLUETransformer
from glue_lit.tasks import get_task


def monitor_of(task_name: str) -> str | None:
    return get_task(task_name).monitor_key or None


def mode_of(task_name: str) -> str:
    return get_task(task_name).monitor_mode


TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        # "{task}" becomes the task name: runs/cola/version_0, runs/mrpc/version_0, ...
        "init_args": {"save_dir": "runs", "name": "{task}", "default_hp_metric": False},
    },
    "callbacks": [LearningRateMonitor(logging_interval="step")],
    "max_epochs": 3,
    "log_every_n_steps": 10,
    # The data module shards every split over ranks itself (no padded duplicates in eval).
    "use_distributed_sampler": False,
}


class GlueCLI(LightningCLI):
    """LightningCLI for GLUETransformer + GLUEDataModule."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({
            "checkpoint.filename": "best-{epoch}-{step}",
            "checkpoint.save_last": True,
            "checkpoint.auto_insert_metric_name": False,
            "early_stopping.patience": 3,
        })
        parser.link_arguments("data.task_name", "model.task_name")
        parser.link_arguments("model.model_name_or_path", "data.model_name_or_path")
        for target in ("checkpoint", "early_stopping"):
            parser.link_arguments("data.task_name", f"{target}.monitor", compute_fn=monitor_of)
            parser.link_arguments("data.task_name", f"{target}.mode", compute_fn=mode_of)

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        logger = config.trainer.get("logger")
        init = getattr(logger, "init_args", None)
        if init is not None and isinstance(init.get("name"), str):
            init.name = init.name.replace("{task}", config.data.task_name)


def cli_main(args: list[str] | None = None, run: bool = True) -> GlueCLI:
    return GlueCLI(
        GLUETransformer,
        GLUEDataModule,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": False},
        args=args,
        run=run,
    )
