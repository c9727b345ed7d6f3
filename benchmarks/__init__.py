"""Benchmarks of glue_lit, run as modules from the repository root (``python -m benchmarks....``).

``tools/``: maintained measuring tools (the throughput harness and its ``speed`` parts, the
learning-curve plot, the GPU check). ``experiments/``: one-off comparisons, each with its records
beside it and its outcome in docs/results.md. ``results/``: the committed benchmark records of the
results table (``glue_lit benchmark --report --column ...``).
"""

import os
from pathlib import Path

import glue_lit  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads OpenMP)

REPO = Path(__file__).resolve().parents[1]


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the repository on ``PYTHONPATH``, so that a child
    started in another folder still runs ``python -m benchmarks....`` (the package is not installed)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env
