"""Two-process CPU DDP (gloo): fit and validate end to end; dev metrics cover the whole dev set."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, fit_args
from test_cli import tb_scalars

from glue_lit.batching import LengthGroupedBatchSampler
from glue_lit.cli import cli_main

DDP = ("--trainer.strategy", "ddp", "--trainer.devices", "2")


def python_m_glue_lit(cwd, *args: str) -> None:
    # A process of its own: Lightning starts the second rank by running this command line again.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "glue_lit", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.slow  # two processes of their own (80 s on 2 shared cores)
def test_two_process_fit_and_validate_match_one_process_validate(tiny_model, glue_dir, run_dir):
    # 40 dev rows in batches of 16, 16 and 8: rank 0 gets 24 rows, rank 1 16, so a one-rank metric or
    # a mean of per-rank means would differ from the whole-set value.
    args = fit_args(tiny_model, glue_dir, "mrpc", "--data.eval_batch_size", "16")
    python_m_glue_lit(run_dir, "fit", *args, *DDP)
    runs = run_dir / "runs" / "mrpc"
    last = runs / "version_0" / "checkpoints" / "last.ckpt"
    fit = tb_scalars(runs / "version_0")

    python_m_glue_lit(run_dir, "validate", *args, *DDP, "--ckpt_path", str(last))
    ddp_validate = tb_scalars(runs / "version_1")

    one = cli_main(["validate", *args, "--ckpt_path", str(last)]).trainer.callback_metrics
    for key in ("val/accuracy", "val/f1", "val/loss"):
        # The last validation of fit ran on the weights that last.ckpt holds.
        assert fit[key][-1] == pytest.approx(one[key].item(), rel=1e-6), key
        assert ddp_validate[key][-1] == pytest.approx(one[key].item(), rel=1e-6), key


@pytest.mark.parametrize("n", [1, 5, 40, 277])
def test_eval_batches_cover_every_example_once_and_every_rank(n):
    lengths = (17 * np.arange(n)) % 23 + 1
    for world in (1, 2, 3):
        ranks = [list(LengthGroupedBatchSampler(lengths, 128, shuffle=False, rank=r, world_size=world))
                 for r in range(world)]
        seen = sorted(i for batches in ranks for batch in batches for i in batch)
        assert seen == list(range(n))  # no example dropped or duplicated
        if n >= world:
            assert all(ranks)  # a rank without a batch would hang the others in the metric sync
