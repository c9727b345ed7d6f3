"""``glue_lit <subcommand>`` (``python -m glue_lit``, or the ``glue-lit`` script).

This parser only names the subcommands; each one's options and ``--help`` come from its own parser,
built when that subcommand is asked for, so that ``glue_lit --help``, ``export`` and ``clear-cache``
never import Lightning (3.8 s). A GlueLitError (bad input a user can fix) prints as one line and
exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from glue_lit.errors import GlueLitError

# subcommand -> ("module:function" taking the arguments after it, what it does in one line).
# fit, validate, test and predict are the LightningCLI's own subcommands (glue_lit/cli.py).
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("glue_lit.cli", "Fine-tune a model on a GLUE task or your own files"),
    "validate": ("glue_lit.cli", "Score a checkpoint on the dev set"),
    "test": ("glue_lit.cli", "Score a checkpoint on a labelled test set of your own"),
    "predict": ("glue_lit.cli", "Write GLUE submission files (or your file with predictions)"),
    "tune": ("glue_lit.tune:main", "Search hyper-parameters with a resumable, pruned Optuna study"),
    "benchmark": ("glue_lit.benchmark:main", "Fit many tasks over seeds and tabulate the dev results"),
    "export": ("glue_lit.export:main", "Write a checkpoint as a transformers or ONNX (fp32, int8) folder"),
    "serve": ("glue_lit.serve:main", "Serve a checkpoint or exported model over HTTP (LitServe)"),
    "clear-cache": ("glue_lit.cache:main", "Delete the tokenization cache"),
}


def parser() -> argparse.ArgumentParser:
    from glue_lit import __version__

    top = argparse.ArgumentParser(
        prog="glue_lit",
        description="Fine-tune pretrained transformers on the GLUE benchmark with PyTorch Lightning.",
        epilog="glue_lit <subcommand> --help lists the options of a subcommand.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=20),
    )
    top.add_argument("--version", action="version", version=f"glue_lit {__version__}")
    commands = top.add_subparsers(title="subcommands", metavar="<subcommand>", required=True)
    for name, (_, about) in COMMANDS.items():
        commands.add_parser(name, help=about, add_help=False)
    return top


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        target = COMMANDS[args[0]][0] if args and args[0] in COMMANDS else None
        if target == "glue_lit.cli":
            from glue_lit.cli import cli_main

            # None: LightningCLI reads sys.argv itself. Each subcommand's help starts with its line here.
            cli_main(argv, **{name: {"description": COMMANDS[name][1]}
                              for name, (module, _) in COMMANDS.items() if module == target})
        elif target:
            module, func = target.split(":")
            getattr(importlib.import_module(module), func)(args[1:])
        else:
            parser().parse_args(args)  # --help, --version, or an error that lists the subcommands
    except GlueLitError as err:
        print(f"glue_lit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
