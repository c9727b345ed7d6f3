"""Seeds as a user writes them: ``42,43,44``, a range ``42-46``, or both (``1,5-7``).

A bare number is one seed: ``3`` is seed 3, never "three seeds".
"""

from __future__ import annotations

import re

from glue_lit.errors import GlueLitError

_PART = re.compile(r"^(-?\d+)(?:-(-?\d+))?$")


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """``"42,43,44"`` or ``"42-44"`` -> [42, 43, 44] (in order, each once)."""
    seeds: list[int] = []
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    for part in parts:
        match = _PART.match(part)
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise GlueLitError(f"{flag} {text!r}: give seeds like 42,43,44 or a range like 42-46")
        first, last = int(match[1]), int(match[2] if match[2] is not None else match[1])
        seeds += range(first, last + 1)
    if not seeds:
        raise GlueLitError(f"{flag} {text!r}: give seeds like 42,43,44 or a range like 42-46")
    return list(dict.fromkeys(seeds))
