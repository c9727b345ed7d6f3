"""glue_lit: fine-tune pretrained transformers on GLUE with PyTorch Lightning."""

import os

# OpenMP threads that spin-wait between ops fight any other busy process for the cores: on a
# shared 2-core CPU, MiniLM training steps ran 2.5x (one other job) to 6x (a loaded machine)
# faster with passive waiting. Set here, the one place every entry point (the command line, the
# benchmarks, a notebook's import) passes before torch loads OpenMP; an explicit value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from glue_lit.errors import GlueLitError  # noqa: E402
from glue_lit.tasks import TASKS, GlueTask, get_task  # noqa: E402

__all__ = ["GLUEDataModule", "GLUETransformer", "GlueLitError", "GlueTask", "TASKS", "get_task"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Torch-heavy classes load on first use, so `import glue_lit` and the task table stay cheap.
    if name == "GLUEDataModule":
        from glue_lit.data import GLUEDataModule

        return GLUEDataModule
    if name == "GLUETransformer":
        from glue_lit.model import GLUETransformer

        return GLUETransformer
    raise AttributeError(f"module 'glue_lit' has no attribute {name!r}")
