"""One record of a fit's validations: the best, the last, collapses; what every reader agrees on."""

from __future__ import annotations

import math

from conftest import fit_args

from glue_lit.cli import build_run
from glue_lit.history import History, best_and_last, best_entry
from glue_lit.tasks import get_task


def entry(epoch: float, mcc: float, collapsed: str | None = None, loss: float = 0.5) -> dict:
    return {"epoch": epoch, "step": int(10 * epoch), "metrics": {"val/mcc": mcc},
            "losses": {"val/loss": loss}, "collapsed": collapsed}


def test_the_best_validation_is_the_first_best_and_never_a_nan_or_asked_a_collapse():
    a, b, c, d = entry(1, 0.2), entry(2, math.nan), entry(3, 0.4, "predicts only 'acceptable'"), entry(4, 0.4)
    assert best_entry([a, b, c, d], "val/mcc", "max") is c  # the first of equal values
    assert best_entry([a, b, c, d], "val/mcc", "max", usable=True) is d  # a collapsed one never wins
    assert best_entry([b], "val/mcc", "max") is None
    assert best_and_last(get_task("cola"), [b]) == {"best": b, "last": b}  # no comparison: the first
    # A loss is monitored the other way round.
    low = entry(5, 0.1, loss=0.2)
    assert best_entry([a, low, d], "val/loss", "min") is low


def test_a_fit_keeps_each_validation_once_and_checkpoints_them(tiny_model, glue_dir, run_dir, capsys):
    cli = build_run(fit_args(tiny_model, glue_dir, "cola", "--trainer.max_epochs", "2",
                             "--trainer.val_check_interval", "0.5"))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    history = History.of(cli.trainer)
    assert [e["epoch"] for e in history.entries] == [0.5, 1.0, 1.5, 2.0]
    assert all(set(e["metrics"]) == {"val/mcc", "val/accuracy"} and set(e["losses"]) == {"val/loss"}
               for e in history.entries)
    best = history.best("val/mcc", "max")
    assert best["metrics"]["val/mcc"] == float(cli.trainer.checkpoint_callback.best_model_score)
    # The end-of-fit table marks that same validation, and the checkpoint carries every entry.
    rows = [line for line in capsys.readouterr().out.splitlines() if line.endswith("<- best")]
    assert len(rows) == 1 and rows[0].split()[0] == f"{best['epoch']:.2f}"
    import torch

    state = torch.load(cli.trainer.checkpoint_callback.best_model_path, weights_only=False)["callbacks"]
    assert state["History"]["history"] == history.entries[: history.entries.index(best) + 1]
