"""What a glue_lit checkpoint holds beyond Lightning's own: written and read in this module only.

Lightning saves the weights (``state_dict``), optimizer, LR scheduler, loop counters, the init
arguments of the model and of the data module (``hyper_parameters``,
``datamodule_hyper_parameters``) and the data module's ``state_dict()`` under its class name.
glue_lit adds:

- ``hf_config``: the model's Hugging Face config as JSON, so ``export`` rebuilds the model offline;
- ``rng_state``: torch's random state, so a resumed run draws the dropout masks of the killed one;
- ``adapter``: for a LoRA run (``--model.peft``), its options (``LoraOptions`` as a dict). Its
  ``state_dict`` then holds only what trains (adapter, head, pooler): the frozen weights are the base
  model's (``hyper_parameters.model_name_or_path``), loaded again with ``hf_config``;
- in the data module's state, ``train_loader`` (where the epoch stands, to resume at the next
  batch) and ``tokenizer_files`` (what ``save_pretrained`` writes, so ``export`` needs neither the
  Hub nor the base model).

Torch and transformers load on first use, so ``export --help`` stays quick.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from glue_lit.errors import GlueLitError
from glue_lit.tasks import GlueTask, get_task

# The data module's state holds the tokenizer files under this key. Lightning keeps the state under
# the data module's class __qualname__ (GLUEDataModule, or a user's subclass), so readers look for the
# entry that holds this key instead of spelling the class name.
TOKENIZER_FILES = "tokenizer_files"


def pack_tokenizer(tokenizer) -> dict[str, bytes]:
    """The files ``tokenizer.save_pretrained`` writes, by name (to keep inside a checkpoint)."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}


def rng_state() -> dict:
    """torch's CPU and CUDA random states: all that dropout draws from (the samplers seed their own)."""
    import torch

    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- writing (LightningModule.on_save_checkpoint, LightningDataModule.state_dict) -----------------


def add_model_state(checkpoint: dict, hf_config, adapter: dict | None = None,
                    trained: set[str] | None = None) -> None:
    """The model's part of a checkpoint being saved: its Hugging Face config and the random state;
    for an adapter run, its options, and of the weights only the ``trained`` ones (state-dict keys)."""
    checkpoint["hf_config"] = hf_config.to_json_string()
    checkpoint["rng_state"] = rng_state()
    if adapter is not None:
        checkpoint["adapter"] = adapter
        if "state_dict" in checkpoint:  # absent where a sharded strategy saves the weights itself
            # MiniLM with LoRA r=8 on query and value: 222 k trained of 22.7 M weights.
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trained}


def saved_rng_state(checkpoint: dict) -> dict | None:
    """The random state a checkpoint was saved with (``None`` if it has none)."""
    return checkpoint.get("rng_state")


def check_model_state(checkpoint: dict, adapter: dict | None, trained: set[str]) -> None:
    """Before Lightning loads a checkpoint's weights: it was saved by a model set up like this one
    (full fine-tuning, or LoRA with the same options) and holds every ``trained`` weight."""
    saved = checkpoint.get("adapter")
    if saved != adapter:
        def how(a: dict | None) -> str:
            return f"with LoRA {a}" if a else "for full fine-tuning"

        raise GlueLitError(f"the checkpoint was saved {how(saved)}, the model is set up {how(adapter)}; "
                           "give --model.peft as it was in that run")
    missing = sorted(trained - checkpoint["state_dict"].keys()) if "state_dict" in checkpoint else []
    if missing:
        raise GlueLitError(f"the checkpoint lacks {len(missing)} trained weights, e.g. {missing[0]}")


def datamodule_state(loader: dict | None, tokenizer_files: dict[str, bytes] | None) -> dict:
    """The data module's ``state_dict()``: the train loader's position and the packed tokenizer."""
    state = {}
    if loader is not None:
        state["train_loader"] = loader
    if tokenizer_files is not None:
        state[TOKENIZER_FILES] = tokenizer_files
    return state


def loader_position(datamodule_state: dict) -> dict | None:
    """The train loader's position in a data module state (``None``: not saved mid-run)."""
    return datamodule_state.get("train_loader")


# --- reading (export; a LoRA adapter's rebuild; the CLI's --ckpt_path) ----------------------------


@dataclass(frozen=True)
class GlueCheckpoint:
    """A glue_lit checkpoint file, read without running any pickled code.

    Args:
        path: the file.
        data: everything in it, as ``torch.load`` returns it.
    """

    path: Path
    data: dict

    @classmethod
    def read(cls, path: Path, mmap: bool = False) -> GlueCheckpoint:
        """Read ``path``; ``mmap``: tensors are read from the file when first used (a quick look at
        the hyperparameters of a large checkpoint). A file that is missing, cut short, corrupted or
        not a glue_lit checkpoint is a GlueLitError naming it."""
        import torch

        path = Path(path)
        if not path.is_file():
            raise GlueLitError(f"checkpoint not found: {path}")
        from glue_lit.checkpoint_file import unreadable  # Lightning loads with it: not at import

        why = unreadable(path)
        if why is None:
            try:
                data = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            except Exception as err:  # torch raises several types for files that are not checkpoints
                why = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        if why is not None:
            raise GlueLitError(f"{path}: not a readable checkpoint ({why})")
        hparams = data.get("hyper_parameters") if isinstance(data, dict) else None
        if not isinstance(hparams, dict) or not isinstance(hparams.get("task_name"), str):
            raise GlueLitError(
                f"{path}: not a glue_lit checkpoint (no model hyperparameters with a task_name)"
            )
        return cls(path, data)

    @property
    def global_step(self) -> int:
        """Optimizer steps the run had taken when it was saved."""
        return int(self.data.get("global_step") or 0)

    def check_task(self, task: GlueTask) -> None:
        """Refuse a checkpoint fine-tuned for another task, label set or problem type than ``task``
        (AX takes an MNLI checkpoint: its ``model_task``), naming both tasks."""
        trained = get_task(task.model_task or task.name)
        saved = self.saved_labels()
        if self.task_name == trained.name and saved in (None, (trained.problem_type, trained.id2label)):
            return

        def labels(id2label: dict) -> str:
            return ", ".join(str(v) for v in id2label.values())

        what = f"a {self.task_name} checkpoint"
        if saved is not None:
            what += f" ({saved[0]}, labels: {labels(saved[1])})"
        raise GlueLitError(
            f"{self.path} is {what}; {task.name} needs a checkpoint fine-tuned on {trained.name} "
            f"({trained.problem_type}, labels: {labels(trained.id2label)}): give that, or "
            f"--data.task_name {self.task_name}"
        )

    def saved_labels(self) -> tuple[str, dict[int, str]] | None:
        """(problem type, id2label) of the saved Hugging Face config; None for checkpoints without
        one."""
        import json

        try:
            config = json.loads(self.data["hf_config"])
            id2label = {int(k): v for k, v in config["id2label"].items()}
            return config.get("problem_type") or "", id2label
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    @property
    def task_name(self) -> str:
        return self.data["hyper_parameters"]["task_name"]

    @property
    def model_name_or_path(self) -> str:
        """The base model the run started from."""
        return self.data["hyper_parameters"]["model_name_or_path"]

    @property
    def max_length(self) -> int | None:
        """The data module's ``max_length``: inputs were truncated to it in training."""
        value = self.data.get("datamodule_hyper_parameters", {}).get("max_length")
        return int(value) if value else None

    @property
    def adapter(self) -> dict | None:
        """The LoRA options of an adapter checkpoint (its weights: only what trained); ``None``: all."""
        return self.data.get("adapter")

    @property
    def model_weights(self) -> dict:
        """The transformers model's weights, named as in the model itself (no ``model.`` prefix)."""
        prefix = "model."
        return {k[len(prefix):]: v for k, v in self.data["state_dict"].items() if k.startswith(prefix)}

    def hf_config(self, **overrides):
        """The saved Hugging Face config with ``overrides``; ``None`` for checkpoints saved before
        glue_lit kept it."""
        if "hf_config" not in self.data:
            return None
        from transformers import AutoConfig

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "config.json").write_text(self.data["hf_config"], encoding="utf-8")
            return AutoConfig.from_pretrained(tmp, **overrides)

    def tokenizer(self):
        """The tokenizer the run trained with; ``None`` for checkpoints saved before glue_lit kept it."""
        states = [v for v in self.data.values() if isinstance(v, dict) and TOKENIZER_FILES in v]
        files = states[0][TOKENIZER_FILES] if states else None
        if not files:
            return None
        from transformers import AutoTokenizer

        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                (Path(tmp) / name).write_bytes(content)
            return AutoTokenizer.from_pretrained(tmp)
