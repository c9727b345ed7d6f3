"""A fine-tuned classifier's labels, lined up with the task's before its ids are trusted.

Label ids mean nothing across models: ``roberta-large-mnli`` orders its labels contradiction,
neutral, entailment while GLUE's MNLI orders them entailment, neutral, contradiction, so scoring its
ids as they are gives a wrong accuracy without any error. transformers loads the head as it is and
keeps no link between a head row and a name, so glue_lit lines them up by the names in the model's
config (case-insensitive):

- the task's names in the same order: the head is kept;
- the task's names in another order: the head is kept with its rows reordered to the task's order;
- other names (an MNLI model started on RTE): ``fit`` replaces the head; evaluating such a model
  without a glue_lit checkpoint is an error;
- no names (``LABEL_0``...) or no head at all: nothing to line up; a head of the right size is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from glue_lit.tasks import GlueTask

_GENERIC = re.compile(r"^LABEL_\d+$")


@dataclass(frozen=True)
class HeadPlan:
    """What to do with a loaded head: ``keep``, ``reorder`` (by ``order``) or ``replace``."""

    action: str
    order: tuple[int, ...] = ()
    message: str = ""


def plan_head(task: GlueTask, model_labels: dict[int, str] | None, model_name: str) -> HeadPlan:
    """Compare the model config's ``id2label`` with the task's label names."""
    names = [str(model_labels[i]) for i in sorted(model_labels or {})]
    if not names or all(_GENERIC.match(n) for n in names) or task.num_labels == 1:
        return HeadPlan("keep")
    wanted = [n.lower() for n in task.label_names]
    have = [n.lower() for n in names]
    if have == wanted:
        return HeadPlan("keep")
    if sorted(have) == sorted(wanted):
        order = tuple(have.index(n) for n in wanted)
        return HeadPlan("reorder", order, f"model {model_name!r} orders its labels {names}; its classifier "
                        f"rows are reordered to the {task.name} label ids {list(task.label_names)}")
    return HeadPlan("replace", (), f"model {model_name!r} was fine-tuned for labels {names}, not the "
                    f"{task.name} labels {list(task.label_names) or ['score']}")


def output_layer(model: nn.Module, num_labels: int) -> tuple[str, nn.Linear] | None:
    """The layer that outputs the logits: the last Linear with ``num_labels`` outputs."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == num_labels:
            found = (name, module)
    return found


def apply_plan(model: nn.Module, plan: HeadPlan, num_labels: int) -> None:
    """Reorder or re-initialise the output layer in place; ``keep`` changes nothing."""
    found = output_layer(model, num_labels)
    if plan.action == "keep" or found is None:
        return
    layer = found[1]
    with torch.no_grad():
        if plan.action == "reorder":
            index = torch.tensor(plan.order)
            layer.weight.copy_(layer.weight[index])
            if layer.bias is not None:
                layer.bias.copy_(layer.bias[index])
        else:  # replace: a fresh head, initialised as transformers initialises a new one
            model._init_weights(layer)
