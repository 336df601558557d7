"""The package layout holds: no import loops between azr's modules, and the verifier wing is torch-free.

The import graph is read from the source (every ``import`` of an azr module, at any depth: inside
functions and ``TYPE_CHECKING`` blocks too), so a deferred import cannot hide a loop or a dependency
the wrong way; the torch check also imports the wing in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import azr

PACKAGE = Path(azr.__file__).parent
# The torch-free part: what `pip install azr` promises to run without the `train` extra.
LIGHT_PREFIXES = ("azr.verify", "azr.integrations", "azr.evaluation", "azr.chat", "azr.sandbox", "azr.jsonl")
HEAVY = ("torch", "transformers", "peft", "vllm")
TRAINING = ("azr.selfplay", "azr.models", "azr.runs", "azr.sampling")
LIGHT_HELPERS = {"azr.sampling", "azr.sampling.base", "azr.runs", "azr.runs.progress"}
"""Torch-free modules inside training packages that the light wing may use: the sampler interface and the
progress display (``azr eval`` shows one), and their packages' ``__init__`` files, which import nothing."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


EXTENSION = "azr._core"  # the compiled core: imports nothing of azr


def imports_of(path: Path, name: str, known: set[str], *, packages: bool = False) -> set[str]:
    """The azr modules ``path`` imports (resolved to modules, not names within them) and the other
    top-level packages it names. With ``packages``, a module's own package too: importing ``a.b.c`` runs
    ``a/b/__init__`` first (what a module reaches; not a loop when that ``__init__`` re-exports it)."""
    found: set[str] = set()
    parent = name.rpartition(".")[0]
    if packages and parent and parent != "azr" and path.name != "__init__.py":
        found.add(parent)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found


def graph(*, packages: bool = False) -> dict[str, set[str]]:
    known = set(modules()) | {EXTENSION}
    return {name: imports_of(path, name, known, packages=packages) for name, path in modules().items()}


def test_no_import_loops() -> None:
    g = graph()
    edges = {m: {d for d in deps if d in g and d != m} for m, deps in g.items()}
    # Depth-first search for a cycle, reporting it as a path a reader can follow.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycles.append([*stack[stack.index(d) :], d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import loops: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_verifier_wing_names_nothing_heavy() -> None:
    g = graph(packages=True)
    known = set(g)
    light = [m for m in g if m.startswith(LIGHT_PREFIXES)]
    assert "azr.verify.grading" in light and "azr.integrations.trl" in light
    # Everything a light module can reach, following azr's own imports at any depth.
    problems = []
    for start in light:
        seen, todo = {start}, [start]
        while todo:
            m = todo.pop()
            for d in g[m]:
                if d.split(".")[0] in HEAVY:
                    problems.append(f"{start} reaches {d} through {m}")
                elif d in known and d not in seen:
                    seen.add(d)
                    todo.append(d)
        wrong_way = sorted(m for m in seen if m.startswith(TRAINING) and m not in LIGHT_HELPERS)
        if wrong_way:
            problems.append(f"{start} imports the training wing: {wrong_way}")
    assert not problems, "\n".join(problems)


def test_the_verifier_wing_imports_without_torch() -> None:
    light = sorted(m for m in modules() if m.startswith(LIGHT_PREFIXES))
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in light)
        + f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing the verifier wing loaded {out.strip()}"
