"""Values the CLI derives from the task name: the monitored metric and its mode."""

from __future__ import annotations

from glue_lit.errors import GlueLitError
from glue_lit.tasks import GlueTask, get_task


def _known_task(task_name: str) -> GlueTask | None:
    # An unknown name is reported by the model and data module constructors as one clean line;
    # an error raised inside a link would come out wrapped in the whole usage text.
    try:
        return get_task(task_name)
    except GlueLitError:
        return None


def monitor_of(task_name: str) -> str | None:
    task = _known_task(task_name)
    return (task.monitor_key or None) if task else None


def mode_of(task_name: str) -> str:
    task = _known_task(task_name)
    return task.monitor_mode if task else "max"
