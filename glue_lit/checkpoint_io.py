"""Checkpoint files written whole or not at all, and read back or reported as one error line.

Lightning's ``TorchCheckpointIO`` serializes to memory and then writes the file under its final name:
a kill or a full disk during that write leaves a half ``last.ckpt`` where the previous whole one was,
and loading it fails deep inside torch's zip reader. :class:`AtomicCheckpointIO` writes to a hidden
temporary name in the same folder, flushes it to disk and renames it over the old file
(``os.replace``, atomic on POSIX and Windows), so the name always holds a whole checkpoint.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from glue_lit.checkpoint_file import unreadable
from glue_lit.errors import GlueLitError


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose writes are atomic and whose unreadable files are a GlueLitError."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if "://" in str(path):  # remote storage (s3://, gs://): its own write semantics
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Hidden and not *.ckpt: neither `--ckpt_path last` nor a checkpoint glob ever picks it up.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())  # on disk before the rename: a power cut leaves the old file
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def load_checkpoint(
        self, path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        kwargs = {} if map_location is None else {"map_location": map_location}
        local = "://" not in str(path)
        why = unreadable(Path(path)) if local and Path(path).is_file() else None
        if why is None:
            try:
                return super().load_checkpoint(path, weights_only=weights_only, **kwargs)
            except FileNotFoundError:
                raise GlueLitError(f"checkpoint not found: {path}") from None
            except (RuntimeError, EOFError, ValueError, OSError) as err:
                if not local:
                    raise
                why = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        raise GlueLitError(f"{path}: not a readable checkpoint ({why})")
