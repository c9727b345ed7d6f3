"""Speed work must not change results: fast tokenization gives the tokenizer's ids, and the
throughput benchmark counts what it claims to count."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from glue_lit import GLUEDataModule, get_task
from glue_lit.batching import tokenize
from glue_lit.hub import load_model, load_tokenizer
from glue_lit.precision import BF16_FLAGS
from glue_lit.sources import read_glue_split


def load_bench():
    return importlib.import_module("benchmarks.tools.throughput")


def speed_module(name: str):
    return importlib.import_module(f"benchmarks.tools.speed.{name}")


@pytest.mark.parametrize("task", ["cola", "mrpc"])
@pytest.mark.parametrize("max_length", [128, 8])
def test_tokenize_gives_the_ids_of_calling_the_tokenizer(glue_dir, tiny_model, task, max_length):
    tokenizer = load_tokenizer(tiny_model)
    t = get_task(task)
    ex = read_glue_split(glue_dir, t, t.train)
    expected = tokenizer(*ex.texts, truncation=True, max_length=max_length)
    arrays = tokenize(tokenizer, ex, max_length, t.label_dtype)
    offsets = arrays["offsets"]
    assert len(offsets) == len(ex) + 1
    for key in ("input_ids", "token_type_ids"):
        rows = [arrays[key][offsets[i] : offsets[i + 1]].tolist() for i in range(len(ex))]
        assert rows == expected[key]
    if max_length == 8:
        assert np.diff(offsets).max() == 8  # truncation applied, pairs included


def test_probe_counts_training_tokens_only(tiny_model):
    bench = speed_module("probe")
    model = load_model(tiny_model, num_labels=2)
    probe = bench.Probe("cpu")
    model.register_forward_pre_hook(probe.count_tokens, with_kwargs=True)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    ids = torch.randint(5, 20, mask.shape)
    model.train()
    model(input_ids=ids, attention_mask=mask)
    model.eval()
    model(input_ids=ids, attention_mask=mask)  # evaluation forwards are not training tokens
    assert (int(probe.real), int(probe.squares), probe.padded, probe.samples) == (7, 9 + 16, 8, 2)
    counts = bench.flop_counts(model)
    head = [model.bert.pooler, model.classifier]
    assert counts["n_token"] == sum(p.numel() for p in model.bert.encoder.parameters())
    assert counts["n_head"] == sum(p.numel() for m in head for p in m.parameters())


@pytest.mark.slow
def test_benchmark_compares_glue_lit_trainer_bare_loop_and_whole_processes_in_one_run(
        glue_dir, tiny_model, run_dir):
    # One benchmark run with every runner: each run is its own process, the machine's matmul peak is
    # measured once.
    out = run_dir / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.tools.throughput", "--model", tiny_model, "--data_dir",
         str(glue_dir), "--task", "cola", "--max_steps", "3", "--batch_size", "16", "--json", str(out),
         "--runners", "glue_lit,trainer,bare,glue_lit_process,trainer_process"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "glue_lit / Trainer real tokens/s" in proc.stdout
    assert "glue_lit / bare loop step time" in proc.stdout
    assert "whole process, Trainer / glue_lit wall-clock" in proc.stdout
    result = json.loads(out.read_text())
    glue_lit, trainer, bare = (result["runners"][n] for n in ("glue_lit", "trainer", "bare"))
    for r in (glue_lit, trainer, bare):
        assert r["steps"] == 3 and r["samples"] == 48
        assert 0 < r["padding_efficiency"] <= 1 and 0 < r["optimizer_share"] < 1
        assert 0 < r["mfu_fp32"] < 1 and r["peak_rss_mb"] > 0
    # A bf16 peak beside the fp32 one exactly where the CPU has bf16 matrix instructions (read here
    # from /proc/cpuinfo: this test process runs as on a CPU without them, the benchmark does not).
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    has_bf16 = any(flag in cpuinfo.split() for flag in BF16_FLAGS)
    assert set(result["matmul_peaks"]) == ({"fp32", "bf16"} if has_bf16 else {"fp32"})
    assert ("MFU (of bf16 peak)" in proc.stdout) == has_bf16
    # Length grouping: glue_lit pads less than the Trainer's random batches.
    assert glue_lit["padding_efficiency"] > trainer["padding_efficiency"]
    # The bare loop trains the very batches glue_lit trains on.
    for key in ("real_tokens", "padded_tokens"):
        assert bare[key] == glue_lit[key]
    assert result["tokens_per_s_ratio"] > 0 and result["step_ms_ratio_bare"] > 0
    # Whole processes, as a user starts them: start-up, training and what follows add up.
    for name in ("glue_lit_process", "trainer_process"):
        r = result["runners"][name]
        assert r["steps"] == 3 and 0 < r["startup_s"] < r["wall_s"]
        assert r["startup_s"] + r["fit_s"] + r["after_s"] == pytest.approx(r["wall_s"])
    assert result["wall_s_ratio"] > 0
    # Logs, checkpoints and the recipe's records stay in temporary folders.
    for leftover in ("runs", "hf-trainer", "records"):
        assert not list(run_dir.glob(leftover))


def test_every_run_gets_the_openmp_wait_policy_asked_for(monkeypatch, capsys):
    bench = load_bench()
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert bench.run_env(bench.parse_args(["--device", "cpu"]))["OMP_WAIT_POLICY"] == "PASSIVE"
    assert bench.run_env(bench.parse_args(["--device", "cpu", "--omp_wait_policy", "active"]))[
        "OMP_WAIT_POLICY"] == "ACTIVE"
    # Unset is not offered: each run's own start-up would set PASSIVE, so the runs would differ.
    with pytest.raises(SystemExit):
        bench.parse_args(["--device", "cpu", "--omp_wait_policy", ""])
    assert "invalid choice" in capsys.readouterr().err


def test_tokenize_only_reports_cold_and_cached_times(glue_dir, tiny_model, run_dir):
    result = load_bench().main(
        ["--tokenize_only", "--task", "sst2", "--model", tiny_model, "--data_dir", str(glue_dir)]
    )
    assert result["examples"] == 160 and result["tokens"] > 160
    assert result["cold_tokenize_s"] > 0 and result["cache_hit_s"] > 0
    # The data module sees the same arrays the benchmark timed.
    dm = GLUEDataModule("sst2", tiny_model, data_dir=str(glue_dir))
    dm.setup("fit")
    assert int(dm.splits["train"].offsets[-1]) == result["tokens"]


def test_the_trainer_can_run_in_its_own_default_precision_beside_glue_lit_s():
    bench, report = load_bench(), speed_module("report")
    same = bench.parse_args(["--device", "cpu", "--precision", "bf16-mixed"])
    assert same.trainer_precision == "bf16-mixed"
    assert report.runs_in(vars(same)) == "runs in bf16-mixed"
    own = bench.parse_args(["--device", "cpu", "--precision", "bf16-mixed", "--trainer_precision", "32-true"])
    assert report.runs_in(vars(own)) == "glue_lit and bare runs in bf16-mixed, Trainer runs in 32-true"
    # A result recorded before the option existed reads as one precision for all.
    assert report.runs_in({"precision": "32-true"}) == "runs in 32-true"
