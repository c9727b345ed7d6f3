"""Gradient clipping that works with every precision and with fused optimizers.

Lightning's mixed-precision plugin refuses to clip for an optimizer that unscales gradients inside
its own ``step()`` (``torch.optim.AdamW(fused=True)`` says it does), even under bf16-mixed where
there is no scaler and so nothing to unscale. glue_lit's defaults are fused AdamW and clipping at
1.0, so every mixed-precision fit stopped at its first step. Here the gradients are unscaled first
when a scaler is in use (the fused step then skips its own unscaling: torch's ``GradScaler.step``
passes no scale for an optimizer already unscaled), then clipped by the precision plugin's own
norm/value clipping. The fused kernel stays: on MiniLM/CPU it is the faster AdamW (see docs/speed.md).
"""

from __future__ import annotations

import torch
from lightning.pytorch.plugins.precision import Precision
from torch.optim import Optimizer


def _unwrapped(optimizer) -> Optimizer:
    return getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer wraps the torch one


def unscale_for_clipping(precision: Precision, optimizer) -> None:
    """Unscale the gradients of an optimizer that would unscale them itself, where a scaler is in use.

    Lightning unscales before clipping only for optimizers that do not do it in ``step()``."""
    scaler = getattr(precision, "scaler", None)
    optimizer = _unwrapped(optimizer)
    if scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
        scaler.unscale_(optimizer)


def clip_gradients(precision: Precision, optimizer, clip_val: float | None,
                   algorithm: str | None = "norm") -> torch.Tensor | None:
    """Clip the gradients of ``optimizer``'s parameters; returns the total norm before clipping
    (``algorithm="norm"``), None when nothing was clipped."""
    if not clip_val or clip_val <= 0:
        return None
    unscale_for_clipping(precision, optimizer)
    optimizer = _unwrapped(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if str(algorithm or "norm").lower().endswith("value"):
        torch.nn.utils.clip_grad_value_(params, clip_val)
        return None
    return torch.nn.utils.clip_grad_norm_(params, clip_val)
