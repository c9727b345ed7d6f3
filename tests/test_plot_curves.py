"""benchmarks/plot_curves.py draws the benchmark records of several folders into one PNG."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

from glue_lit.benchmark.records import save_record

SCRIPT = str(REPO / "benchmarks" / "plot_curves.py")


def fake_record(runner: str, task: str, seed: int, key: str, values: list[float]) -> dict:
    history = [{"epoch": float(i + 1), "step": 10 * (i + 1), "metrics": {key: v, "val/loss": 0.6},
                "collapsed": "predicts one class" if v == 0 else None} for i, v in enumerate(values)]
    return {"runner": runner, "task": task, "seed": seed, "history": history}


def test_plot_curves_writes_a_png_from_two_runners(tmp_path):
    for runner, shift in (("glue_lit", 0.02), ("trainer", 0.0)):
        for seed in (42, 43, 44):
            save_record(tmp_path / runner, fake_record(runner, "cola", seed, "val/mcc",
                                                       [0.0, 0.2 + shift, 0.25 + shift + seed / 1000]))
            save_record(tmp_path / runner, fake_record(runner, "stsb", seed, "val/pearson",
                                                       [0.5, 0.8 + shift]))
    out = tmp_path / "plots" / "curves.png"
    proc = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "glue_lit"), str(tmp_path / "trainer"),
                           "--out", str(out), "--title", "test"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_plot_curves_says_when_a_folder_has_no_records(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, str(tmp_path),
                           "--out", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no run records found" in proc.stderr
    assert not (tmp_path / "x.png").exists()
