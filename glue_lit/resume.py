"""Resume a killed run exactly where it stopped.

Lightning restores weights, optimizer, LR scheduler and loop counters from a checkpoint. Three more
things decide what the next step computes:

- :class:`ResumableLoader` (here): which batch of which epoch comes next;
- torch's random state, i.e. the next dropout masks (``checkpoint.rng_state``, restored by the model);
- :class:`LastCheckpoint` (here): ``last.ckpt`` written during the epoch too, not only at its end;
- :class:`BestCheckpoint` (here): the best checkpoint of the whole run, across the resume;

and :func:`find_last_checkpoint` says what ``--ckpt_path last`` means when every run logs to a new
version folder.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader, Sampler


class _SkipFirst(Sampler[list[int]]):
    """The batches of ``sampler``, less the first ``skip`` ones of the next pass.

    The wrapped sampler is kept as ``.sampler`` (torch's ``BatchSampler`` layout): that is where
    Lightning calls ``set_epoch`` at each epoch start; it never calls it on a batch sampler itself.
    """

    def __init__(self, sampler: Sampler[list[int]]):
        self.sampler = sampler
        self.skip = 0

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)

    def __len__(self) -> int:
        return len(self.sampler)  # a whole epoch: Lightning counts the skipped batches as done


class ResumableLoader(DataLoader):
    """Training loader that Lightning can checkpoint mid-epoch and resume at the next batch.

    ``state_dict()`` (epoch and batches handed out) goes into every checkpoint; after
    ``load_state_dict()`` (``GLUEDataModule.load_state_dict`` calls it) the resumed pass of that
    epoch skips the batches already trained on. ``batch_sampler`` needs ``epoch`` and ``set_epoch``.
    """

    def __init__(self, dataset, batch_sampler: Sampler[list[int]], **kwargs):
        super().__init__(dataset, batch_sampler=_SkipFirst(batch_sampler), **kwargs)
        self._position = (0, 0)  # (epoch, batches handed out in it)
        self._resume_at: tuple[int, int] | None = None

    def __iter__(self):
        # A generator, so this runs at the first batch: Lightning creates the iterator before it sets
        # the epoch, and a checkpoint taken after an epoch's last batch must not skip the next epoch.
        epoch = self.batch_sampler.sampler.epoch
        start = self._resume_at[1] if self._resume_at and self._resume_at[0] == epoch else 0
        self._resume_at = None
        self.batch_sampler.skip = start
        self._position = (epoch, start)
        for done, batch in enumerate(super().__iter__(), start + 1):
            self._position = (epoch, done)
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._position[0], "batches": self._position[1]}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume_at = (state["epoch"], state["batches"])


class _WholeRunCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint whose state carries into a resumed run's new version folder.

    Lightning reloads a ModelCheckpoint's state only into the folder it was saved in: elsewhere it
    warns and forgets the scores, so the first validation after a resume was saved and reported as
    the best whatever its score, while the dev table named the earlier run's. Carried over, a later
    validation replaces the earlier best only by beating it; the earlier run's files stay (Lightning
    removes files of its own folder only). The state key holds monitor and mode: only the state of
    the same metric arrives here.
    """

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict({**state_dict, "dirpath": self.dirpath})


class LastCheckpoint(_WholeRunCheckpoint):
    """Writes ``last.ckpt`` after each validation and epoch, and in between, so a kill loses little.

    The only writer of ``last.ckpt`` (``--checkpoint`` keeps the best ones). Resume with
    ``fit --ckpt_path last``.

    Args:
        every_n_minutes: save at the first training step this many minutes after the last save.
        every_n_train_steps: save every this many optimizer steps instead of by time (0: by time).
            Both 0: only the end-of-epoch ``last.ckpt``.
        dirpath: folder of ``last.ckpt``; linked from ``--checkpoint.dirpath`` (default: the run's
            ``checkpoints/`` folder).
    """

    def __init__(
        self, every_n_minutes: float = 10.0, every_n_train_steps: int = 0, dirpath: str | None = None
    ):
        by_time = every_n_train_steps <= 0 and every_n_minutes > 0
        super().__init__(
            dirpath=dirpath,
            save_last=True,
            save_top_k=0,
            every_n_epochs=0,
            every_n_train_steps=max(0, every_n_train_steps),
            train_time_interval=timedelta(minutes=every_n_minutes) if by_time else None,
        )

    @staticmethod
    def _fitting(trainer) -> bool:
        fitting = trainer.state.fn == TrainerFn.FITTING
        return fitting and not trainer.sanity_checking and not trainer.fast_dev_run

    # Where Lightning's own ModelCheckpoint saves: at the epoch end when the epoch ends with its one
    # validation (early stopping has updated then), else after each validation. Even when this step
    # was saved just before: resuming from that one would skip the validation.
    def on_validation_end(self, trainer, pl_module) -> None:
        if self._fitting(trainer) and not self._should_save_on_train_epoch_end(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._fitting(trainer) and self._should_save_on_train_epoch_end(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class BestCheckpoint(_WholeRunCheckpoint):
    """Keeps the best checkpoints by the task's dev metric (``best-{epoch}-{step}.ckpt``), over the
    whole run: a resumed run saves one only when a validation beats the earlier run's best."""

    @property
    def state_key(self) -> str:  # ModelCheckpoint's: checkpoints written by either resume alike
        key = super().state_key
        return "ModelCheckpoint" + key[len(type(self).__qualname__):]


def last_checkpoints(dirpath: str | None, log_root: Path | None) -> list[Path]:
    """Every ``last*.ckpt``, newest first: in ``dirpath`` if set, else in any version folder under
    ``log_root``.

    Lightning itself only looks in the new run's own folder, which is always a fresh version folder.
    In a shared ``dirpath`` a new run writes ``last-v1.ckpt`` rather than overwrite an earlier one.
    """
    if dirpath:
        candidates = list(Path(dirpath).expanduser().glob("last*.ckpt"))
    elif log_root is not None:
        candidates = list(log_root.expanduser().glob("*/checkpoints/last*.ckpt"))
    else:
        return []
    found = [p for p in candidates if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def find_last_checkpoint(dirpath: str | None, log_root: Path | None) -> tuple[Path | None, list[str]]:
    """The newest *readable* ``last*.ckpt`` (see :func:`last_checkpoints`), and for each newer one
    that was skipped, ``"FILE (why)"``: a file cut short by a kill or a full disk is passed over for
    the one before it."""
    from glue_lit.checkpoint_file import unreadable

    skipped = []
    for path in last_checkpoints(dirpath, log_root):
        why = unreadable(path)
        if why is None:
            return path, skipped
        skipped.append(f"{path} ({why})")
    return None, skipped
