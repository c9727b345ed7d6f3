"""The bare runner: glue_lit's own batches, model and optimizer through a minimal PyTorch loop.

No Lightning loop, no logging, no callbacks: forward, backward, gradient clipping, fused AdamW,
schedule. It is the lower bound of glue_lit's step time on these kernels, so ``glue_lit / bare``
says what the work around the math costs per step (13% measured on an idle 2-core CPU).
:class:`BareStep` is that step, also used by the LoRA experiment's step timing.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from benchmarks.tools.speed.probe import Probe, summarize
from benchmarks.tools.speed.runners import glue_lit_argv


@dataclass
class BareStep:
    """One training step of a run ``fit`` would build, without Lightning's loops."""

    module: Any
    data: Any
    optimizer: Any
    scheduler: Any
    params: list
    device: Any
    clip: float
    autocast: Any

    @classmethod
    def build(cls, argv: list[str], epochs: int = 1, max_steps: int = -1) -> BareStep:
        """Built as ``fit`` builds it from ``argv``: the same seed, weights, data module and
        hyper-parameters, with a schedule over ``epochs`` (at most ``max_steps``, unless -1)."""
        import torch

        from glue_lit.cli import build_run

        run = build_run(argv)
        module, data = run.model, run.datamodule
        device = run.trainer.strategy.root_device
        data.setup("fit")
        total = len(data.train_dataloader()) * epochs
        total = min(total, max_steps) if max_steps != -1 else total
        # configure_optimizers and setup read only these from the trainer; a stand-in keeps Lightning's
        # loops out while the parameter groups, fused AdamW, schedule and starting bias stay glue_lit's.
        module.trainer = SimpleNamespace(estimated_stepping_batches=total, ckpt_path=None, datamodule=data)
        module.to(device)
        module.setup("fit")
        config = module.configure_optimizers()
        bf16 = str(run.trainer.precision) == "bf16-mixed"
        return cls(module=module, data=data, optimizer=config["optimizer"],
                   scheduler=config["lr_scheduler"]["scheduler"],
                   params=[p for p in module.parameters() if p.requires_grad], device=device,
                   clip=run.trainer.gradient_clip_val or 0.0,  # glue_lit's default, 1.0
                   autocast=torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16))

    def forward_backward(self, batch: dict) -> None:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with self.autocast:
            loss = self.module(batch).loss
        loss.backward()

    def update(self) -> None:
        """Clip, step the optimizer and the schedule, clear the gradients."""
        import torch

        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()


def run_bare(args: argparse.Namespace, probe: Probe) -> dict:
    if args.precision not in ("32-true", "bf16-mixed"):
        raise SystemExit(f"throughput: the bare runner supports 32-true and bf16-mixed, not {args.precision}")
    step = BareStep.build(glue_lit_argv(args), args.epochs, args.max_steps)
    loader = step.data.train_dataloader()  # the very batches glue_lit trains on, in the same order
    total = step.module.trainer.estimated_stepping_batches
    step.module.model.register_forward_pre_hook(probe.count_tokens, with_kwargs=True)
    step.module.train()

    steps = 0
    for epoch in range(args.epochs):
        sampler = getattr(loader.batch_sampler, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # where Lightning calls it at each epoch start: a new shuffle
        probe.start("train")
        for batch in loader:
            step.forward_backward(batch)
            probe.start("optimizer")  # clipping included, as in glue_lit's optimizer span
            step.update()
            probe.stop("optimizer")
            probe.step_end()
            steps += 1
            if steps == total:
                break
        probe.epoch_end()
        if steps == total:
            break
    return summarize(probe, step.module.model, {
        "metric_name": None, "metric": None, "eval_samples": 0,
        "optimizer": "AdamW fused" if step.optimizer.defaults.get("fused") else "AdamW",
    })
