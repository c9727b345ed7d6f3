"""LoRA adapters through peft: the options (``--model.peft``), wrapping a classifier, and rebuilding one.

With ``--model.peft`` the transformers classifier is wrapped by ``peft.get_peft_model``: its weights
are frozen, low-rank matrices are added to the ``target_modules`` and trained, and the classifier
head (every child of the model beside the encoder, e.g. BERT's ``classifier``, DistilBERT's
``pre_classifier`` and ``classifier``) and the encoder's pooler are trained in full as peft's
``modules_to_save``, so they are saved with the adapter (peft issues #310 and #577: a head left out
of ``modules_to_save`` comes back random). Checkpoints then hold only those weights; the frozen ones
are loaded again from the base model (see checkpoint.py).

peft and torch load on first use, so ``--help`` and ``export --help`` stay quick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from jsonargparse.typing import PositiveFloat, PositiveInt, restricted_number_type

from glue_lit.errors import GlueLitError

if TYPE_CHECKING:
    from torch import nn

    from glue_lit.checkpoint import GlueCheckpoint
    from glue_lit.tasks import GlueTask


DropoutRate = restricted_number_type("DropoutRate", float, [(">=", 0.0), ("<", 1.0)])


@dataclass(frozen=True)
class LoraOptions:
    """LoRA adapter through peft: only low-rank updates of some layers, and the head, train.

    Turned on by any of its options: --model.peft.r 8, or --model.peft '{r: 8, target_modules:
    all-linear}', or --model.peft '{}' for the defaults.

    Args:
        r: Rank of the update matrices.
        alpha: Updates are scaled by alpha / r (r 8, alpha 16: microsoft/LoRA's RoBERTa-base GLUE
            scripts).
        dropout: Dropout on the adapter's input (0.1 made a MiniLM training step 6% slower).
        target_modules: Layers that get an adapter, by name or name ending (query matches
            encoder.layer.0.attention.self.query), or all-linear for every Linear layer but the head.
            null: the attention query and value layers under the architecture's own names (BERT,
            RoBERTa, MiniLM, ELECTRA: [query, value]; DistilBERT: [q_lin, v_lin]); checkpoints
            record the names used.
    """

    r: PositiveInt = 8
    alpha: PositiveFloat = 16.0
    dropout: DropoutRate = 0.0
    target_modules: list[str] | Literal["all-linear"] | None = None

    @classmethod
    def of(cls, value: LoraOptions | dict | None) -> LoraOptions | None:
        """``value`` as options: checkpoints and ``load_from_checkpoint`` hold them as a dict."""
        return cls(**value) if isinstance(value, dict) else value

    def as_dict(self) -> dict:
        """Plain values, for hyperparameters and checkpoints that load with ``weights_only=True``."""
        # jsonargparse hands over its own int and float subclasses (PositiveInt), which
        # torch.load(weights_only=True) refuses.
        targets = self.target_modules
        return {"r": int(self.r), "alpha": float(self.alpha), "dropout": float(self.dropout),
                "target_modules": [str(t) for t in targets] if isinstance(targets, list) else targets}


def head_modules(model: nn.Module) -> list[str]:
    """What trains in full beside the adapter: every child of the classifier holding weights except
    the encoder itself (the head), and the encoder's pooler where it has one."""
    prefix = getattr(model, "base_model_prefix", "")
    encoder = getattr(model, prefix, None) if prefix else None
    if encoder is None:
        raise GlueLitError(f"peft cannot tell the head of {type(model).__name__} from its encoder "
                           "(no base_model_prefix); use full fine-tuning (no --model.peft)")
    names = [n for n, m in model.named_children() if m is not encoder and _has_weights(m)]
    pooler = getattr(encoder, "pooler", None)
    if pooler is not None and _has_weights(pooler):
        names.append(f"{prefix}.pooler")
    return names


def _has_weights(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def linear_layers(model: nn.Module, skip: list[str] = ()) -> list[str]:
    """Distinct names of the Linear layers outside ``skip``, from the layer index on
    (``encoder.layer.3.attention.self.query`` -> ``attention.self.query``): valid target names."""
    from torch import nn

    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not any(name == s or name.startswith(f"{s}.") for s in skip):
            found.append(re.split(r"(?:^|\.)\d+\.", name)[-1])
    return list(dict.fromkeys(found))


# peft's table of default LoRA targets per model type lacks DistilBERT (peft 0.21).
EXTRA_DEFAULT_TARGETS = {"distilbert": ["q_lin", "v_lin"]}


def with_default_targets(options: LoraOptions, model: nn.Module, model_name: str) -> LoraOptions:
    """``options`` with ``target_modules`` set: when null, the query and value layers of ``model``'s
    architecture as peft's own table names them."""
    if options.target_modules is not None:
        return options
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    kind = getattr(getattr(model, "config", None), "model_type", None)
    targets = PEFT_DEFAULTS.get(kind) or EXTRA_DEFAULT_TARGETS.get(kind)
    if not targets:
        layers = ", ".join(linear_layers(model, head_modules(model)))
        raise GlueLitError(f"--model.peft of model {model_name!r}: no default LoRA layers for model type "
                           f"{kind!r}; name them with --model.peft.target_modules (its Linear layers: "
                           f"{layers})")
    return replace(options, target_modules=list(targets))


def add_lora(model: nn.Module, options: LoraOptions, model_name: str):
    """``model`` wrapped by ``peft.get_peft_model`` for ``options`` (``target_modules`` set, see
    ``with_default_targets``); the head trains in full."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise GlueLitError("--model.peft needs the peft library: pip install 'glue_lit[lora]'") from None

    heads = head_modules(model)
    have = f"its Linear layers: {', '.join(linear_layers(model, heads))}"
    options = with_default_targets(options, model, model_name)
    targets = options.target_modules
    problems = [] if targets == "all-linear" else _target_problems(model, targets, heads)
    if problems:
        raise GlueLitError(f"--model.peft.target_modules of model {model_name!r}: {'; '.join(problems)}; "
                           f"{have}")
    config = LoraConfig(
        task_type="SEQ_CLS", r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
        target_modules=targets if targets == "all-linear" else list(targets), modules_to_save=heads,
    )
    try:
        return get_peft_model(model, config)
    except (ValueError, TypeError, NotImplementedError) as err:
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise GlueLitError(f"peft cannot add LoRA to {targets} of model {model_name!r}: {reason}; "
                           f"{have}") from None


def _target_problems(model: nn.Module, targets: list[str], heads: list[str]) -> list[str]:
    """Why some ``targets`` cannot get an adapter (peft matches a name or a name ending)."""
    from torch import nn

    unknown, problems = [], []
    for target in targets:
        hits = [(n, m) for n, m in model.named_modules() if n == target or n.endswith(f".{target}")]
        body = [m for n, m in hits if not any(n == h or n.startswith(f"{h}.") for h in heads)]
        if not hits:
            unknown.append(repr(target))
        elif not body:
            problems.append(f"{target!r} is in the head, which trains in full anyway")
        # The layer types peft's LoRA adapts (transformers' Conv1D: GPT-2).
        elif not any(isinstance(m, (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d))
                     or type(m).__name__ == "Conv1D" for m in body):
            problems.append(f"{target!r} is a {type(body[0]).__name__}, not a Linear, Embedding or Conv")
    return ([f"no layer {', '.join(unknown)}"] if unknown else []) + problems


def trained_parameters(module: nn.Module) -> set[str]:
    """Names of the parameters that train (the adapter, the head and the pooler)."""
    return {name for name, p in module.named_parameters() if p.requires_grad}


def rebuild(ckpt: GlueCheckpoint, task: GlueTask):
    """The ``PeftModel`` of an adapter checkpoint: the base model again, wrapped, its trained weights
    loaded from the checkpoint."""
    from glue_lit.hub import load_model

    labels = {"id2label": task.id2label, "label2id": task.label2id, "problem_type": task.problem_type}
    config = ckpt.hf_config(**labels)
    extra = {"config": config} if config is not None else {"num_labels": task.num_labels, **labels}
    base = load_model(ckpt.model_name_or_path, ignore_mismatched_sizes=True, **extra)
    model = add_lora(base, LoraOptions.of(ckpt.adapter), ckpt.model_name_or_path)
    weights = ckpt.model_weights
    missing, unexpected = model.load_state_dict(weights, strict=False)
    untrained = sorted(trained_parameters(model) - set(weights))
    if unexpected or untrained:
        raise GlueLitError(f"{ckpt.path}: adapter weights do not fit {ckpt.model_name_or_path!r} with "
                           f"LoRA {ckpt.adapter}: missing {untrained[:3]}, unexpected {unexpected[:3]}")
    return model.eval()
