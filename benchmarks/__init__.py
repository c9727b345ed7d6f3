"""Benchmarks of glue_lit, run as modules from the repository root (``python -m benchmarks....``).

``tools/``: maintained measuring tools (the throughput harness and its ``speed`` parts, the
learning-curve plot, the GPU check). ``experiments/``: one-off comparisons, each with its records
beside it and its outcome in docs/results.md. ``results/``: the committed benchmark records of the
results table (``glue_lit benchmark --report --column ...``).
"""

import glue_lit  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads OpenMP)
