"""The package's shape: few top-level modules, role subpackages, one-way imports, torch fenced in."""

from __future__ import annotations

import ast
from pathlib import Path

import costa

ROOT = Path(costa.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _top_level_imports(path: Path) -> set[str]:
    """costa modules imported when ``path`` is imported (not lazily, not under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in found if n.startswith("costa.")}


def test_costa_reads_as_the_data_path() -> None:
    modules = [p for p in ROOT.glob("*.py")]
    packages = [p for p in ROOT.iterdir() if (p / "__init__.py").is_file()]
    assert len(modules) <= 10, sorted(p.name for p in modules)
    assert {"tiling", "io", "inference", "jobs", "models", "zan", "report", "demo", "cli"} <= {
        p.name for p in packages
    }


def test_no_import_cycle_at_module_level() -> None:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for imp in _top_level_imports(path):
            while imp not in mods and "." in imp:  # `from costa.x import name` names a module or an attribute
                imp = imp.rsplit(".", 1)[0]
            parts = imp.split(".")
            # importing costa.a.b runs costa.a's __init__ first, unless the importer is inside costa.a
            for i in range(2, len(parts) + 1):
                dep = ".".join(parts[:i])
                if dep in mods and dep != name and not (name + ".").startswith(dep + "."):
                    deps.add(dep)
        graph[name] = deps
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for d in sorted(graph[n]):
            assert state.get(d) != 1, "import cycle: " + " -> ".join([*stack[stack.index(d) :], n, d])
            if d not in state:
                visit(d, [*stack, d])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


def _imported_roots(tree: ast.AST) -> set[str]:
    """Top-level package names imported anywhere in a module, lazily included."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def test_torch_only_in_the_model_tooling() -> None:
    allowed = {"costa.models.export", "costa.models.flair", "costa.models.quantize"}
    for name, path in _modules().items():
        text = path.read_text()
        torch = {"torch", "segmentation_models_pytorch"} & _imported_roots(ast.parse(text))
        if torch or 'require("torch"' in text or 'require("segmentation_models' in text:
            assert name in allowed, f"{name} imports torch"


def test_rasterio_windows_come_from_boxes() -> None:
    builders = sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if "Window(" in p.read_text() and "static" not in p.parts
    )
    assert builders == ["tiling/tiles.py"], builders
