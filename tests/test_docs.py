"""README.md and docs/*.md: every link, image, repository path and command-line option they show exists.

Parsing only, no training: each subcommand's parser is built in this process (as `python -m glue_lit
<subcommand>` builds it) and stopped before it parses anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import shlex
import typing
from functools import cache
from pathlib import Path

import jsonargparse
import pytest
from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
IDS = [str(p.relative_to(REPO)) for p in PAGES]

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]^]*\]\(([^)\s]+)\)")
# A repository path as text shows it: not part of a longer path (runs/glue_lit/... is an output).
REPO_PATH = re.compile(r"(?<![\w/.~-])((?:configs|glue_lit|benchmarks|tests|notebooks)/[\w./*-]*)")
COMMAND = re.compile(r"-m glue_lit\s+([^`\n]*)")
SCRIPT = re.compile(r"-m (benchmarks(?:\.\w+)+)([^`\n]*)")
# An option named in prose or a table, as `--data.group_by_length`: dotted names are glue_lit's CLI's.
CODE_SPAN = re.compile(r"`([^`\n]+)`")
DOTTED_OPTION = re.compile(r"(?<![\w-])(--[a-z_]+(?:\.[a-z_0-9]+)+)(?![\w.])")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            n = seen.get(base, 0)
            seen[base] = n + 1
    return {f"{base}-{i}" if i else base for base, n in seen.items() for i in range(n)}


def broken_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans hold no links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            shown = file.relative_to(REPO) if file.is_relative_to(REPO) else file
            broken.append(f"{target}: no file {shown}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(REPO)}")
    return broken


def missing_paths(page: Path) -> list[str]:
    missing = []
    for path in sorted(set(REPO_PATH.findall(page.read_text(encoding="utf-8")))):
        path = path.rstrip(".")
        if "*" in path:
            if not list(REPO.glob(path)):
                missing.append(f"{path}: matches nothing")
        elif not (REPO / path).exists():
            missing.append(f"{path}: does not exist")
    return missing


# --- the parsers ------------------------------------------------------------------------------------

class _Built(Exception):
    def __init__(self, parser, known_only: bool):
        super().__init__()
        self.parser, self.known_only = parser, known_only


def _stop(known_only: bool):
    def parse(self, *args, **kwargs):
        raise _Built(self, known_only)
    return parse


@cache
def parser_of(subcommand: str) -> tuple[object, bool]:
    """The parser `python -m glue_lit SUBCOMMAND` parses with, and whether it passes options it does
    not know on to fit's parser (benchmark does)."""
    import importlib

    from glue_lit.__main__ import COMMANDS

    target = COMMANDS[subcommand][0]
    patches = pytest.MonkeyPatch()
    for cls in (argparse.ArgumentParser, jsonargparse.ArgumentParser):
        patches.setattr(cls, "parse_args", _stop(False))
        patches.setattr(cls, "parse_known_args", _stop(True))
    try:
        if target == "glue_lit.cli":
            from glue_lit.cli import cli_main

            cli_main([subcommand])
        else:
            module, func = target.split(":")
            getattr(importlib.import_module(module), func)([])
    except _Built as built:
        parser, known_only = built.parser, built.known_only
    finally:
        patches.undo()
    if target == "glue_lit.cli":  # the LightningCLI parser: its subcommand's parser
        parser = parser._subcommands_action._name_parser_map[subcommand]
    return parser, known_only


def _nested_key_exists(typehint, keys: list[str]) -> bool:
    """Whether ``--group.a.b`` names a field of the group's type: a dataclass (LoraOptions) by its
    fields, a class given by class_path (a logger, a callback) by init_args."""
    for candidate in typing.get_args(typehint) or (typehint,):
        if dataclasses.is_dataclass(candidate):
            fields = {f.name: f.type for f in dataclasses.fields(candidate)}
            if keys[0] in fields and (len(keys) == 1 or _nested_key_exists(fields[keys[0]], keys[1:])):
                return True
        elif inspect.isclass(candidate) and keys[0] in ("init_args", "class_path", "dict_kwargs"):
            return True
    return False


def accepts(parser, option: str) -> bool:
    name = option.split("=", 1)[0]
    actions = parser._option_string_actions
    if name in actions:
        return True
    parts = name[2:].split(".")
    if parts[:2] == ["tune", "space"] and len(parts) > 2:  # a space key names a fit option
        return accepts(parser_of("fit")[0], "--" + ".".join(parts[2:]))
    for i in range(len(parts) - 1, 0, -1):
        action = actions.get("--" + ".".join(parts[:i]))
        if action is not None:
            return _nested_key_exists(getattr(action, "_typehint", None), parts[i:])
    return False


def commands(page: Path) -> list[list[str]]:
    """Every `python -m glue_lit SUBCOMMAND ...` the page shows, continuation lines joined."""
    text = page.read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for rest in COMMAND.findall(text):
        try:
            found.append(shlex.split(rest, comments=True))
        except ValueError:  # an unbalanced quote: the command's own text is not valid shell
            found.append(["<unparsable>", rest])
    return found


def rejected_options(page: Path) -> list[str]:
    from glue_lit.__main__ import COMMANDS

    rejected = []
    for argv in commands(page):
        if not argv or argv[0].startswith(("-", "<")):  # `glue_lit --help`, `glue_lit <subcommand>`
            continue
        subcommand, *args = argv
        if subcommand not in COMMANDS:
            rejected.append(f"glue_lit {' '.join(argv)}: no subcommand {subcommand!r}")
            continue
        parser, passes_on = parser_of(subcommand)
        for arg in args:
            if not arg.startswith("--"):
                continue
            if not (accepts(parser, arg) or passes_on and accepts(parser_of("fit")[0], arg)):
                rejected.append(f"glue_lit {subcommand}: {arg.split('=', 1)[0]} is not one of its options")
    return rejected


def unknown_prose_options(page: Path) -> list[str]:
    """Dotted options the page names outside commands that no glue_lit subcommand accepts."""
    from glue_lit.__main__ import COMMANDS

    parsers = [parser_of(name)[0] for name in COMMANDS if name != "clear-cache"]
    return [f"{option}: no glue_lit subcommand has this option"
            for option in sorted(prose_options(page))
            if not any(accepts(parser, option) for parser in parsers)]


def prose_options(page: Path) -> set[str]:
    """Dotted options in the page's code spans, outside `python -m glue_lit ...` commands."""
    text = re.sub(r"-m glue_lit\s+[^`\n]*", "", FENCE.sub("", page.read_text(encoding="utf-8")))
    return {option for span in CODE_SPAN.findall(text) for option in DOTTED_OPTION.findall(span)}


@cache
def script_parser(module: str):
    """The argparse parser of ``python -m benchmarks.X``, built by its ``main`` and stopped there, and
    whether it passes options it does not know on to fit's parser."""
    import importlib
    import sys

    patches = pytest.MonkeyPatch()
    patches.setattr(argparse.ArgumentParser, "parse_args", _stop(False))
    patches.setattr(argparse.ArgumentParser, "parse_known_args", _stop(True))
    patches.setattr(sys, "argv", [module])
    main = importlib.import_module(module).main
    try:
        main(*([[]] if inspect.signature(main).parameters else []))
    except _Built as built:
        return built.parser, built.known_only
    finally:
        patches.undo()
    raise AssertionError(f"{module}.main parsed no arguments")


def rejected_script_options(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8").replace("\\\n", " ")
    rejected = []
    for module, rest in SCRIPT.findall(text):
        parser, passes_on = script_parser(module)
        for arg in shlex.split(rest, comments=True):
            if not arg.startswith("--") or arg.split("=", 1)[0] in parser._option_string_actions:
                continue
            if not (passes_on and accepts(parser_of("fit")[0], arg)):
                rejected.append(f"{module}: {arg.split('=', 1)[0]} is not one of its options")
    return rejected


# --- the tests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_links_and_images_resolve(page):
    problems = broken_links(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_repository_paths_exist(page):
    problems = missing_paths(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_command_options_are_accepted(page):
    problems = rejected_options(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_benchmark_script_options_are_accepted(page):
    problems = rejected_script_options(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_options_named_in_the_text_exist(page):
    problems = unknown_prose_options(page)
    assert not problems, "\n".join(problems)


def test_the_checks_see_what_they_check():
    # The pages show commands of every kind checked here, nested options included, and the check
    # rejects what a parser would.
    shown = [argv for page in PAGES for argv in commands(page)]
    assert {a[0] for a in shown} >= {"fit", "validate", "predict", "export", "tune", "benchmark"}
    fit = parser_of("fit")[0]
    assert accepts(fit, "--model.peft.r") and accepts(fit, "--trainer.callbacks+=x.Y")
    assert accepts(fit, "--trainer.logger.init_args.save_dir") and accepts(fit, "--print_config")
    assert not accepts(fit, "--model.peft.rank") and not accepts(fit, "--model.learning_rat")
    assert not accepts(parser_of("export")[0], "--ckpt")
    assert accepts(parser_of("tune")[0], "--tune.n_trials")
    assert anchors(REPO / "docs" / "results.md") >= {"sts-b-regression-head-bias-at-0", "wnli"}
    named = set().union(*(prose_options(page) for page in PAGES))
    assert {"--data.group_by_length", "--model.fused_adamw", "--tune.seeds"} <= named
    assert accepts(parser_of("tune")[0], "--tune.space.trainer.max_epochs")
    scripts = {module for page in PAGES for module, _ in SCRIPT.findall(page.read_text(encoding="utf-8"))}
    assert {"benchmarks.tools.throughput", "benchmarks.serving", "benchmarks.experiments.lora_vs_full"} \
        <= scripts
    assert "--omp_wait_policy" in script_parser("benchmarks.tools.throughput")[0]._option_string_actions
    assert not accepts(parser_of("tune")[0], "--tune.space.trainer.max_epoch")


def test_readme_test_command_is_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text()
    assert "export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1" in ci and "\npython -m pytest -q tests\n" in ci
    readme = (REPO / "README.md").read_text()
    command = ". .venv/bin/activate && HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 python -m pytest -q tests"
    assert command in readme
