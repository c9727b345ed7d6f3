"""What the throughput benchmark counts and times, the same way for every runner.

Training time is, per epoch, epoch start to the end of its last step (evaluation and checkpoints
excluded); the optimizer span is the update (with gradient clipping where the runner's hook comes
before it); tokens are counted on the model's forwards in training mode only. FLOPs count real
tokens only (``FLOP_FORMULA``), against the dense matmul throughput measured on the same machine.
"""

from __future__ import annotations

import resource
import time

FLOP_FORMULA = (
    "6*N_token*real_tokens + 12*layers*hidden*sum(real_len^2) + 6*N_head*samples; N_token = encoder "
    "parameters (every token passes them), N_head = pooler + classifier (one vector per sequence); "
    "embedding lookups count 0; padding counts 0"
)


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def matmul_flops(device: str, dtype: str = "fp32", sizes=(1024, 2048, 4096), repeats: int = 3) -> float:
    """Best dense square matmul FLOP/s over ``sizes`` in ``dtype`` ("fp32" or "bf16").

    Several sizes, best of each: the reference must not be a size this machine happens to do
    badly, or the utilisation figures would flatter the training run.
    """
    import torch

    dtype_ = torch.bfloat16 if dtype == "bf16" else torch.float32
    inner = 10 if device == "cuda" else 1
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype_)
        b = torch.randn(n, n, device=device, dtype=dtype_)
        torch.mm(a, b)  # warm-up: kernel selection, page faults
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            for _ in range(inner):
                torch.mm(a, b)
            sync(device)
            best = max(best, 2 * n**3 * inner / (time.perf_counter() - start))
    return best


def matmul_peaks(device: str) -> dict[str, float]:
    """The fp32 peak, and the bf16 peak where the hardware has bf16 matrix units.

    MFU against the fp32 peak alone flatters a bf16 run: on a CPU with avx512_bf16 the bf16 peak
    is about 4x the fp32 one (872 against 211 GFLOP/s on an AMD EPYC, 2 threads). A CPU without
    bf16 instructions emulates bf16 slowly, and that would be no peak to measure against.
    """
    from glue_lit.precision import bf16_units

    peaks = {"fp32": matmul_flops(device, "fp32")}
    if device == "cuda" or bf16_units():
        peaks["bf16"] = matmul_flops(device, "bf16")
    return peaks


class Clock:
    """Time marks: ``perf_counter`` on CPU, CUDA events on GPU (no host sync inside the loop)."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"

    def mark(self):
        if not self.cuda:
            return time.perf_counter()
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self, start, end) -> float:
        if not self.cuda:
            return end - start
        end.synchronize()
        return start.elapsed_time(end) / 1000


class Probe:
    """Counts the tokens of training forwards and times epochs, optimizer steps and evaluation.

    Every runner calls the same methods from its own hooks, so one definition covers them all.
    """

    def __init__(self, device: str):
        self.clock = Clock(device)
        self.spans: dict[str, list] = {"train": [], "optimizer": [], "eval": []}
        self.open: dict[str, object] = {}
        self.last_step_end = None
        # Process CPU time of the training spans: how many cores the run really got, and a
        # throughput that other busy processes on the machine distort far less than wall time.
        self.cpu_s = 0.0
        self.cpu_start = self.cpu_last = None
        self.steps = 0
        self.padded = self.samples = 0
        self.real = self.squares = 0  # device tensors once counting starts: no host sync per step

    def start(self, name: str) -> None:
        self.open[name] = self.clock.mark()
        if name == "train":
            self.cpu_start = time.process_time()

    def stop(self, name: str) -> None:
        if name in self.open:
            self.spans[name].append((self.open.pop(name), self.clock.mark()))

    def step_end(self) -> None:
        self.steps += 1
        self.last_step_end = self.clock.mark()
        self.cpu_last = time.process_time()

    def epoch_end(self) -> None:
        if "train" in self.open and self.last_step_end is not None:
            self.spans["train"].append((self.open.pop("train"), self.last_step_end))
            self.cpu_s += self.cpu_last - self.cpu_start
        self.last_step_end = None

    def seconds(self, name: str) -> float:
        return sum(self.clock.seconds(a, b) for a, b in self.spans[name])

    def count_tokens(self, module, args, kwargs) -> None:
        """Forward pre-hook on the Hugging Face model: count training batches only."""
        if module.training and "attention_mask" in kwargs:
            mask = kwargs["attention_mask"]
            lengths = mask.sum(1)
            self.real = self.real + lengths.sum()
            self.squares = self.squares + (lengths * lengths).sum()
            self.padded += mask.numel()
            self.samples += mask.shape[0]


def flop_counts(model) -> dict[str, int]:
    """Parameter counts for the FLOP formula: per-token encoder, per-sequence head."""
    from torch import nn

    tables = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    dense = sum(p.numel() for p in model.parameters() if id(p) not in tables)
    base = getattr(model, "base_model", model)
    encoder = getattr(base, "encoder", None) or getattr(base, "transformer", None)
    embeddings = getattr(base, "embeddings", None)
    if encoder is None or embeddings is None:  # unknown layout: every dense weight sees every token
        n_token, n_head = dense, 0
    else:
        n_token = sum(p.numel() for p in encoder.parameters())
        n_head = sum(p.numel() for p in model.parameters()) - n_token - sum(
            p.numel() for p in embeddings.parameters()
        )
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "n_token": n_token,
        "n_head": n_head,
        "layers": model.config.num_hidden_layers,
        "hidden": model.config.hidden_size,
    }


def summarize(probe: Probe, model, extra: dict) -> dict:
    """One run's figures: throughput, padding, optimizer share, cores, FLOPs, memory, evaluation."""
    import torch

    counts = flop_counts(model)
    real, squares = int(probe.real), int(probe.squares)
    flops = (6 * counts["n_token"] * real + 12 * counts["layers"] * counts["hidden"] * squares
             + 6 * counts["n_head"] * probe.samples)
    train_s = probe.seconds("train")
    evals = len(probe.spans["eval"])
    result = {
        "train_s": train_s,
        "steps": probe.steps,
        "samples": probe.samples,
        "real_tokens": real,
        "padded_tokens": probe.padded,
        "tokens_per_s": real / train_s,
        "samples_per_s": probe.samples / train_s,
        "step_ms": 1000 * train_s / max(1, probe.steps),
        "padding_efficiency": real / max(1, probe.padded),
        "optimizer_share": probe.seconds("optimizer") / train_s,
        "cores_used": probe.cpu_s / train_s,
        "tokens_per_cpu_s": real / probe.cpu_s if probe.cpu_s else None,
        "eval_s": probe.seconds("eval"),
        "eval_samples_per_s": extra["eval_samples"] * evals / probe.seconds("eval") if evals else None,
        "train_flops": flops,
        "achieved_flops_per_s": flops / train_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        **counts,
        **extra,
    }
    if torch.cuda.is_available() and model.device.type == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result
