"""The import structure: no circles, and dependencies point one way (architecture.md).

Every `import` in every module under src/sounding counts, those inside functions too
(a lazy import is still a dependency); only `if TYPE_CHECKING:` blocks are left out,
since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sounding

SRC = Path(sounding.__file__).resolve().parent
LAYERS: dict[str, int] = {
    "errors": 0, "types": 0, "config": 0, "_templates": 0, "run_options": 0, "_secrets": 0,
    "llm": 1, "trace": 1,
    "providers": 2,
    "corpus": 3,
    "tools": 4,
    "env": 5,
    "agent": 6, "executors": 6,
    "report": 7, "eval": 7, "synth": 7,
    "train": 8,
    "server": 9, "cli": 9, "__init__": 9,
    "__main__": 10,
}
"""Each top-level package's layer: a package may import only from layers at or below its own.
The root package (`sounding.ask`, `sounding.tool`) is an entry point like the CLI."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The sounding modules that `path` imports (resolved to modules that exist)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        stack.extend(ast.iter_child_nodes(node))
    out = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target.startswith("sounding") and target != name:
            out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    paths = sorted(SRC.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_lazy_imports_and_skips_type_checking() -> None:
    edges = graph()
    assert "sounding.env.mcp" in edges["sounding.env.extra"]  # imported inside a function
    assert "sounding.env.base" not in edges["sounding.env._boundary"]  # TYPE_CHECKING only


def test_every_top_level_package_has_a_layer() -> None:
    assert {top(m) for m in graph()} <= set(LAYERS)


def test_no_lower_package_imports_a_higher_one() -> None:
    wrong = sorted(f"{src} imports {dst}" for src, targets in graph().items()
                   for dst in targets if LAYERS[top(dst)] > LAYERS[top(src)])
    assert wrong == []


def test_nothing_imports_cli_or_server() -> None:
    wrong = sorted(f"{src} imports {dst}" for src, targets in graph().items()
                   for dst in targets if top(dst) in ("cli", "server")
                   and top(src) not in (top(dst), "__main__")
                   and (top(src), top(dst)) != ("cli", "server"))  # `sounding serve`
    assert wrong == []


def test_no_import_circles_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for src, targets in graph().items():
        packages.setdefault(top(src), set()).update(top(t) for t in targets if top(t) != top(src))
    assert cycles(packages) == []


def test_no_import_circles_between_modules() -> None:
    assert cycles(graph()) == []
