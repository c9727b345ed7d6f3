"""Console output without noise: Lightning's tips and repeated device lines filtered, and no
download/loading bars of Hugging Face libraries written into log files."""

from __future__ import annotations

import logging
import sys


def interactive() -> bool:
    """Whether a live bar can be seen: stdout is a terminal, or a Jupyter kernel draws the widget."""
    try:
        return sys.stdout.isatty() or "ipykernel" in sys.modules
    except (AttributeError, ValueError):  # no stdout, or a closed one
        return False


class QuietLightning(logging.Filter):
    """Drops Lightning's promotional tips, and device lines already shown once in this process.

    Each Trainer logs "GPU available: ...", "TPU available: ..." (and "LOCAL_RANK: ...") again, so a
    tuning study or a benchmark repeated them for every run; the tips advertise cloud services
    (Lightning-AI/pytorch-lightning#21294: no switch to silence them).
    """

    ONCE = ("GPU available:", "TPU available:", "HPU available:", "LOCAL_RANK:")

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.lstrip().startswith("💡 Tip:"):
            return False
        if message.startswith(self.ONCE):
            if message in self._seen:
                return False
            self._seen.add(message)
        return True


_QUIET = QuietLightning()
# The loggers these messages are sent through (a logger's own filters do not see records that
# propagate to it from its children, so each one gets the filter).
_LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",  # rank_zero_info: tips, "GPU available: ..."
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",  # "LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]"
)


def quiet_console() -> None:
    """Install :class:`QuietLightning` on Lightning's console loggers (once: a filter is added only
    once); without a terminal, also turn off the tqdm bars of transformers ("Loading weights") and of
    the Hub and datasets downloads, which a log file receives as one long line of frames."""
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).addFilter(_QUIET)
    if not interactive():
        import datasets
        import huggingface_hub.utils
        import transformers.utils.logging

        transformers.utils.logging.disable_progress_bar()
        huggingface_hub.utils.disable_progress_bars()
        datasets.disable_progress_bars()
