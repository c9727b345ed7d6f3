"""GLUEDataModule: a GLUE task's splits, read, tokenized, cached and batched."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader

from glue_lit.batching import (
    LengthGroupedBatchSampler,
    TokenizedSplit,
    collate,
    default_cache_dir,
    load_or_tokenize,
)
from glue_lit.checkpoint import datamodule_state, loader_position, pack_tokenizer
from glue_lit.errors import GlueLitError
from glue_lit.hub import load_tokenizer
from glue_lit.resume import ResumableLoader
from glue_lit.sources import Examples, read_file, read_glue_split, read_hub_split, subset_positions
from glue_lit.tasks import Split, get_task


class GLUEDataModule(L.LightningDataModule):
    """Train, validation, test and predict loaders for one GLUE task.

    Data comes from the Hub (``nyu-mll/glue``) by default, from a folder in the original GLUE
    layout when ``data_dir`` (or the ``GLUE_DIR`` environment variable) is set, or from your own
    files given in ``data_files``.

    Args:
        task_name: GLUE task (cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli, ax).
        model_name_or_path: model whose tokenizer is used (linked from the model on the CLI).
        data_dir: folder holding ``CoLA/``, ``SST-2/``, ... as in the original GLUE download;
            defaults to ``$GLUE_DIR``; when neither is set, data comes from the Hub.
        data_files: your own CSV/TSV/JSON(L) files by split name, e.g. ``{train: a.csv,
            validation: b.csv, test: c.csv}``; overrides the task's splits that it names.
        text_columns: text column(s) in ``data_files``; defaults to the task's text keys.
        label_column: label column in ``data_files`` (names or ids; a float for stsb).
        max_length: longest tokenized input; longer inputs are truncated.
        batch_size: training batch size per device.
        eval_batch_size: evaluation and prediction batch size per device.
        train_subset: use part of the train split: a fraction (<= 1) or a count (> 1).
        group_by_length: batch examples of similar length together, keeping batch order random.
        pad_to_multiple_of: round padded lengths up to a multiple; default: 8 when the CLI runs on
            CUDA (tensor cores work on multiples of 8), else 1.
        seed: seed of the train subset and of the shuffling. On the command line it follows
            ``--seed_everything`` unless set; otherwise 42.
        num_workers: data loader worker processes.
        cache_dir: folder of the tokenization cache (``$GLUE_LIT_CACHE`` or
            ``~/.cache/glue_lit``); ``""`` disables caching.
    """

    def __init__(
        self,
        task_name: str = "cola",
        model_name_or_path: str = "distilbert-base-uncased",
        data_dir: str | None = None,
        data_files: dict[str, str] | None = None,
        text_columns: list[str] | None = None,
        label_column: str = "label",
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        train_subset: float | None = None,
        group_by_length: bool = True,
        pad_to_multiple_of: int | None = None,
        seed: int | None = None,
        num_workers: int = 0,
        cache_dir: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.task = get_task(task_name)
        self.data_dir = data_dir or os.environ.get("GLUE_DIR") or None
        if cache_dir == "":
            self.cache_dir = None
        else:
            self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.tokenizer = None
        self._tokenizer_files: dict[str, bytes] | None = None
        self.splits: dict[str, TokenizedSplit] = {}
        # Test splits as read from your own files (every column): predict writes them back with
        # the predictions added. GLUE test splits need only their index, which the batches carry.
        self.source_rows: dict[str, Examples] = {}
        self._train_loader: ResumableLoader | None = None
        self._train_loader_state: dict | None = None

    def state_dict(self) -> dict:
        # The tokenizer's files travel in every checkpoint (`export` needs no Hub, no base model),
        # packed once per run: save_pretrained costs more than writing the bytes again.
        if self.tokenizer is not None and self._tokenizer_files is None:
            self._tokenizer_files = pack_tokenizer(self.tokenizer)
        loader = self._train_loader.state_dict() if self._train_loader else None
        return datamodule_state(loader, self._tokenizer_files)

    def load_state_dict(self, state: dict) -> None:
        # Lightning also saves the loader's state, but loads it only into a loader made after the
        # restore; the model's `trainer.estimated_stepping_batches` makes it before
        # (Lightning-AI/pytorch-lightning#20550), so its position would be lost. From here it works in
        # either order.
        self._train_loader_state = loader_position(state)
        if self._train_loader is not None and self._train_loader_state:
            self._train_loader.load_state_dict(self._train_loader_state)

    # --- reading -----------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """Where data comes from, in words, for logs and error messages."""
        if self.hparams.data_files:
            return "user files"
        return f"GLUE folder {self.data_dir}" if self.data_dir else "the Hugging Face Hub"

    def user_file(self, split: Split) -> Path | None:
        """The user's file that stands in for ``split`` (``data_files``), if any."""
        files = self.hparams.data_files or {}
        return Path(files[split.name]).expanduser() if split.name in files else None

    def read_split(self, split: Split, keep_rows: bool = False) -> Examples:
        """Raw examples of ``split``; ``keep_rows``: with your own file's rows (every column)."""
        path = self.user_file(split)
        if path is not None:
            columns = tuple(self.hparams.text_columns or self.task.text_keys)
            # Labels are checked here, as the file is read: a split trained or scored on needs them.
            return read_file(path, self.task, columns, self.hparams.label_column, "idx", keep_rows=keep_rows,
                             require_labels=split not in self.task.test)
        if self.data_dir:
            return read_glue_split(Path(self.data_dir).expanduser(), self.task, split)
        return read_hub_split(self.task, split)

    def prepare_data(self) -> None:
        # Rank 0 reads, tokenizes and caches; the other ranks then read the cache in setup().
        stage = self.trainer.state.fn if self.trainer and self.trainer.state.fn else "fit"
        self.setup(str(getattr(stage, "value", stage)))

    def _load(self, split: Split) -> TokenizedSplit:
        if split.name not in self.splits:
            if self.tokenizer is None:
                self.tokenizer = load_tokenizer(self.hparams.model_name_or_path)
                self._check_max_length()
            examples = self.read_split(split, keep_rows=split in self.task.test)
            if examples.labels is None and split not in self.task.test:
                # Checked here, once, so that no training or validation step ever meets a batch
                # without labels.
                raise GlueLitError(f"the {split.name} split of {self.task.name} from {self.source} has "
                                   "no labels; a split to train or score on needs them")
            if examples.rows is not None:
                self.source_rows[split.name] = examples
            arrays = load_or_tokenize(
                self.tokenizer, examples, self.hparams.max_length,
                self.task.label_dtype, self.cache_dir / self.task.name if self.cache_dir else None,
            )
            self.splits[split.name] = TokenizedSplit(
                arrays, self.tokenizer.pad_token_id or 0, self.hparams.pad_to_multiple_of or 1
            )
        return self.splits[split.name]

    def _check_max_length(self) -> None:
        limit = self.tokenizer.model_max_length
        if limit and limit < 100_000 and self.hparams.max_length > limit:
            raise GlueLitError(
                f"--data.max_length {self.hparams.max_length} is larger than the "
                f"{limit} tokens model {self.hparams.model_name_or_path!r} accepts"
            )

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", None):
            if self.task.train is None:
                raise GlueLitError(
                    f"task {self.task.name!r} has no training split; fine-tune "
                    f"{self.task.model_task!r} and predict {self.task.name} with its checkpoint"
                )
            self._load(self.task.train)
        if stage in ("fit", "validate", None):
            for split in self.task.validation:
                self._load(split)
        if stage in ("test", "predict"):
            for split in self.task.test:
                self._load(split)

    # --- loaders ------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """``seed``, else 42 (the CLI passes ``--seed_everything`` here: one seed seeds it all)."""
        return 42 if self.hparams.seed is None else self.hparams.seed

    def _loader(self, split: TokenizedSplit, train: bool) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        sampler = LengthGroupedBatchSampler(
            split.lengths, self.hparams.batch_size if train else self.hparams.eval_batch_size,
            shuffle=train, group_by_length=self.hparams.group_by_length, seed=self.seed, rank=rank,
            world_size=world,
        )
        # The train loader can stop mid-epoch and resume at the next batch (see resume.py).
        return (ResumableLoader if train else DataLoader)(
            split,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
            # A private generator: starting an epoch then draws nothing from torch's global RNG, which
            # dropout uses, so a resumed run continues with the masks of the uninterrupted one.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_split(self) -> TokenizedSplit:
        """The train split, cut to ``train_subset`` (the same examples for a given seed)."""
        full = self.splits[self.task.train.name]
        if self.hparams.train_subset is None:
            return full
        return full.subset(subset_positions(len(full), self.hparams.train_subset, self.seed))

    def train_dataloader(self) -> DataLoader:
        self._train_loader = self._loader(self.train_split(), train=True)
        if self._train_loader_state:
            self._train_loader.load_state_dict(self._train_loader_state)
            self._train_loader_state = None
        return self._train_loader

    def _eval_loaders(self, splits: tuple[Split, ...]) -> DataLoader | list[DataLoader]:
        loaders = [self._loader(self.splits[s.name], train=False) for s in splits]
        return loaders[0] if len(loaders) == 1 else loaders

    def val_dataloader(self):
        return self._eval_loaders(self.task.validation)

    def test_dataloader(self):
        unlabelled = [s.file for s in self.task.test if not self.splits[s.name].has_labels]
        if unlabelled:
            raise GlueLitError(
                f"the {self.task.name} test split ({', '.join(unlabelled)}) has no labels: GLUE "
                "hides them, so there is no test metric to report; use `predict` to write the "
                "submission file, or `validate` for the dev-set metrics"
            )
        return self._eval_loaders(self.task.test)

    def predict_dataloader(self):
        # Lightning cannot check that a custom batch sampler keeps every row; ours does (no drop_last
        # in evaluation), and the prediction writer checks the row count.
        warnings.filterwarnings("ignore", "You are using a custom batch sampler")
        return self._eval_loaders(self.task.test)
