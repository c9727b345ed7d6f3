"""Stop a diverged fit with a clear error, without reading the loss back to the host every step.

On a GPU, ``loss.item()`` in every training step waits for the step to finish before the next one
can be queued. The losses are therefore kept on the device and checked together where the host waits
anyway: on logging steps (Lightning reads the logged loss back there), before a validation, before a
checkpoint is written and at the end of training. The error names the first non-finite step.
Lightning's own checks do not cover it: ``EarlyStopping(check_finite=True)`` looks at the validation
metric only, and ``detect_anomaly`` is a slow debugging mode.
"""

from __future__ import annotations

import torch

from glue_lit.errors import GlueLitError


class LossCheck:
    """Training losses since the last check, with where they were computed."""

    def __init__(self) -> None:
        self._pending: list[tuple[torch.Tensor, int, int, int]] = []

    def add(self, loss: torch.Tensor, step: int, epoch: int, batch_idx: int) -> None:
        self._pending.append((loss.detach(), step, epoch, batch_idx))

    def mean(self) -> torch.Tensor | None:
        """Mean of the losses since the last check, on their device."""
        return torch.stack([p[0] for p in self._pending]).mean() if self._pending else None

    def check(self) -> None:
        """Raise on the first non-finite loss since the last check (one host sync for all of them)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        finite = torch.isfinite(torch.stack([p[0] for p in pending])).tolist()
        for ok, (loss, step, epoch, batch_idx) in zip(finite, pending):
            if not ok:
                raise GlueLitError(
                    f"training loss is {loss.item()} at step {step} (epoch {epoch}, batch {batch_idx}); "
                    "lower --model.learning_rate or check the labels"
                )
