"""``version_N`` run folders claimed atomically, so runs started together never share one.

Lightning's loggers pick the next version by listing the folder: two commands started at the same
moment (a SLURM array, two terminals) both pick ``version_0``, and the second then fails on the
first one's ``config.yaml``. Here each run creates its folder with ``os.mkdir``, which fails for all
but one process; the others try the next number.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _number(name: str) -> int | None:
    head, _, tail = name.partition("_")
    return int(tail) if head == "version" and tail.isdigit() else None


def claim_version(root: Path) -> int:
    """Create ``root/version_N`` for the first free ``N`` after the highest one there; return ``N``."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [n for n in map(_number, os.listdir(root)) if n is not None]
    version = max(numbers, default=-1) + 1
    while True:
        try:
            (root / f"version_{version}").mkdir()
            return version
        except FileExistsError:
            version += 1


def claim_logger_versions(loggers) -> list[Path]:
    """Give each logger that would pick its version by listing its folder (TensorBoard, CSV: no
    ``version`` set) a freshly claimed ``version_N``; loggers sharing a folder share the version.
    Returns the folders claimed, then those created to hold them, deepest first."""
    claimed: dict[Path, int] = {}
    created: list[Path] = []
    for logger in loggers:
        root = getattr(logger, "root_dir", None)
        if getattr(logger, "_version", "") is not None or not isinstance(root, str) or "://" in root:
            continue  # a version set by the user (or already picked), or a logger without version folders
        root = Path(root)
        if root not in claimed:
            created += [root, *root.parents][: _missing(root)]
            claimed[root] = claim_version(root)
        logger._version = claimed[root]  # what the logger's own `version` property caches
    return [*(root / f"version_{n}" for root, n in claimed.items()), *created]


def _missing(path: Path) -> int:
    """How many of ``path`` and its parents do not exist yet."""
    return next((i for i, p in enumerate([path, *path.parents]) if p.exists()), len(path.parents) + 1)


def release(folders: list[Path]) -> None:
    """Remove claimed folders (and the ones made to hold them) that are still empty: the run failed
    before writing anything. Deepest first."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds on an empty folder: nothing written is lost
