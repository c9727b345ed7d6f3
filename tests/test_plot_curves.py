"""benchmarks.tools.plot_curves draws the benchmark records of several folders into one PNG."""

from __future__ import annotations

import pytest

from benchmarks.tools.plot_curves import main
from glue_lit.benchmark.records import Record, save_record


def fake_record(runner: str, task: str, seed: int, key: str, values: list[float]) -> Record:
    history = [{"epoch": float(i + 1), "step": 10 * (i + 1), "metrics": {key: v, "val/loss": 0.6},
                "collapsed": "predicts one class" if v == 0 else None} for i, v in enumerate(values)]
    return Record(runner=runner, task=task, seed=seed, history=history)


def test_plot_curves_writes_a_png_from_two_runners(tmp_path):
    for runner, shift in (("glue_lit", 0.02), ("trainer", 0.0)):
        for seed in (42, 43, 44):
            save_record(tmp_path / runner, fake_record(runner, "cola", seed, "val/mcc",
                                                       [0.0, 0.2 + shift, 0.25 + shift + seed / 1000]))
            save_record(tmp_path / runner, fake_record(runner, "stsb", seed, "val/pearson",
                                                       [0.5, 0.8 + shift]))
    out = tmp_path / "plots" / "curves.png"
    folders = [str(tmp_path / "glue_lit"), str(tmp_path / "trainer")]
    assert main([*folders, "--out", str(out), "--title", "test"]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_plot_curves_says_when_a_folder_has_no_records(tmp_path):
    with pytest.raises(SystemExit, match="no run records found"):
        main([str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert not (tmp_path / "x.png").exists()
