"""The model summary printed at the start of ``fit``, without Lightning's FLOPs column and total.

Lightning counts FLOPs only by running the model on ``example_input_array``; a GLUE model has none
(its input length changes with every batch), so the column and "Total FLOPs" read 0 for every layer,
and Lightning 2.6 has no switch to leave them out. FLOPs of real batches are counted by
``benchmarks/throughput.py`` (docs/speed.md).
"""

from __future__ import annotations

import logging
from typing import Any

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

log = logging.getLogger("lightning.pytorch.callbacks.model_summary")


class SummaryWithoutFlops(ModelSummary):
    """Lightning's ModelSummary table: layers, parameters, size and modes, with no FLOPs."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int,
                  trainable_parameters: int, model_size: float, total_training_modes: dict[str, int],
                  total_flops: int, **summarize_kwargs: Any) -> None:
        columns = [column for column in summary_data if column[0] != "FLOPs"]
        table = _format_summary_table(total_parameters, trainable_parameters, model_size,
                                      total_training_modes, total_flops, *columns)
        lines = table.splitlines()
        log.info("\n" + "\n".join(line for line in lines if not line.endswith("Total Flops")))


def without_flops(callbacks: list) -> list:
    """``callbacks`` with Lightning's own summary (plain or Rich) replaced by SummaryWithoutFlops,
    at the same depth; a summary class of your own is kept as it is."""
    from lightning.pytorch.callbacks import RichModelSummary

    return [SummaryWithoutFlops(max_depth=c._max_depth) if type(c) in (ModelSummary, RichModelSummary)
            else c for c in callbacks]
