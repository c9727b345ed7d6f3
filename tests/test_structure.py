"""The package's shape: small modules, and imports that run one way (no module imports, directly or
through others, a module that imports it back)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "glue_lit"
MAX_LINES = 250


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the glue_lit modules it imports anywhere (at the top, in a function, for typing)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1],
                                     *([base] if base else [])])
                # `from package import module` imports the module; `from module import name` the module.
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circle_among_the_package_s_modules():
    graph = import_graph()
    assert graph["glue_lit.benchmark.command"] >= {"glue_lit.benchmark.plan", "glue_lit.seeds"}
    assert cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_no_module_is_over_250_lines():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_code_edits_the_import_path():
    # benchmarks/ is a package run with `python -m benchmarks....`; glue_lit is installed.
    files = [p for folder in ("glue_lit", "benchmarks") for p in (REPO / folder).rglob("*.py")]
    edits = [f"{p.relative_to(REPO)}:{i}" for p in files
             for i, line in enumerate(p.read_text().splitlines(), 1) if "sys.path" in line]
    assert edits == []


CONFIG_PATH = re.compile(r"""configs/[\w/.-]+\.yaml|"configs" / "[\w.-]+\.yaml\"""")


def test_every_config_the_code_names_exists():
    """A renamed config breaks a script or a help text only where it runs; read every mention instead."""
    missing = []
    benchmarks = REPO / "benchmarks"
    for path in [*PACKAGE.rglob("*.py"), *benchmarks.rglob("*.py"), *benchmarks.rglob("*.sh")]:
        for found in CONFIG_PATH.findall(path.read_text()):
            name = found.replace('"', "").replace(" / ", "/")
            if not (REPO / name).exists():
                missing.append(f"{path.relative_to(REPO)}: {name}")
    assert not missing, missing
