"""Time marks from inside ``python -m glue_lit fit``, for the whole-process timing (``process``):
``--trainer.callbacks+=benchmarks.tools.speed.marks.TimeMarks`` with the repository on ``PYTHONPATH``."""

from __future__ import annotations

import lightning.pytorch as L

from benchmarks.tools.speed.process import mark


class TimeMarks(L.Callback):
    """Prints when the first training step starts and when training ends (after the last epoch's
    validation and checkpoints)."""

    def __init__(self):
        self.started = False

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if not self.started:
            self.started = True
            mark("first_step")

    def on_train_end(self, trainer, module):
        mark("train_end", steps=trainer.global_step)
