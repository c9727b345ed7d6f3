"""glue_lit: fine-tune pretrained transformers on GLUE with PyTorch Lightning."""

from glue_lit.errors import GlueLitError
from glue_lit.tasks import TASKS, GlueTask, get_task

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
