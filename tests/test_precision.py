"""Every precision a user can pick trains with the defaults: fused AdamW and clipping at norm 1.0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, SHARED_GLUE, fit_args
from lightning.pytorch.callbacks import Callback

from glue_lit.cli import build_run

CLIP = 0.01  # small enough that every step of the tiny model is clipped


class GradNorms(Callback):
    """The gradient norm each optimizer step used (after clipping), and the scaler's scale."""

    def __init__(self) -> None:
        self.norms: list[float] = []
        self.scales: list[float] = []

    def on_train_start(self, trainer, module) -> None:
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if scaler is not None:
            self.scales.append(scaler.get_scale())

    def on_train_batch_end(self, trainer, module, *args) -> None:  # grads are zeroed at the next step
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        self.norms.append(torch.linalg.vector_norm(torch.stack([g.float().norm() for g in grads])).item())


def default_precision(args: list[str]) -> list[str]:
    """``args`` without the tests' ``--trainer.precision 32-true``: the default applies."""
    i = args.index("--trainer.precision")
    return [*args[:i], *args[i + 2:]]


def fit(tiny_model, glue_dir, *extra: str, ckpt_path: Path | None = None) -> tuple:
    cli = build_run([*default_precision(fit_args(tiny_model, glue_dir, "cola")), "--trainer.max_epochs", "1",
                     "--trainer.gradient_clip_val", str(CLIP), "--trainer.log_every_n_steps", "1", *extra])
    norms = GradNorms()
    cli.trainer.callbacks.append(norms)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    return cli, norms


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16-true", "32-true"])
def test_each_precision_trains_with_fused_adamw_and_clips(tiny_model, glue_dir, run_dir, precision):
    cli, norms = fit(tiny_model, glue_dir, "--trainer.precision", precision)
    optimizer = cli.trainer.optimizers[0]
    assert optimizer.defaults["fused"] is True  # the default optimizer, not a fallback
    assert cli.trainer.global_step == 20 and len(norms.norms) == 20
    # Every step was clipped: the norm before clipping (logged) was above CLIP, the one used at CLIP.
    logged = cli.trainer.logged_metrics["train/grad_norm"].item()
    assert logged > CLIP
    assert all(abs(n - CLIP) < CLIP * 0.01 for n in norms.norms), norms.norms
    best = Path(cli.trainer.checkpoint_callback.best_model_path)
    assert best.is_file() and cli.trainer.checkpoint_callback.best_model_score is not None


MIXED16 = ("--trainer.plugins", "lightning.pytorch.plugins.precision.MixedPrecision",
           "--trainer.plugins.precision", "16-mixed", "--trainer.plugins.device", "cpu")


def test_16_mixed_with_a_gradient_scaler_clips_unscaled_gradients_and_resumes_its_scale(
        tiny_model, glue_dir, run_dir):
    # Lightning maps --trainer.precision 16-mixed on CPU to bf16-mixed; the plugin keeps fp16 and
    # torch's CPU GradScaler, the path a CUDA GPU without bf16 takes.
    cli, norms = fit(tiny_model, glue_dir, *MIXED16)
    scaler = cli.trainer.precision_plugin.scaler
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    assert cli.trainer.optimizers[0].defaults["fused"] is True
    # The gradients were unscaled before clipping: clipped scaled gradients would be CLIP * scale
    # (65536 at the start) when the step reads them, CLIP / 65536 after it.
    assert len(norms.norms) == 20 and all(abs(n - CLIP) < CLIP * 0.01 for n in norms.norms), norms.norms
    assert cli.trainer.logged_metrics["train/grad_norm"].item() < 100  # the unscaled norm was logged
    last = sorted(Path("runs/cola").glob("version_*/checkpoints/last*.ckpt"))[-1]
    saved = torch.load(last, map_location="cpu", weights_only=False)["MixedPrecision"]
    assert saved["scale"] == scaler.get_scale()

    resumed, norms2 = fit(tiny_model, glue_dir, *MIXED16, "--trainer.max_epochs", "2", ckpt_path=last)
    assert norms2.scales == [saved["scale"]]  # the scaler continued from the checkpoint's scale
    assert resumed.trainer.global_step == 40 and all(abs(n - CLIP) < CLIP * 0.01 for n in norms2.norms)



# The CPU default: bf16-mixed only with bf16 matrix instructions and a measured gain.

def _no_timing(*args, **kwargs):
    raise AssertionError("the precision was timed")


def cpu_default(tiny_model, glue_dir, monkeypatch, flags, probe=None, *extra: str) -> str:
    import glue_lit.precision as precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(precision, "measure", (lambda *a, **k: probe) if probe else _no_timing)
    args = default_precision(fit_args(tiny_model, glue_dir, "mrpc", "--trainer.logger", "false"))
    return build_run([*args, *extra]).trainer.precision


def test_a_cpu_without_bf16_instructions_stays_fp32_without_timing(tiny_model, glue_dir, run_dir,
                                                                   monkeypatch):
    assert cpu_default(tiny_model, glue_dir, monkeypatch, {"avx2", "avx512f", "fma"}) == "32-true"


def test_a_cpu_with_bf16_instructions_uses_bf16_where_the_timing_says_it_is_faster(
        tiny_model, glue_dir, run_dir, monkeypatch, caplog):
    from glue_lit.precision import Probe

    fast, slow = Probe(fp32_ms=100, bf16_ms=50), Probe(fp32_ms=100, bf16_ms=95)
    assert cpu_default(tiny_model, glue_dir, monkeypatch, {"avx512_bf16"}, fast) == "bf16-mixed"
    assert "--trainer.precision bf16-mixed: a training step at 8x53 tokens" in caplog.text
    # The timing is kept per CPU, model and shape: the second run reads it (slow would say fp32).
    assert cpu_default(tiny_model, glue_dir, monkeypatch, {"amx_bf16"}, slow) == "bf16-mixed"
    (run_dir / "cache" / "precision.json").unlink()
    assert cpu_default(tiny_model, glue_dir, monkeypatch, {"amx_bf16"}, slow) == "32-true"
    # A precision given on the command line is kept, and nothing is timed.
    assert cpu_default(tiny_model, glue_dir, monkeypatch, {"amx_bf16"}, None,
                       "--trainer.precision", "32-true") == "32-true"


def test_the_chosen_precision_is_recorded_in_config_yaml(tiny_model, glue_dir, run_dir, monkeypatch):
    import yaml

    import glue_lit.precision as precision
    from glue_lit.cli import cli_main

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(precision, "measure", lambda *a, **k: precision.Probe(fp32_ms=100, bf16_ms=40))
    cli_main(["fit", *default_precision(fit_args(tiny_model, glue_dir, "cola", "--trainer.max_epochs", "1"))])
    config = yaml.safe_load(next(run_dir.glob("runs/cola/version_0/config.yaml")).read_text())
    assert config["trainer"]["precision"] == "bf16-mixed"


def test_timing_a_model_leaves_the_runs_random_state_alone(tiny_model, tmp_path):
    from glue_lit.precision import cached_measure

    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    probe = cached_measure(tiny_model, 4, 16, True, tmp_path)
    assert torch.equal(torch.rand(3), expected)
    assert probe.fp32_ms > 0 and probe.bf16_ms > 0
    assert cached_measure(tiny_model, 4, 16, True, tmp_path) == probe  # read back, not timed again


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_GLUE.is_dir(), reason="real GLUE data not present")
def test_the_gpu_check_runs_its_whole_sequence_in_bf16_mixed_on_the_cpu(tmp_path):
    """The GPU check's fit, validate, predict, export and resume, on CPU in bf16-mixed (~60 s), so a
    GPU run is never the first time that path runs."""
    env = {**os.environ, "GLUE_DIR": str(SHARED_GLUE), "ACCELERATOR": "cpu", "STEPS": "30",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", str(REPO / "benchmarks/tools/gpu_check.sh"), str(tmp_path / "check"),
         "--data.train_subset", "320", "--trainer.max_epochs", "9"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and not [line for line in lines if not line.startswith("PASS")], out.stdout
    assert "PASS fit 30 steps (bf16-mixed)" in lines and "PASS resume: continued from step 30 to 40" in lines
