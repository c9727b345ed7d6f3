"""``python -m glue_lit export --ckpt_path CKPT --out DIR``: a checkpoint as a Hugging Face folder.

The folder holds the fine-tuned model (labels named from the task table) and the tokenizer it was
trained with, so ``transformers.pipeline("text-classification", model=DIR)`` loads it offline and
predicts what ``glue_lit predict`` does. Everything comes from the checkpoint itself (see
``checkpoint.py``): neither the Hub nor the base model is needed.

A LoRA checkpoint (``--model.peft``) holds only what trained: its frozen weights come from the base
model again. By default its adapter is merged into them (``merge_and_unload``), so the folder is a
plain transformers model that loads without peft; ``--adapter`` writes the peft adapter folder
instead (``PeftModel.from_pretrained(base model, OUT)``, head and pooler included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from glue_lit.checkpoint import GlueCheckpoint
from glue_lit.errors import GlueLitError
from glue_lit.tasks import get_task


def export(ckpt_path: Path, out: Path, adapter: bool = False, task_name: str | None = None) -> Path:
    """Write the checkpoint at ``ckpt_path`` as a Hugging Face folder ``out`` (new or empty); with
    ``adapter``, a LoRA checkpoint's peft adapter folder instead of the merged model; with
    ``task_name``, only if the checkpoint was fine-tuned for that task."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GlueLitError(f"{out} already exists and is not empty; choose a new --out folder")
    ckpt = GlueCheckpoint.read(ckpt_path)
    if task_name is not None:
        ckpt.check_task(get_task(task_name))
    if adapter and ckpt.adapter is None:
        raise GlueLitError(f"{ckpt_path} is a full fine-tuning checkpoint: it has no adapter; export it "
                           "without --adapter")
    task = get_task(ckpt.task_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside `out` and renamed into place: a failed export leaves nothing half-written.
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result should be a normal folder
    try:
        from glue_lit.inference import model_from_checkpoint  # torch: not for `export --help`

        model, tokenizer = model_from_checkpoint(ckpt, task, merge=not adapter)
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        info = {"task": task.name, "checkpoint": str(ckpt_path.resolve()),
                "max_length": tokenizer.model_max_length}
        if ckpt.adapter is not None:
            info.update(base_model=ckpt.model_name_or_path, lora=ckpt.adapter, merged=not adapter)
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
    parser.add_argument("--adapter", action="store_true",
                        help="LoRA checkpoints: write the peft adapter folder (PeftModel.from_pretrained on "
                        "the base model) instead of the model with the adapter merged in")
    parser.add_argument("--data.task_name", dest="task_name", default=None,
                        help="refuse the checkpoint unless it was fine-tuned for this task")
    parser.add_argument("--format", choices=("transformers", "onnx"), default="transformers",
                        help="onnx: model.onnx run by onnxruntime, with config.json and the tokenizer "
                        "(see docs/serving.md); --ckpt_path may then also be a folder written by export")
    parser.add_argument("--quantize", choices=("int8",), default=None,
                        help="with --format onnx: int8 weights (dynamic quantization), 4x smaller")
    parser.add_argument("--task", default=None,
                        help="with --format onnx from a folder not written by glue_lit: its GLUE task")
    args = parser.parse_args(argv)
    if args.quantize and args.format != "onnx":
        raise GlueLitError("--quantize needs --format onnx")
    if args.format == "onnx":
        if args.adapter:
            raise GlueLitError("--adapter writes a peft folder; --format onnx exports the merged model")
        from glue_lit.onnx_export import export_onnx

        out = export_onnx(args.ckpt_path.expanduser(), args.out.expanduser(), args.quantize, args.task)
        print(f"glue_lit: exported {args.ckpt_path} to {out} (ONNX {args.quantize or 'fp32'})")
        return
    out = export(args.ckpt_path.expanduser(), args.out.expanduser(), args.adapter, args.task_name)
    print(f"glue_lit: exported {args.ckpt_path} to {out}")
