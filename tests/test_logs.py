"""What a user sees without a terminal, what TensorBoard gets, and defaults that matter on a GPU."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, fit_args, tb_scalars
from lightning.pytorch.accelerators import CUDAAccelerator

import glue_lit
from glue_lit.__main__ import main
from glue_lit.cli import GlueCLI, cli_main
from glue_lit.console import QuietLightning
from glue_lit.model import GLUETransformer


@pytest.mark.slow  # a process whose stdout is a file (18 s)
def test_fit_into_a_file_prints_progress_and_every_validation(tiny_model, glue_dir, run_dir):
    # As under SLURM, nohup or CI: stdout is a file. 20 batches an epoch, 2 epochs.
    args = fit_args(tiny_model, glue_dir, "cola", "--trainer.enable_progress_bar", "true",
                    "--trainer.enable_model_summary", "true")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(run_dir / "out.log", "w") as out, open(run_dir / "err.log", "w") as err:
        proc = subprocess.run([sys.executable, "-m", "glue_lit", "fit", *args], cwd=run_dir, env=env,
                              stdout=out, stderr=err, timeout=300)
    log, errors = (run_dir / "out.log").read_text(), (run_dir / "err.log").read_text()
    assert proc.returncode == 0, errors[-3000:]
    lines = log.splitlines()
    for epoch in (1, 2):
        progress = [line for line in lines if line.startswith(f"epoch {epoch}/2  step ")]
        assert len(progress) >= 4, log
        assert all(re.search(r"\d+% of epoch  train/loss [\d.]+  lr \S+  [\d.]+ samples/s  left \S+ "
                             r"\(fit \S+\)$", line) for line in progress), progress
    validations = [line for line in lines if line.startswith("validation epoch ")]
    assert len(validations) == 2 and all("val/mcc " in v and "| best val/mcc " in v for v in validations)
    # The end-of-fit table: a row per validation, the wall time, then the best checkpoint.
    table = lines.index(next(line for line in lines if line.startswith("dev metrics per validation")))
    assert re.match(r"\s*epoch\s+step\s+val/accuracy\s+val/loss\s+val/mcc$", lines[table + 1])
    assert [line.split()[0] for line in lines[table + 2:table + 4]] == ["1.00", "2.00"]
    assert lines[table + 4].startswith("fit took ") and lines[-1].startswith("best val/mcc ")
    # No live-bar frames, no Lightning advertising.
    assert "\r" not in log and "━" not in log
    assert "Tip:" not in log + errors and (log + errors).count("GPU available:") == 1
    # The model summary, without the FLOPs Lightning cannot count for this model (it would print 0).
    assert "Total params" in errors and re.search(r"\| model +\| BertForSequenceClassification", errors)
    assert "flops" not in (log + errors).lower()


def test_lightning_tips_are_dropped_and_device_lines_shown_once():
    quiet = QuietLightning()

    def shown(message: str) -> bool:
        return quiet.filter(logging.LogRecord("lightning", logging.INFO, __file__, 1, message, None, None))

    assert not shown("💡 Tip: For seamless cloud uploads and versioning, try installing [litmodels]")
    assert [shown("GPU available: True (cuda), used: True") for _ in range(3)] == [True, False, False]
    assert shown("GPU available: False, used: False")  # a different line is news
    assert shown("`Trainer.fit` stopped: `max_epochs=2` reached.") and shown("Seed set to 42")


def hparams_data(run: Path) -> tuple[dict, set[str]]:
    """The hyper-parameters and the metric names a run gave TensorBoard's HPARAMS plugin."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    acc = EventAccumulator(str(run))
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    start = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_START_INFO_TAG])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.EXPERIMENT_TAG])
    params = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
              for k, v in start.session_start_info.hparams.items()}
    return params, {m.name.tag for m in experiment.experiment.metric_infos}


def test_tensorboard_hparams_hold_the_best_dev_metric(tiny_model, glue_dir, run_dir):
    args = fit_args(tiny_model, glue_dir, "sst2", "--trainer.max_epochs", "3",
                    "--model.learning_rate", "3e-3")
    assert main(["fit", *args]) == 0
    run = run_dir / "runs" / "sst2" / "version_0"
    params, metric_tags = hparams_data(run)
    assert params["learning_rate"] == pytest.approx(3e-3) and params["batch_size"] == 8
    assert params["max_epochs"] == 3 and params["precision"] == "32-true"
    assert params["seed_everything"] == "42"
    assert params["model_name_or_path"] == tiny_model
    assert "hp/best_val/accuracy" in metric_tags
    scalars = tb_scalars(run)
    # After each validation: the best dev accuracy so far; the last value is the run's best.
    assert scalars["hp/best_val/accuracy"][-1] == pytest.approx(max(scalars["val/accuracy"]))
    assert len(scalars["hp/best_val/accuracy"]) == len(scalars["val/accuracy"]) == 3


HOST_READS = ("item", "cpu", "tolist", "__bool__", "__float__")


@pytest.mark.parametrize("log_every", [1000, 1])
def test_training_step_reads_nothing_back_outside_logging_steps(tiny_model, glue_dir, run_dir,
                                                                monkeypatch, log_every):
    """Counts host reads of tensors made by glue_lit's code while a training step runs."""
    package = str(Path(glue_lit.__file__).parent)
    reads, in_step = [], [False]
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *a, __original=original, __name=name, **kw):
            if in_step[0] and sys._getframe(1).f_code.co_filename.startswith(package):
                reads.append(__name)
            return __original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    step = GLUETransformer.training_step

    def watched(self, *a, **kw):
        in_step[0] = True
        try:
            return step(self, *a, **kw)
        finally:
            in_step[0] = False

    monkeypatch.setattr(GLUETransformer, "training_step", watched)
    args = fit_args(tiny_model, glue_dir, "sst2", "--trainer.max_epochs", "1",
                    "--trainer.log_every_n_steps", str(log_every))
    assert main(["fit", *args]) == 0
    if log_every == 1000:
        assert reads == []  # 20 steps, none of them a logging step
    else:
        assert len(reads) >= 20  # the check does read back on logging steps: the test sees it


def device_config(monkeypatch, tiny_model, *args: str, cuda: bool = True, bf16: bool = True):
    """The parsed config of a run on a machine with (or without) a CUDA GPU, without building it."""
    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: cuda))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    monkeypatch.setattr(GlueCLI, "instantiate_classes", lambda self: None)
    return cli_main(["--model.model_name_or_path", tiny_model, *args], run=False).config


def test_cuda_defaults_to_bf16_and_padding_to_multiples_of_8(monkeypatch, tiny_model, run_dir):
    config = device_config(monkeypatch, tiny_model)
    assert (config.trainer.precision, config.data.pad_to_multiple_of) == ("bf16-mixed", 8)
    config = device_config(monkeypatch, tiny_model, "--trainer.accelerator", "gpu", bf16=False)
    assert (config.trainer.precision, config.data.pad_to_multiple_of) == ("16-mixed", 8)
    # What the user sets stays.
    config = device_config(monkeypatch, tiny_model, "--trainer.precision", "32-true",
                           "--data.pad_to_multiple_of", "1")
    assert (config.trainer.precision, config.data.pad_to_multiple_of) == ("32-true", 1)


def test_a_cpu_without_bf16_instructions_stays_fp32_unpadded(monkeypatch, tiny_model, run_dir):
    import glue_lit.precision

    monkeypatch.setattr(glue_lit.precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    for config in (device_config(monkeypatch, tiny_model, cuda=False),
                   device_config(monkeypatch, tiny_model, "--trainer.accelerator", "cpu")):
        assert (config.trainer.precision, config.data.pad_to_multiple_of) == ("32-true", 1)
