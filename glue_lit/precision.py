"""The precision a run uses when ``--trainer.precision`` is not given: from the device, and on a CPU
from a timing of the model itself on that CPU.

- CUDA: bf16-mixed, or 16-mixed on GPUs without native bf16 (V100, T4: emulated bf16 is slower).
- CPU: bf16-mixed only where the CPU has bf16 matrix instructions (``amx_bf16`` or ``avx512_bf16``)
  *and* a training step of the model at the task's row length is at least ``MIN_SPEEDUP`` faster in
  bf16 than in fp32; fp32 elsewhere. The flags alone are not enough: a 2,048² matmul on 2 cores ran
  4.1x faster in bf16 on an AMD EPYC (Zen 5, avx512_bf16) and 3.9x on an AMX Xeon, but a CPU without
  these instructions runs bf16 about 18x slower, and on CoLA's 10-token rows a MiniLM step gained only
  3% (the step is held by work other than the matrix products).

The timing is made once per CPU model, torch version, model, batch and row length, and kept in
``$GLUE_LIT_CACHE/precision.json``; the choice and its reason are printed and ``config.yaml`` records it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from glue_lit.tasks import TASKS

BF16_FLAGS = ("amx_bf16", "avx512_bf16")
MIN_SPEEDUP = 1.15  # below this, bf16's rounding is not worth its gain


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this machine's CPU (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_name() -> str:
    """The CPU's model name, as ``lscpu`` shows it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bf16_units(flags: frozenset[str] | None = None) -> tuple[str, ...]:
    """The CPU's bf16 matrix instructions among ``BF16_FLAGS``."""
    flags = cpu_flags() if flags is None else flags
    return tuple(f for f in BF16_FLAGS if f in flags)


@dataclass(frozen=True)
class Probe:
    """Time of one step of the model, in fp32 and under bf16 autocast (the fastest of a few)."""

    fp32_ms: float
    bf16_ms: float

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.bf16_ms


def _step_ms(model, inputs: dict, optimizer, bf16: bool) -> float:
    import torch

    start = time.perf_counter()
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16), torch.set_grad_enabled(optimizer is not None):
        out = model(**inputs)
    if optimizer is not None:
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) * 1000


def _config(model):
    """The transformers config of a model name, folder or config."""
    if not isinstance(model, str):
        return model
    from glue_lit.hub import load_config

    return load_config(model)


def _name(model) -> str:
    if isinstance(model, str):
        return model
    return f"{model.model_type} {model.num_hidden_layers}x{model.hidden_size}"


def measure(model, batch: int, tokens: int, train: bool = True, reps: int = 3) -> Probe:
    """Time a step of ``model``'s architecture (a name, folder or transformers config; random
    weights, ``batch`` rows of ``tokens`` tokens): forward, backward and fused AdamW when ``train``,
    forward only otherwise."""
    import torch
    from transformers import AutoModelForSequenceClassification

    config = _config(model)
    # The run was seeded before its precision is chosen: the timing must not move its random state,
    # or a run that times would differ from the same run reading the timing from the cache.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_config(config).train(train)
        vocab = int(getattr(config, "vocab_size", 1000))
        inputs = {"input_ids": torch.randint(vocab, (batch, tokens)),
                  "attention_mask": torch.ones(batch, tokens, dtype=torch.long),
                  "labels": torch.zeros(batch, dtype=torch.long)}
        optimizer = torch.optim.AdamW(model.parameters(), fused=True) if train else None
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(reps + 1):  # the first of each is a warm-up (kernel choice, allocations)
            for bf16 in (True, False):  # interleaved: other work on the machine slows both alike
                ms = _step_ms(model, inputs, optimizer, bf16)
                if i:
                    times[bf16].append(ms)
    # The fastest of each: interruptions by other processes only ever add time.
    return Probe(fp32_ms=min(times[False]), bf16_ms=min(times[True]))


def cached_measure(model, batch: int, tokens: int, train: bool, cache_dir: Path) -> Probe:
    """``measure``, kept per CPU model, torch version, model, batch, row length and mode."""
    import torch

    mode = "train" if train else "eval"
    key = f"{cpu_name()} | torch {torch.__version__} | {_name(model)} | {batch}x{tokens} | {mode}"
    path = cache_dir / "precision.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), dict):
        try:
            return Probe(**known[key])
        except TypeError:
            pass
    probe = measure(model, batch, tokens, train)
    known[key] = asdict(probe)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)  # atomic: processes that start together never read half a file
    except OSError:
        pass  # a read-only cache only costs the timing again next time
    return probe


def cpu_precision(model, batch: int, tokens: int, train: bool = True,
                  flags: frozenset[str] | None = None, cache_dir: Path | None = None) -> tuple[str, str]:
    """The CPU default precision for ``model`` (a name, folder or transformers config) at ``batch``
    rows of ``tokens`` tokens, with the reason in words."""
    units = bf16_units(flags)
    if not units:
        return "32-true", f"{cpu_name()} has no bf16 matrix instructions ({' or '.join(BF16_FLAGS)})"
    if cache_dir is None:
        from glue_lit.cache import default_cache_dir

        cache_dir = default_cache_dir()
    probe = cached_measure(model, batch, tokens, train, cache_dir)
    timing = (f"a {'training' if train else 'forward'} step at {batch}x{tokens} tokens took "
              f"{probe.bf16_ms:.0f} ms in bf16, {probe.fp32_ms:.0f} ms in fp32 ({probe.speedup:.2f}x) "
              f"on {cpu_name()} ({', '.join(units)})")
    if probe.speedup >= MIN_SPEEDUP:
        return "bf16-mixed", timing
    return "32-true", f"{timing}; bf16 is used from {MIN_SPEEDUP}x"


def serving_dtype(config, batch: int, tokens: int):
    """The dtype a PyTorch model answers requests in: bfloat16 on a CUDA GPU with bf16, and on a CPU
    where ``cpu_precision`` picks bf16 for a forward pass at ``batch`` x ``tokens``; else float32."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float32
    precision, _ = cpu_precision(config, batch, tokens, train=False)
    return torch.bfloat16 if precision.startswith("bf16") else torch.float32


def _precision_plugin(trainer) -> bool:
    """Whether ``--trainer.plugins`` holds a precision plugin (Lightning refuses it beside a precision)."""
    plugins = trainer.get("plugins")
    plugins = plugins if isinstance(plugins, list) else [plugins] if plugins is not None else []
    names = [str(getattr(p, "class_path", None) or type(p).__module__ if not isinstance(p, str) else p)
             for p in plugins]
    return any(".precision" in name for name in names)


def device_defaults(config, train: bool = True) -> None:
    """Unless set: ``trainer.precision`` from ``precision.py`` (CUDA: bf16-mixed, 16-mixed on GPUs
    without bf16; CPU: bf16-mixed where it has bf16 matrix instructions and a timed step of the model is
    faster, else fp32) and ``data.pad_to_multiple_of`` 8 on CUDA (tensor cores work on multiples of 8),
    1 elsewhere. ``train``: the run trains (``fit``), else it only evaluates or predicts."""
    import torch
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    from glue_lit.onnx_model import is_onnx_folder

    trainer, data = config.get("trainer"), config.get("data")
    accelerator = trainer.get("accelerator") if trainer is not None else None
    accelerator = accelerator.lower() if isinstance(accelerator, str) else accelerator
    cuda = accelerator in ("auto", "gpu", "cuda") and CUDAAccelerator.is_available()
    cpu = accelerator == "cpu" or (accelerator == "auto" and not cuda and not MPSAccelerator.is_available())
    chosen = trainer is None or trainer.get("precision") is not None or _precision_plugin(trainer)
    if cuda and not chosen:
        # Without emulation: emulated bf16 on pre-Ampere GPUs (V100, T4) is slower than fp16.
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        trainer.precision = "bf16-mixed" if bf16 else "16-mixed"
    elif (cpu and not chosen and data is not None and config.get("model") is not None
          and not is_onnx_folder(config.model.model_name_or_path)):  # ONNX Runtime keeps its own
        task = TASKS.get(str(data.task_name).lower().replace("-", ""))
        batch = data.batch_size if train else (data.get("eval_batch_size") or data.batch_size)
        from lightning.pytorch.utilities.rank_zero import rank_zero_info

        trainer.precision, reason = cpu_precision(config.model.model_name_or_path, int(batch),
                                                  task.tokens if task else 32, train=train)
        rank_zero_info(f"glue_lit: --trainer.precision {trainer.precision}: {reason}")
    if data is not None and "pad_to_multiple_of" in data and data.pad_to_multiple_of is None:
        data.pad_to_multiple_of = 8 if cuda else 1
