"""``python -m glue_lit export --ckpt_path CKPT --out DIR``: a checkpoint as a Hugging Face folder.

The folder holds the fine-tuned model (labels named from the task table) and the tokenizer it was
trained with, so ``transformers.pipeline("text-classification", model=DIR)`` loads it offline and
predicts what ``glue_lit predict`` does. Everything comes from the checkpoint itself: glue_lit
stores the model's config and the tokenizer's files there, so neither the Hub nor the base model
is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from glue_lit.errors import GlueLitError
from glue_lit.tasks import GlueTask, get_task

# Where GLUEDataModule.state_dict() lands in a Lightning checkpoint.
DATAMODULE_KEY = "GLUEDataModule"


def pack_tokenizer(tokenizer) -> dict[str, bytes]:
    """The files ``tokenizer.save_pretrained`` writes, by name (to keep inside a checkpoint)."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}


def load_checkpoint(path: Path) -> dict:
    """A glue_lit checkpoint, loaded without running any pickled code."""
    import torch

    if not path.is_file():
        raise GlueLitError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for files that are not checkpoints
        raise GlueLitError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or "task_name" not in ckpt.get("hyper_parameters", {}):
        raise GlueLitError(f"{path}: not a glue_lit checkpoint (no model hyperparameters with a task_name)")
    return ckpt


def _build_model(ckpt: dict, task: GlueTask, folder: Path):
    """The classifier with the checkpoint's weights, labelled from the task table."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    labels = {
        "id2label": task.id2label,
        "label2id": {name: i for i, name in task.id2label.items()},
        "problem_type": "regression" if task.is_regression else "single_label_classification",
    }
    if "hf_config" in ckpt:
        (folder / "config.json").write_text(ckpt["hf_config"], encoding="utf-8")
        config = AutoConfig.from_pretrained(folder, **labels)
        model = AutoModelForSequenceClassification.from_config(config)
    else:  # saved before glue_lit kept the config: rebuild it from the base model
        from glue_lit.hub import load_model

        name = ckpt["hyper_parameters"]["model_name_or_path"]
        model = load_model(name, num_labels=task.num_labels, ignore_mismatched_sizes=True, **labels)
    prefix = "model."
    weights = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise GlueLitError(
            f"checkpoint weights do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model


def _tokenizer(ckpt: dict, folder: Path):
    """The training tokenizer, truncating at the training ``max_length``."""
    from transformers import AutoTokenizer

    files = ckpt.get(DATAMODULE_KEY, {}).get("tokenizer_files")
    if files:
        for name, data in files.items():
            (folder / name).write_bytes(data)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    else:
        from glue_lit.hub import load_tokenizer

        tokenizer = load_tokenizer(ckpt["hyper_parameters"]["model_name_or_path"])
    max_length = ckpt.get("datamodule_hyper_parameters", {}).get("max_length")
    if max_length:
        # Inputs longer than this were truncated in training; `pipeline(..., truncation=True)` follows it.
        tokenizer.model_max_length = int(max_length)
    return tokenizer


def export(ckpt_path: Path, out: Path) -> Path:
    """Write the checkpoint at ``ckpt_path`` as a Hugging Face folder ``out`` (new or empty)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GlueLitError(f"{out} already exists and is not empty; choose a new --out folder")
    ckpt = load_checkpoint(ckpt_path)
    task = get_task(ckpt["hyper_parameters"]["task_name"])
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside `out` and renamed into place: a failed export leaves nothing half-written.
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result should be a normal folder
    try:
        with tempfile.TemporaryDirectory() as scratch:
            model = _build_model(ckpt, task, Path(scratch))
            tokenizer = _tokenizer(ckpt, Path(scratch))
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        info = {"task": task.name, "checkpoint": str(ckpt_path.resolve()),
                "max_length": tokenizer.model_max_length}
        (work / "glue_lit.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m glue_lit export",
        description="Write a glue_lit checkpoint as a Hugging Face folder (model + tokenizer) that "
        'transformers.pipeline("text-classification", model=OUT) loads offline.',
    )
    parser.add_argument("--ckpt_path", required=True, type=Path, help="checkpoint written by fit")
    parser.add_argument("--out", required=True, type=Path, help="new (or empty) output folder")
    args = parser.parse_args(argv)
    out = export(args.ckpt_path.expanduser(), args.out.expanduser())
    print(f"glue_lit: exported {args.ckpt_path} to {out}")
