"""``python -m glue_lit <subcommand>``.

fit / validate / test / predict go to the Lightning CLI; the other subcommands to their modules.
A GlueLitError (bad input a user can fix) prints as one line and exits with status 2.
"""

from __future__ import annotations

import importlib
import os
import sys

from glue_lit.errors import GlueLitError

# OpenMP threads that spin-wait between ops fight any other busy process for the cores: on a
# shared 2-core CPU, MiniLM training steps ran 2.5x (one other job) to 6x (a loaded machine)
# faster with passive waiting. It must be set before torch loads OpenMP; an explicit value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# subcommand -> "module:function" taking the remaining arguments.
COMMANDS: dict[str, str] = {
    "export": "glue_lit.export:main",
    "benchmark": "glue_lit.benchmark:main",
    "tune": "glue_lit.tune:main",
    "clear-cache": "glue_lit.cache:main",
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in COMMANDS:
            module, func = COMMANDS[args[0]].split(":")
            getattr(importlib.import_module(module), func)(args[1:])
        else:
            from glue_lit.cli import cli_main

            cli_main(argv)  # None: LightningCLI reads sys.argv itself
    except GlueLitError as err:
        print(f"glue_lit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
