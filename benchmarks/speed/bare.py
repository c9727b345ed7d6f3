"""The bare runner: glue_lit's own batches, model and optimizer through a minimal PyTorch loop.

No Lightning loop, no logging, no callbacks: forward, backward, gradient clipping, fused AdamW,
schedule. It is the lower bound of glue_lit's step time on these kernels, so ``glue_lit / bare``
says what the work around the math costs per step (the issue measured 13% on the idle machine).
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

from speed.probe import Probe, summarize
from speed.runners import glue_lit_argv


def run_bare(args: argparse.Namespace, probe: Probe) -> dict:
    import torch

    from glue_lit.cli import build_run

    if args.precision not in ("32-true", "bf16-mixed"):
        raise SystemExit(f"throughput: the bare runner supports 32-true and bf16-mixed, not {args.precision}")
    # Built as glue_lit's fit builds it: the same seed, model weights, data module and hyperparameters.
    run = build_run(glue_lit_argv(args))
    module, data = run.model, run.datamodule
    device = torch.device(args.device)
    data.setup("fit")
    loader = data.train_dataloader()  # the very batches glue_lit trains on, in the same order
    total = len(loader) * args.epochs
    if args.max_steps != -1:
        total = min(total, args.max_steps)
    # configure_optimizers and setup read only these from the trainer; a stand-in keeps Lightning's
    # loops out while the parameter groups, fused AdamW, schedule and starting bias stay glue_lit's.
    module.trainer = SimpleNamespace(estimated_stepping_batches=total, ckpt_path=None, datamodule=data)
    module.to(device)
    module.setup("fit")
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    clip = run.trainer.gradient_clip_val  # glue_lit's default, 1.0
    params = [p for p in module.parameters() if p.requires_grad]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16-mixed")
    module.model.register_forward_pre_hook(probe.count_tokens, with_kwargs=True)
    module.train()

    steps = 0
    for epoch in range(args.epochs):
        sampler = getattr(loader.batch_sampler, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # where Lightning calls it at each epoch start: a new shuffle
        probe.start("train")
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast:
                loss = module(batch).loss
            loss.backward()
            probe.start("optimizer")  # clipping included, as in glue_lit's optimizer span
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            probe.stop("optimizer")
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            probe.step_end()
            steps += 1
            if steps == total:
                break
        probe.epoch_end()
        if steps == total:
            break
    return summarize(probe, module.model, {
        "metric_name": None, "metric": None, "eval_samples": 0,
        "optimizer": "AdamW fused" if optimizer.defaults.get("fused") else "AdamW",
    })
