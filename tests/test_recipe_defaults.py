"""glue_lit's defaults are the Hugging Face Trainer recipe's, plus a regression head started at the mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import fit_args

from glue_lit.cli import build_run
from glue_lit.sources import read_glue_split
from glue_lit.tasks import get_task


def test_defaults_clip_gradients_and_decay_weights_like_the_trainer(tiny_model, glue_dir, run_dir):
    cli = build_run(fit_args(tiny_model, glue_dir, "cola"))
    assert cli.trainer.gradient_clip_val == 1.0  # TrainingArguments.max_grad_norm
    hp = cli.model.hparams
    assert (hp.weight_decay, hp.warmup_ratio, hp.adam_epsilon) == (0.01, 0.0, 1e-8)


def test_the_schedule_is_the_trainers_linear_warmup_and_decay(tiny_model, glue_dir, run_dir):
    from transformers import get_linear_schedule_with_warmup

    cli = build_run(fit_args(tiny_model, glue_dir, "cola", "--model.warmup_ratio", "0.1"))
    from lightning.pytorch.callbacks import Callback

    seen = []

    class Rates(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    cli.trainer.callbacks.append(Rates())
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    # warmup = ceil(0.1 * 40) = 4 steps, as TrainingArguments.get_warmup_steps rounds it
    schedule = get_linear_schedule_with_warmup(reference, 4, 40)
    expected = []
    for _ in range(len(seen)):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    assert seen == pytest.approx(expected)


@pytest.mark.parametrize("at_mean", [True, False])
def test_a_fresh_regression_head_starts_at_the_training_labels_mean(tiny_model, glue_dir, run_dir, at_mean):
    # Learning rate 0: the one step changes nothing, so the bias after fit is where it started.
    cli = build_run(fit_args(tiny_model, glue_dir, "stsb", "--model.learning_rate", "0",
                             "--trainer.limit_train_batches", "1", "--trainer.max_epochs", "1",
                             "--model.regression_bias_at_mean", str(at_mean)))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    labels = read_glue_split(glue_dir, get_task("stsb"), get_task("stsb").train).labels
    expected = float(np.mean(labels)) if at_mean else 0.0
    assert float(cli.model.model.classifier.bias) == pytest.approx(expected, abs=1e-5)
