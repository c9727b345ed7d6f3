"""``python -m glue_lit fit|validate|test|predict``: the Lightning CLI with GLUE defaults.

The task is named once (``data.task_name``) and the model once (``model.model_name_or_path``);
links copy them to the other side and derive the checkpoint and early-stopping monitor.
"""

from __future__ import annotations

from pathlib import Path

from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_only, rank_zero_warn

from glue_lit.checkpoint import GlueCheckpoint
from glue_lit.checkpoint_io import AtomicCheckpointIO
from glue_lit.console import interactive, quiet_console
from glue_lit.data import GLUEDataModule
from glue_lit.errors import GlueLitError
from glue_lit.history import History
from glue_lit.links import _known_task, mode_of, monitor_of
from glue_lit.model import GLUETransformer
from glue_lit.model_summary import without_flops
from glue_lit.onnx_model import is_onnx_folder
from glue_lit.precision import device_defaults
from glue_lit.progress import LogLinesProgressBar
from glue_lit.resume import BestCheckpoint, LastCheckpoint, find_last_checkpoint
from glue_lit.run_summary import RunSummary
from glue_lit.submission import PredictionWriter
from glue_lit.versions import claim_logger_versions, release

TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        # "{task}" becomes the task name: runs/cola/version_0, runs/mrpc/version_0, ...
        "init_args": {"save_dir": "runs", "name": "{task}", "default_hp_metric": False},
    },
    "callbacks": [LearningRateMonitor(logging_interval="step")],
    "max_epochs": 3,
    # The Trainer recipe clips gradients at norm 1.0; without it STS-B's dev Pearson after epoch 2
    # was 0.780 instead of 0.849 (seed 42, MiniLM, lr 5e-5).
    "gradient_clip_val": 1.0,
    "log_every_n_steps": 10,
    # The data module shards every split over ranks itself (no padded duplicates in eval).
    "use_distributed_sampler": False,
}


class GlueCLI(LightningCLI):
    """LightningCLI for GLUETransformer + GLUEDataModule."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(BestCheckpoint, "checkpoint")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        # last.ckpt at epoch ends and in between (by time or steps), for `fit --ckpt_path last`.
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        # `predict` writes GLUE submission files (or your file plus predictions): --predictions.*
        parser.add_lightning_class_args(PredictionWriter, "predictions")
        parser.set_defaults({
            "checkpoint.filename": "best-{epoch}-{step}",
            "checkpoint.save_last": False,  # last.ckpt comes from --last_checkpoint
            "checkpoint.auto_insert_metric_name": False,
            "early_stopping.patience": 3,
            # After each validation: checked at an epoch's end, a resume with a new val_check_interval
            "early_stopping.check_on_train_epoch_end": False,  # can find no dev metric there and fail
        })
        parser.link_arguments("data.task_name", "model.task_name")
        parser.link_arguments("model.model_name_or_path", "data.model_name_or_path")
        parser.link_arguments("checkpoint.dirpath", "last_checkpoint.dirpath")
        for target in ("checkpoint", "early_stopping"):
            parser.link_arguments("data.task_name", f"{target}.monitor", compute_fn=monitor_of)
            parser.link_arguments("data.task_name", f"{target}.mode", compute_fn=mode_of)

    def _parse_ckpt_path(self) -> None:
        # Lightning reads the checkpoint's model hyperparameters into the config here: a file that
        # cannot be read, or one of another task, must be refused before (its task_name would
        # silently replace the one given).
        subcommand = self.config.get("subcommand")
        if subcommand:
            self._resolve_paths(self.config[subcommand], subcommand)
        super()._parse_ckpt_path()

    def _resolve_paths(self, config, subcommand: str | None) -> None:
        """The logger's "{task}" name and ``--ckpt_path``, once."""
        if getattr(self, "_paths_resolved", False):
            return
        self._paths_resolved = True
        logger = config.trainer.get("logger")
        init = getattr(logger, "init_args", None)
        if init is not None and isinstance(init.get("name"), str):
            init.name = init.name.replace("{task}", config.data.task_name)
        if "ckpt_path" in config:
            config.ckpt_path = self._resolve_ckpt_path(config, subcommand)

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        self._resolve_paths(config, self.subcommand)
        if self.subcommand in ("fit", None) and is_onnx_folder(config.model.model_name_or_path):
            raise GlueLitError(f"--model.model_name_or_path {config.model.model_name_or_path} is an ONNX "
                               "export, which predict and validate run but fit cannot train; fine-tune "
                               "its checkpoint or transformers folder")
        device_defaults(config, train=self.subcommand in (None, "fit"))

    def instantiate_classes(self) -> None:
        # The run's seed also orders the data unless --data.seed fixes the order alone. Not a parser
        # link: a link's target cannot be set by hand, and links run before Lightning turns
        # `--seed_everything true` into a number. config.yaml keeps data.seed as given, so a rerun
        # from it with another --seed_everything reorders the data too.
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        given, seed = config.data.seed, config.get("seed_everything")
        if given is None and type(seed) is int:  # False: no seed, the data module's default
            config.data.seed = seed
        try:
            super().instantiate_classes()
        finally:
            config.data.seed = given

    def instantiate_trainer(self, **kwargs):
        # New instances for every run: the tuner and the benchmark build many runs in one process.
        config = self.config_init.get(str(self.subcommand), self.config_init).get("trainer", {})
        callbacks = config.get("callbacks") or []
        callbacks = [*(callbacks if isinstance(callbacks, list) else [callbacks]), History(), RunSummary()]
        # Plain progress lines where no live bar can be seen (a log file); a progress bar the user
        # configured, or --trainer.enable_progress_bar false, wins.
        if (config.get("enable_progress_bar") is not False and not interactive()
                and not any(isinstance(c, ProgressBar) for c in callbacks)):
            callbacks.append(LogLinesProgressBar())
        # Checkpoints written whole or not at all, unless the user chose how they are written.
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            kwargs.setdefault("plugins", [*plugins, AtomicCheckpointIO()])
        trainer = super().instantiate_trainer(**{"callbacks": callbacks, **kwargs})
        if trainer.limit_val_batches == 0:  # no validation: early stopping would fail on a missing metric
            trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, EarlyStopping)]
        # The run's version_N folder, claimed now so that runs started together get one each. Only on
        # rank 0: the other DDP ranks take rank 0's folders (Lightning broadcasts them).
        self.claimed = claim_logger_versions(trainer.loggers) if rank_zero_only.rank == 0 else []
        trainer.callbacks = without_flops(trainer.callbacks)  # its FLOPs read 0: model_summary.py
        return trainer

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            release(getattr(self, "claimed", []))  # a run that failed before writing leaves no folder
            raise

    def after_fit(self) -> None:
        """Say which checkpoint to use next: the best one by the task's metric, and its score; or that
        the checkpoint resumed from had finished its run, so nothing was trained."""
        if not self.trainer.is_global_zero:
            return
        resumed = getattr(self, "resumed", None)
        if resumed is not None and self.trainer.global_step == resumed.global_step:
            limits = f"--trainer.max_epochs {self.trainer.max_epochs}"
            if self.trainer.max_steps != -1:
                limits += f", --trainer.max_steps {self.trainer.max_steps}"
            print(f"glue_lit: {resumed.path} is a finished run (epoch {self.trainer.current_epoch}, "
                  f"step {resumed.global_step}; {limits}): nothing to train; raise --trainer.max_epochs "
                  "to train on")
        best = [c for c in self.trainer.checkpoint_callbacks if c.monitor and c.best_model_path]
        if best:
            c = best[0]
            # No score when no validation ran in this process (resuming a finished run, a fit
            # without validation): the path alone.
            score = f" {c.best_model_score.item():.4f}" if c.best_model_score is not None else ""
            print(f"best {c.monitor}{score}: {c.best_model_path}")

    def _resolve_ckpt_path(self, config, subcommand: str | None) -> str | None:
        """Check ``--ckpt_path``; ``last`` means the newest last.ckpt of this task's earlier runs.

        Lightning looks for it only in the new run's own folder, which is always a new version folder
        (earlier runs are never written to), so it would silently start from scratch.
        """
        ckpt = config.ckpt_path
        if ckpt is None or ckpt in ("best", "hpc") or "://" in ckpt or ckpt.startswith("registry:"):
            return ckpt
        if ckpt != "last":
            if not Path(ckpt).expanduser().is_file():
                raise GlueLitError(f"--ckpt_path {ckpt}: no such checkpoint file")
            return self._check_checkpoint(Path(ckpt).expanduser(), config, subcommand)
        init = getattr(config.trainer.get("logger"), "init_args", None)
        save_dir = init.get("save_dir") if init is not None else None
        log_root = Path(save_dir) / str(init.get("name") or "") if save_dir else None
        dirpath = config.checkpoint.dirpath
        if dirpath is None and log_root is None:
            return ckpt  # no version folders: Lightning finds last.ckpt in its one checkpoint folder
        found, skipped = find_last_checkpoint(dirpath, log_root)
        where = dirpath or f"{log_root}/*/checkpoints"
        for line in skipped:
            rank_zero_info(f"glue_lit: --ckpt_path last: skipped {line}")
        if found is not None:
            if skipped:
                rank_zero_info(f"glue_lit: --ckpt_path last: resuming from {found}")
            return self._check_checkpoint(found, config, subcommand)
        if skipped:
            raise GlueLitError(f"--ckpt_path last: no readable last.ckpt in {where}; skipped "
                               f"{'; '.join(skipped)}")
        if subcommand != "fit":
            raise GlueLitError(f"--ckpt_path last: no last.ckpt in {where}")
        rank_zero_warn(f"--ckpt_path last: no last.ckpt in {where} yet; starting from scratch")
        return None

    def _check_checkpoint(self, path: Path, config, subcommand: str | None) -> str:
        """``path`` if it is a whole glue_lit checkpoint of the task run; else a GlueLitError naming it.

        Read before the model is built and before the run's folder is written to. Tensors stay on
        disk (mmap): only the hyperparameters, the saved config and the step count are looked at.
        """
        ckpt = GlueCheckpoint.read(path, mmap=True)
        task = _known_task(config.data.task_name)
        if task is not None:
            ckpt.check_task(task)
        self.resumed = ckpt if subcommand == "fit" else None
        return str(path)


def build_run(args: list[str], cli_class: type[GlueCLI] = GlueCLI, **parser_kwargs) -> GlueCLI:
    """Model, data module and trainer of ``fit`` with ``args``, built but not run: the one way the
    tuner, the benchmark and the throughput benchmark build a run from code. An option the parser
    rejects is a GlueLitError with the parser's message, not a usage text and an exit."""
    import warnings
    from argparse import ArgumentError

    with warnings.catch_warnings():
        # cli_main(args) is called from inside glue_lit on purpose.
        warnings.filterwarnings("ignore", "LightningCLI's args parameter")
        try:
            return cli_main(args, run=False, cli_class=cli_class, exit_on_error=False, **parser_kwargs)
        except ArgumentError as err:
            raise GlueLitError(f"invalid option: {' '.join(str(err).split())}") from None


def cli_main(args: list[str] | None = None, run: bool = True, cli_class: type[GlueCLI] = GlueCLI,
             **parser_kwargs) -> GlueCLI:
    """The CLI of ``fit|validate|test|predict`` (``run``), or of one run built from ``args``;
    ``parser_kwargs`` go to jsonargparse's ``ArgumentParser`` (``prog``, ``description``...)."""
    quiet_console()
    return cli_class(
        GLUETransformer,
        GLUEDataModule,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": False},
        parser_kwargs={"prog": "glue_lit", **parser_kwargs},
        args=args,
        run=run,
    )
